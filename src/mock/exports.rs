//! Export files: an export published with [`ExportKnobs::publish`] answers
//! `get_export` as `exported` with a `download_url` on the mock's storage
//! plane (`GET /_storage/exports/{uid}`), which serves the file as an
//! object store does: `Content-Length`, an `ETag` that is the MD5 of the
//! bytes (S3's ETag of a single-part object), `Last-Modified`, and
//! `Range: bytes=N-` answered 206 with `Content-Range` (honouring
//! `If-Range`). [`ExportAnomaly`] bends one export's answers; the faults of
//! [`StorageRoute::Export`](super::StorageRoute::Export) (a status, a cut
//! body, a dropped connection) apply to its downloads.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use bytes::Bytes;
use http::{header, request::Parts, HeaderValue, StatusCode};
use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::{
    faults::Fault,
    jobs::Jobs,
    schema::Operation,
    server::{self, Answer, ReceivedRequest, State},
};

/// The path prefix of export files.
pub(crate) const EXPORT_PATH: &str = "/_storage/exports/";
/// The `Last-Modified` of every export file.
const LAST_MODIFIED: &str = "Wed, 02 Dec 2026 10:00:00 GMT";

/// How the mock bends one export's answers (set with
/// [`ExportKnobs::anomaly`]; every download of it, until changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportAnomaly {
    /// A `Range` request is answered `200` with the whole file.
    IgnoreRange,
    /// Every download answers `302` to the same file.
    Redirect,
    /// The `download_url` names `[::ffff:127.0.0.1]`: the mock's own
    /// address written as an IPv4-mapped IPv6 address, which the host
    /// policy does not count as loopback (so it must be refused before any
    /// byte, although it would reach the mock).
    ForeignHost,
    /// The `ETag` is the MD5 of other bytes.
    WrongChecksum,
    /// No `ETag` and no `Last-Modified`: nothing to resume against.
    NoValidator,
}

/// One published export.
#[derive(Debug, Clone)]
struct ExportFile {
    bytes: Bytes,
    anomaly: Option<ExportAnomaly>,
}

impl ExportFile {
    /// The strong ETag: the quoted hex MD5 of the bytes.
    fn etag(&self) -> String {
        let digest = match self.anomaly {
            Some(ExportAnomaly::WrongChecksum) => Md5::digest(b"other bytes"),
            _ => Md5::digest(&self.bytes),
        };
        format!("\"{}\"", super::manual_upload::hex(&digest))
    }
}

/// The published exports and their status scripts.
#[derive(Debug, Default)]
pub(crate) struct Exports {
    files: Mutex<HashMap<String, ExportFile>>,
    /// Statuses `get_export` goes through before `exported`.
    statuses: Jobs,
}

impl Exports {
    fn files(&self) -> MutexGuard<'_, HashMap<String, ExportFile>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The answer to `GET /_storage/exports/{uid}` (`fault`: the one taken
    /// for this request).
    pub(crate) fn serve(&self, origin: &str, parts: &Parts, fault: Option<Fault>) -> Answer {
        let uid = parts.uri.path()[EXPORT_PATH.len()..].to_owned();
        let file = self.files().get(&uid).cloned();
        let normal = || match file {
            _ if parts.method != http::Method::GET => {
                Answer::problem(StatusCode::METHOD_NOT_ALLOWED, "Only GET.", &[])
            }
            None => Answer::problem(StatusCode::NOT_FOUND, "No such export file.", &[]),
            Some(file) => answer_file(origin, &uid, &file, parts),
        };
        match fault {
            Some(fault) => server::play(fault, normal),
            None => normal(),
        }
    }
}

/// The file, whole or from the requested offset.
fn answer_file(origin: &str, uid: &str, file: &ExportFile, parts: &Parts) -> Answer {
    if file.anomaly == Some(ExportAnomaly::Redirect) {
        let mut answer = Answer::bytes(StatusCode::FOUND, None);
        let to = format!("{origin}{EXPORT_PATH}{uid}");
        answer.headers.push((header::LOCATION, value(&to)));
        return answer;
    }
    let etag = file.etag();
    let total = file.bytes.len() as u64;
    let validator = file.anomaly != Some(ExportAnomaly::NoValidator);
    let from = range_start(parts)
        .filter(|_| file.anomaly != Some(ExportAnomaly::IgnoreRange))
        .filter(|_| if_range_holds(parts, &etag));
    let mut answer = match from {
        Some(from) if from >= total => {
            let mut answer = Answer::bytes(StatusCode::RANGE_NOT_SATISFIABLE, None);
            answer
                .headers
                .push((header::CONTENT_RANGE, value(&format!("bytes */{total}"))));
            return answer;
        }
        Some(from) => {
            let mut answer = Answer::bytes(
                StatusCode::PARTIAL_CONTENT,
                Some(file.bytes.slice(from as usize..)),
            );
            let range = format!("bytes {from}-{}/{total}", total - 1);
            answer.headers.push((header::CONTENT_RANGE, value(&range)));
            answer
        }
        None => Answer::bytes(StatusCode::OK, Some(file.bytes.clone())),
    };
    answer.headers.push((
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    ));
    answer
        .headers
        .push((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")));
    if validator {
        answer.headers.push((header::ETAG, value(&etag)));
        answer.headers.push((
            header::LAST_MODIFIED,
            HeaderValue::from_static(LAST_MODIFIED),
        ));
    }
    answer
}

/// `N` of a `Range: bytes=N-` header (the only form the SDK sends).
fn range_start(parts: &Parts) -> Option<u64> {
    let range = parts.headers.get(header::RANGE)?.to_str().ok()?;
    range
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// An `If-Range` that is absent or names the current ETag or date.
fn if_range_holds(parts: &Parts, etag: &str) -> bool {
    match parts.headers.get(header::IF_RANGE) {
        None => true,
        Some(v) => v.as_bytes() == etag.as_bytes() || v.as_bytes() == LAST_MODIFIED.as_bytes(),
    }
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

impl super::Flow for Exports {
    /// `get_export` of a published export: its next scripted status (then
    /// `exported`), with the `download_url` once exported.
    fn answer(&self, origin: &str, op: &Operation, record: &ReceivedRequest) -> Option<Answer> {
        if op.id != "get_export" {
            return None;
        }
        let uid = record.path_params.get("uid")?;
        let anomaly = self.files().get(uid)?.anomaly;
        let status = self
            .statuses
            .next("get_export", uid)
            .unwrap_or_else(|| "exported".to_owned());
        let host = match anomaly {
            Some(ExportAnomaly::ForeignHost) => origin.replace("127.0.0.1", "[::ffff:127.0.0.1]"),
            _ => origin.to_owned(),
        };
        let url = match status.as_str() {
            "exported" | "completed" => Value::String(format!("{host}{EXPORT_PATH}{uid}")),
            _ => Value::Null,
        };
        let body = json!({ "uid": uid, "status": status, "download_url": url });
        Some(Answer::json(StatusCode::OK, &body))
    }

    fn clear(&self) {
        self.files().clear();
        super::Flow::clear(&self.statuses);
    }
}

impl super::MockServer {
    /// The knobs of export files.
    pub fn exports(&self) -> ExportKnobs<'_> {
        ExportKnobs { state: &self.state }
    }
}

/// The knobs of the export files of a [`MockServer`](super::MockServer),
/// from [`MockServer::exports`](super::MockServer::exports).
#[derive(Debug, Clone, Copy)]
pub struct ExportKnobs<'a> {
    state: &'a State,
}

impl ExportKnobs<'_> {
    /// Publishes `bytes` as the file of export `uid` (replacing an earlier
    /// file, and so its ETag): `get_export` of `uid` answers `exported`
    /// with a `download_url` that serves them.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> avala::Result<()> {
    /// let mock = avala::mock::MockServer::start().await;
    /// mock.exports().publish("exp_1", b"PK\x03\x04 an archive".to_vec());
    /// let export = mock.client().get_export().uid("exp_1").send().await?;
    /// assert!(export.download_url.is_some());
    /// # Ok(()) }
    /// ```
    pub fn publish(&self, uid: &str, bytes: impl Into<Bytes>) {
        let mut files = self.state.exports.files();
        let anomaly = files.get(uid).and_then(|f| f.anomaly);
        let file = ExportFile {
            bytes: bytes.into(),
            anomaly,
        };
        files.insert(uid.to_owned(), file);
    }

    /// Statuses `get_export` of the published `uid` answers with before
    /// `exported`, one per request (e.g. `["pending", "processing"]`);
    /// `failed` in the list stays.
    pub fn statuses<I, S>(&self, uid: &str, statuses: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut statuses: Vec<String> = statuses.into_iter().map(Into::into).collect();
        if statuses.last().is_some_and(|s| s != "failed") {
            statuses.push("exported".to_owned());
        }
        self.state
            .exports
            .statuses
            .script("get_export", uid, statuses);
    }

    /// Bends every answer about the published export `uid` (`None`: none).
    pub fn anomaly(&self, uid: &str, anomaly: Option<ExportAnomaly>) {
        if let Some(file) = self.state.exports.files().get_mut(uid) {
            file.anomaly = anomaly;
        }
    }

    /// Requests for export files received so far (the storage plane's
    /// record: what a download sent, headers included).
    pub fn downloads(&self) -> Vec<ReceivedRequest> {
        self.state
            .received()
            .iter()
            .filter(|r| r.path.starts_with(EXPORT_PATH))
            .cloned()
            .collect()
    }
}
