//! Scripted status sequences for the long-running jobs that the SDK waits
//! for: `get_export` and `get_dataset` of one uid answer with the next
//! status of the script each time, and keep answering the last one.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use serde_json::Value;

use super::{
    schema::Operation,
    server::{Answer, ReceivedRequest},
};

/// The scripts, by operation and uid.
#[derive(Debug, Default)]
pub(crate) struct Jobs {
    scripts: Mutex<HashMap<(String, String), VecDeque<String>>>,
}

impl Jobs {
    pub(crate) fn script(&self, operation_id: &str, uid: &str, statuses: Vec<String>) {
        let mut scripts = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (operation_id.to_owned(), uid.to_owned());
        if statuses.is_empty() {
            scripts.remove(&key);
        } else {
            scripts.insert(key, statuses.into());
        }
    }

    /// The next status for `uid` of `operation_id`, if scripted: each call
    /// takes one, except the last, which stays.
    pub(super) fn next(&self, operation_id: &str, uid: &str) -> Option<String> {
        let mut scripts = self.scripts.lock().unwrap_or_else(|p| p.into_inner());
        let queue = scripts.get_mut(&(operation_id.to_owned(), uid.to_owned()))?;
        if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        }
    }

    /// The operation's first example with the next scripted status (its
    /// default example when none has it), with the request's `uid` and that
    /// status; `None` when nothing is scripted for it.
    fn body(&self, operation_id: &str, uid: Option<&str>) -> Option<Value> {
        let uid = uid?;
        let status = self.next(operation_id, uid)?;
        let with_status = super::examples::responses(operation_id)
            .iter()
            .filter(|e| !e.is_forward_compat())
            .find(|e| e.body.get("status").and_then(Value::as_str) == Some(status.as_str()));
        let example = with_status.or_else(|| super::examples::default_response(operation_id))?;
        let mut body = example.body.clone();
        let object = body.as_object_mut()?;
        object.insert("uid".into(), Value::String(uid.to_owned()));
        object.insert("status".into(), Value::String(status));
        Some(body)
    }
}

impl super::Flow for Jobs {
    /// The next scripted status of a waited-for job, in its example.
    fn answer(&self, _origin: &str, op: &Operation, record: &ReceivedRequest) -> Option<Answer> {
        let uid = record.path_params.get("uid").map(String::as_str);
        let body = self.body(&op.id, uid)?;
        Some(Answer::json(http::StatusCode::OK, &body))
    }

    fn clear(&self) {
        self.scripts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl super::MockServer {
    /// The knobs of the long-running jobs that the SDK waits for.
    pub fn jobs(&self) -> JobKnobs<'_> {
        JobKnobs { state: &self.state }
    }
}

/// The knobs of the waited-for jobs of a [`MockServer`](super::MockServer),
/// from [`MockServer::jobs`](super::MockServer::jobs).
#[derive(Debug, Clone, Copy)]
pub struct JobKnobs<'a> {
    state: &'a super::server::State,
}

impl JobKnobs<'_> {
    /// Scripts the statuses that `get_export` of `uid` answers with, one per
    /// request; the last one is repeated. An empty list removes the script.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> avala::Result<()> {
    /// use std::time::Duration;
    /// let mock = avala::mock::MockServer::start().await;
    /// mock.jobs().export_statuses("exp_1", ["pending", "processing", "exported"]);
    /// let export = mock
    ///     .client()
    ///     .wait_for_export("exp_1")
    ///     .poll_interval(Duration::from_millis(500))
    ///     .send()
    ///     .await?;
    /// assert_eq!(export.status, Some(avala::types::ExportStatus::Exported));
    /// assert_eq!(mock.hits("get_export"), 3);
    /// # Ok(()) }
    /// ```
    pub fn export_statuses<I, S>(&self, uid: &str, statuses: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let statuses = statuses.into_iter().map(Into::into).collect();
        self.state.jobs.script("get_export", uid, statuses);
    }

    /// Scripts the statuses that `get_dataset` of `uid` answers with, one
    /// per request; the last one is repeated. An empty list removes the
    /// script.
    pub fn dataset_statuses<I, S>(&self, uid: &str, statuses: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let statuses = statuses.into_iter().map(Into::into).collect();
        self.state.jobs.script("get_dataset", uid, statuses);
    }
}
