//! One-shot edits of an operation's next JSON answer
//! ([`MockServer::edit_next`]): for answers that break the protocol in a
//! way no flow knob plays (another session, an id out of place), while the
//! rest of the answer stays the flow's own.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
};

use bytes::Bytes;
use serde_json::Value;

use super::server::{known, Answer, MockServer};

/// A change to one answer's JSON body.
type Edit = Box<dyn FnOnce(&mut Value) + Send>;

/// The edits waiting, by operation id, oldest first.
#[derive(Default)]
pub(super) struct Edits(Mutex<HashMap<String, VecDeque<Edit>>>);

impl std::fmt::Debug for Edits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edits").finish_non_exhaustive()
    }
}

impl Edits {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, VecDeque<Edit>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `answer`, changed by the oldest edit waiting for `operation_id` when
    /// it is a success with a JSON body (the edit is then used up).
    pub(super) fn apply(&self, operation_id: &str, mut answer: Answer) -> Answer {
        if !answer.status.is_success() {
            return answer;
        }
        let Some(mut body) = answer
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        else {
            return answer;
        };
        let Some(edit) = self
            .lock()
            .get_mut(operation_id)
            .and_then(VecDeque::pop_front)
        else {
            return answer;
        };
        edit(&mut body);
        answer.body = Some(Bytes::from(body.to_string()));
        answer
    }

    pub(super) fn clear(&self) {
        self.lock().clear();
    }
}

impl MockServer {
    /// Changes the next successful (2xx) JSON answer of `operation_id`,
    /// whoever makes it (a stateful flow, a scripted answer, the example),
    /// with `edit` before it is sent; several edits apply to consecutive
    /// answers, in the order they were added. The status and headers stay.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use avala::mock::MockServer;
    /// let mock = MockServer::start().await;
    /// mock.edit_next("get_dataset", |body| body["name"] = "Edited".into());
    /// let got = mock.client().get_dataset().uid("d1").send().await.unwrap();
    /// assert_eq!(got.name, "Edited");
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the document has no operation `operation_id`.
    pub fn edit_next(&self, operation_id: &str, edit: impl FnOnce(&mut Value) + Send + 'static) {
        known(operation_id);
        self.state
            .edits
            .lock()
            .entry(operation_id.to_owned())
            .or_default()
            .push_back(Box::new(edit));
    }
}
