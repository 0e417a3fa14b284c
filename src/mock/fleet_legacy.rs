//! The legacy Fleet recording upload (protocol §9.2) on the mock: sessions
//! and their pending paths, presigned URLs that point at the mock's own
//! storage (`PUT /_storage/fleet/…`: path-style, bucket `_storage`, key
//! `fleet/mock-org/{recording}/{path}`; or virtual-hosted, `PUT /fleet/…`,
//! see [`FleetUrlStyle`]), confirmations, finalisation, the
//! session's and the recording's status, and one-shot server anomalies
//! ([`FleetAnomaly`]) for tests.
//!
//! Stateful for recording uids that are canonical lower-case UUIDs (what
//! the SDK sends); other uids keep the document's example answers, as the
//! contract test expects.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
};

use http::StatusCode;
use serde_json::{json, Value};

use super::{
    fleet_managed::{ManagedAnomaly, ManagedObject},
    schema,
    server::{Answer, MockServer, ReceivedRequest, State},
};

/// The storage route's path prefix (bucket `_storage`, keys `fleet/…`).
pub(crate) const FLEET_PATH: &str = "/_storage/fleet/";
/// The same route without a bucket segment: virtual-hosted URLs, whose
/// path is the key itself.
pub(crate) const FLEET_KEY_PATH: &str = "/fleet/";
/// The owner segment of every `s3_prefix`.
const OWNER: &str = "mock-org";
/// The exact body of the 404 that says a recording has no session.
const NO_SESSION: &str = "No upload session found for this recording.";

/// A server-side anomaly of the legacy Fleet upload, played once on the
/// next answer it applies to ([`FleetKnobs::anomaly`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetAnomaly {
    /// `init`: an `s3_prefix` of another recording.
    InitPrefix,
    /// `status`: another `session_uid`.
    StatusSession,
    /// `status`: a session state outside the protocol (`paused`).
    StatusUnknownState,
    /// `status`: `confirmed_bytes` one more than the truth.
    StatusCounters,
    /// `status`: 1000 pending paths (the server's cap).
    PendingCap,
    /// `status`: a pending path listed twice.
    PendingDuplicate,
    /// `status`: a pending path outside the manifest.
    PendingUnknown,
    /// `status`: `completed` while files are pending.
    CompletedWithPending,
    /// The session becomes `abandoned` (from the next status on).
    Abandon,
    /// `urls`: object keys under another prefix.
    MovedKey,
    /// `urls`: URLs on `uploads.example.com`, outside the allow-list.
    ForeignHost,
    /// `urls`: URLs that name another object than their `s3_key`.
    WrongObject,
    /// `urls`: a header the protocol does not allow (`x-amz-acl`).
    ForbiddenHeader,
    /// The next Fleet PUT is stored but answered without an `ETag`.
    NoEtag,
    /// `confirm`: `confirmed_bytes` one more than the truth.
    ConfirmCounters,
    /// `confirm`: another `session_uid`.
    ConfirmSession,
    /// `finalize`: `{"status": "finalized"}` without `detail`.
    FinalizeNoDetail,
}

/// How the mock's legacy Fleet presigned URLs name their object
/// ([`FleetKnobs::url_style`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetUrlStyle {
    /// `/<bucket>/<key>` (bucket `_storage`): the default.
    #[default]
    PathStyle,
    /// `/<key>`, as S3-compatible stores address a bucket by host name.
    VirtualHosted,
}

/// An object the mock's Fleet storage holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetObject {
    /// `fleet/mock-org/{recording_uid}/{path}`.
    pub key: String,
    /// The recording it was uploaded for.
    pub recording_uid: String,
    /// Its path in the recording.
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    /// The ETag storage answered (without quotes).
    pub etag: String,
    /// How many PUTs stored it.
    pub puts: u32,
}

#[derive(Debug)]
struct Session {
    uid: String,
    prefix: String,
    status: &'static str,
    files: BTreeMap<String, u64>,
    /// Path → ETag.
    confirmed: BTreeMap<String, String>,
    finalized: bool,
}

impl Session {
    fn pending(&self) -> Vec<String> {
        let pending = self
            .files
            .keys()
            .filter(|p| !self.confirmed.contains_key(*p));
        pending.take(1000).cloned().collect()
    }

    fn counters(&self) -> Value {
        let confirmed_bytes: u64 = self.confirmed.keys().map(|p| self.files[p]).sum();
        json!({
            "session_uid": self.uid,
            "total_files": self.files.len(),
            "total_bytes": self.files.values().sum::<u64>(),
            "confirmed_files": self.confirmed.len(),
            "confirmed_bytes": confirmed_bytes,
        })
    }
}

#[derive(Debug, Default)]
struct Book {
    /// Recording uid → its session.
    sessions: HashMap<String, Session>,
    /// Object key → object.
    objects: BTreeMap<String, FleetObject>,
    /// URL path issued → (recording, path in the recording).
    issued: HashMap<String, (String, String)>,
    anomalies: Vec<FleetAnomaly>,
    style: FleetUrlStyle,
    /// Recording uid → its statuses after finalisation (the last stays).
    recording_statuses: HashMap<String, VecDeque<String>>,
    next: u64,
}

impl Book {
    /// Takes `anomaly` if it is queued.
    fn play(&mut self, anomaly: FleetAnomaly) -> bool {
        let found = self.anomalies.iter().position(|a| *a == anomaly);
        found.map(|i| self.anomalies.remove(i)).is_some()
    }
}

/// The legacy Fleet upload state of one mock server.
#[derive(Debug, Default)]
pub(crate) struct FleetLegacy {
    book: Mutex<Book>,
}

impl FleetLegacy {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn anomaly(&self, anomaly: FleetAnomaly) {
        self.book().anomalies.push(anomaly);
    }

    pub(crate) fn url_style(&self, style: FleetUrlStyle) {
        self.book().style = style;
    }

    pub(crate) fn script_recording(&self, uid: &str, statuses: Vec<String>) {
        self.book()
            .recording_statuses
            .insert(uid.to_owned(), statuses.into());
    }

    pub(crate) fn objects(&self) -> Vec<FleetObject> {
        self.book().objects.values().cloned().collect()
    }

    /// A PUT on the Fleet storage route, its body read: stores the object
    /// when the mock issued the URL and the size is the manifest's.
    pub(crate) fn store(
        &self,
        path: &str,
        content_type: Option<&str>,
        size: u64,
        sha256: String,
    ) -> Answer {
        let mut book = self.book();
        let Some((recording, file)) = book.issued.get(path).cloned() else {
            return refuse(
                StatusCode::NOT_FOUND,
                "no presigned URL of the mock names this object",
            );
        };
        let Some(session) = book.sessions.get(&recording) else {
            return refuse(StatusCode::NOT_FOUND, "the upload session is gone");
        };
        if content_type != Some("application/octet-stream") {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Content-Type must be application/octet-stream",
            );
        }
        if session.files.get(&file) != Some(&size) {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the body's size is not the manifest's",
            );
        }
        let key = format!("{}{file}", session.prefix);
        let etag = sha256[..32].to_owned();
        let puts = book.objects.get(&key).map_or(0, |o| o.puts) + 1;
        book.objects.insert(
            key.clone(),
            FleetObject {
                key,
                recording_uid: recording,
                path: file,
                size,
                sha256,
                etag: etag.clone(),
                puts,
            },
        );
        let mut answer = Answer::bytes(StatusCode::OK, None);
        if !book.play(FleetAnomaly::NoEtag) {
            let value = http::HeaderValue::from_str(&format!("\"{etag}\"")).expect("hex");
            answer.headers.push((http::header::ETAG, value));
        }
        answer
    }
}

impl super::Flow for FleetLegacy {
    /// The answer to a legacy Fleet operation on a canonical recording uid;
    /// `None` for anything else.
    fn answer(
        &self,
        origin: &str,
        op: &schema::Operation,
        record: &ReceivedRequest,
    ) -> Option<Answer> {
        let recording = record
            .path_params
            .get("recording_uid")
            .or_else(|| record.path_params.get("recording_id"))
            .filter(|uid| canonical(uid))?;
        let body = record.json().unwrap_or(Value::Null);
        let mut book = self.book();
        Some(match op.id.as_str() {
            "get_fleet_upload_status" => status(&mut book, recording),
            "init_fleet_upload" => init(&mut book, recording, &body),
            "get_fleet_upload_urls" => urls(&mut book, origin, recording, &body),
            "confirm_fleet_upload" => confirm(&mut book, recording, &body),
            "finalize_fleet_upload" => finalize(&mut book, recording, &body),
            "get_fleet_recording" => recording_of(&mut book, recording)?,
            _ => return None,
        })
    }

    fn clear(&self) {
        *self.book() = Book::default();
    }
}

/// How an object key appears in a presigned URL's path, as the official
/// SDK's server writes it (Python's `quote(key, safe="/")`): `/` and
/// `A-Z a-z 0-9 - . _ ~` as they are, every other byte of the UTF-8 form
/// as `%XX` in upper-case hex. Written here rather than taken from the SDK,
/// whose check of these URLs the mock exists to exercise.
fn key_in_url(key: &str) -> String {
    const KEPT: &[u8] = b"/-._~";
    let mut out = String::new();
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || KEPT.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl MockServer {
    /// The knobs of Fleet recording uploads, legacy and managed: anomalies,
    /// URL style, recording statuses, publications and stored objects.
    pub fn fleet(&self) -> FleetKnobs<'_> {
        FleetKnobs { state: &self.state }
    }
}

/// The knobs of the Fleet uploads of a [`MockServer`], from
/// [`MockServer::fleet`]. The legacy upload's knobs come first; the managed
/// upload's are named `managed_…`.
#[derive(Debug, Clone, Copy)]
pub struct FleetKnobs<'a> {
    state: &'a State,
}

impl FleetKnobs<'_> {
    /// Plays `anomaly` once, on the next legacy Fleet upload answer it
    /// applies to (see [`FleetAnomaly`]). The legacy Fleet upload is
    /// stateful for recording uids that are canonical lower-case UUIDs:
    /// status is the exact no-session 404 until `init`, URLs point at the
    /// mock's storage (`PUT /_storage/fleet/…`, [`StorageRoute::Fleet`](super::StorageRoute::Fleet)),
    /// confirmations are checked against the stored objects' ETags, and a
    /// finalised session is `completing` once, then `completed`.
    pub fn anomaly(&self, anomaly: FleetAnomaly) {
        self.state.fleet.anomaly(anomaly);
    }

    /// How the legacy Fleet presigned URLs name their object from now on:
    /// path-style `/_storage/<key>` (the default) or virtual-hosted
    /// `/<key>`; both are served by [`StorageRoute::Fleet`](super::StorageRoute::Fleet).
    pub fn url_style(&self, style: FleetUrlStyle) {
        self.state.fleet.url_style(style);
    }

    /// The statuses `get_fleet_recording` reports for `recording_uid` after
    /// its legacy upload is finalised, one per call, the last staying
    /// (default `processing`, then `ready`); before, it is `uploading`.
    pub fn recording_statuses<S: Into<String>>(
        &self,
        recording_uid: &str,
        statuses: impl IntoIterator<Item = S>,
    ) {
        let statuses = statuses.into_iter().map(Into::into).collect();
        self.state.fleet.script_recording(recording_uid, statuses);
    }

    /// The objects the legacy Fleet storage holds, sorted by key.
    pub fn objects(&self) -> Vec<FleetObject> {
        self.state.fleet.objects()
    }

    /// Plays `anomaly` once, in the next managed Fleet upload answer it
    /// applies to (see [`ManagedAnomaly`]).
    pub fn managed_anomaly(&self, anomaly: ManagedAnomaly) {
        self.state.managed.anomaly(anomaly);
    }

    /// How managed publications end: after a finalize, the finalization is
    /// `running` until the `observations`-th status (default and minimum
    /// 1), then `succeeded`, or `failed` with `failure` as its code.
    pub fn managed_publication(&self, observations: usize, failure: Option<&str>) {
        self.state.managed.publication(observations, failure);
    }

    /// The managed Fleet objects assembled from their parts by a
    /// successful finalize, in finalization order.
    pub fn managed_objects(&self) -> Vec<ManagedObject> {
        self.state.managed.objects()
    }
}

/// Whether `uid` is a canonical lower-case UUID.
fn canonical(uid: &str) -> bool {
    uuid::Uuid::parse_str(uid).is_ok_and(|u| u.hyphenated().to_string() == uid)
}

fn refuse(status: StatusCode, detail: &str) -> Answer {
    Answer::json(status, &json!({ "detail": detail }))
}

fn status(book: &mut Book, recording: &str) -> Answer {
    let abandon = book.play(FleetAnomaly::Abandon);
    let plays: Vec<FleetAnomaly> = [
        FleetAnomaly::StatusSession,
        FleetAnomaly::StatusUnknownState,
        FleetAnomaly::StatusCounters,
        FleetAnomaly::PendingCap,
        FleetAnomaly::PendingDuplicate,
        FleetAnomaly::PendingUnknown,
        FleetAnomaly::CompletedWithPending,
    ]
    .into_iter()
    .filter(|a| book.sessions.contains_key(recording) && book.play(*a))
    .collect();
    let Some(session) = book.sessions.get_mut(recording) else {
        return refuse(StatusCode::NOT_FOUND, NO_SESSION);
    };
    if abandon {
        session.status = "abandoned";
    }
    let mut answer = session.counters();
    answer["status"] = json!(session.status);
    answer["pending_paths"] = json!(session.pending());
    // A finalised session is `completing` once, then `completed`.
    if session.status == "completing" {
        session.status = "completed";
    }
    for anomaly in plays {
        match anomaly {
            FleetAnomaly::StatusSession => answer["session_uid"] = json!("another-session"),
            FleetAnomaly::StatusUnknownState => answer["status"] = json!("paused"),
            FleetAnomaly::StatusCounters => {
                answer["confirmed_bytes"] =
                    json!(answer["confirmed_bytes"].as_u64().unwrap_or(0) + 1)
            }
            FleetAnomaly::PendingCap => {
                answer["pending_paths"] = json!((0..1000)
                    .map(|i| format!("capped/{i:04}"))
                    .collect::<Vec<_>>())
            }
            FleetAnomaly::PendingDuplicate => {
                let first = session.files.keys().next().cloned().unwrap_or_default();
                answer["pending_paths"] = json!([first, first]);
            }
            FleetAnomaly::PendingUnknown => {
                if let Some(pending) = answer["pending_paths"].as_array_mut() {
                    pending.push(json!("not-in-manifest.bin"));
                }
            }
            FleetAnomaly::CompletedWithPending => answer["status"] = json!("completed"),
            _ => {}
        }
    }
    Answer::json(StatusCode::OK, &answer)
}

fn init(book: &mut Book, recording: &str, body: &Value) -> Answer {
    if book
        .sessions
        .get(recording)
        .is_some_and(|s| s.status != "abandoned")
    {
        return refuse(
            StatusCode::CONFLICT,
            "An upload session already exists for this recording.",
        );
    }
    let mut files = BTreeMap::new();
    for file in body["files"].as_array().into_iter().flatten() {
        let (Some(path), Some(size)) = (file["path"].as_str(), file["size_bytes"].as_u64()) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "every file needs path and size_bytes",
            );
        };
        if files.insert(path.to_owned(), size).is_some() {
            return refuse(StatusCode::BAD_REQUEST, "a path is listed twice");
        }
    }
    book.next += 1;
    let moved = book.play(FleetAnomaly::InitPrefix);
    let session = Session {
        uid: format!("fleet-session-{:04}", book.next),
        prefix: format!("fleet/{OWNER}/{recording}/"),
        status: "initiated",
        files,
        confirmed: BTreeMap::new(),
        finalized: false,
    };
    let mut answer = session.counters();
    answer["uid"] = answer["session_uid"].take();
    if let Some(object) = answer.as_object_mut() {
        object.remove("session_uid");
    }
    answer["status"] = json!(session.status);
    answer["s3_prefix"] = json!(if moved {
        format!("fleet/{OWNER}/00000000-0000-4000-8000-000000000000/")
    } else {
        session.prefix.clone()
    });
    book.sessions.insert(recording.to_owned(), session);
    Answer::json(StatusCode::CREATED, &answer)
}

fn urls(book: &mut Book, origin: &str, recording: &str, body: &Value) -> Answer {
    let anomalies: Vec<FleetAnomaly> = [
        FleetAnomaly::MovedKey,
        FleetAnomaly::ForeignHost,
        FleetAnomaly::WrongObject,
        FleetAnomaly::ForbiddenHeader,
    ]
    .into_iter()
    .filter(|a| book.play(*a))
    .collect();
    let bucket = match book.style {
        FleetUrlStyle::PathStyle => "/_storage",
        FleetUrlStyle::VirtualHosted => "",
    };
    let session = match named(&mut book.sessions, recording, body) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let mut urls = Vec::new();
    let mut issued = Vec::new();
    for path in body["file_paths"].as_array().into_iter().flatten() {
        let Some(path) = path.as_str().filter(|p| session.files.contains_key(*p)) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "a path is not in the session's manifest",
            );
        };
        let mut key = format!("{}{path}", session.prefix);
        if anomalies.contains(&FleetAnomaly::MovedKey) {
            key = key.replacen(OWNER, "other-org", 1);
        }
        let mut url_path = format!("{bucket}/{}", key_in_url(&key));
        if anomalies.contains(&FleetAnomaly::WrongObject) {
            url_path.push_str(".other");
        }
        let host = if anomalies.contains(&FleetAnomaly::ForeignHost) {
            "https://uploads.example.com"
        } else {
            origin
        };
        let mut headers = json!({"Content-Type": "application/octet-stream"});
        if anomalies.contains(&FleetAnomaly::ForbiddenHeader) {
            headers["x-amz-acl"] = json!("public-read");
        }
        urls.push(json!({
            "path": path,
            "s3_key": key,
            "put_url": format!("{host}{url_path}?X-Amz-Signature=mock-signature"),
            "headers": headers,
        }));
        issued.push((url_path, (recording.to_owned(), path.to_owned())));
    }
    if session.status == "initiated" {
        session.status = "uploading";
    }
    book.issued.extend(issued);
    Answer::json(StatusCode::OK, &json!({ "urls": urls }))
}

fn confirm(book: &mut Book, recording: &str, body: &Value) -> Answer {
    let counters = book.play(FleetAnomaly::ConfirmCounters);
    let other = book.play(FleetAnomaly::ConfirmSession);
    let Book {
        sessions, objects, ..
    } = book;
    let session = match named(sessions, recording, body) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    let mut accepted = Vec::new();
    for file in body["files"].as_array().into_iter().flatten() {
        let (path, etag, size) = (
            file["path"].as_str().unwrap_or_default(),
            file["etag"].as_str().unwrap_or_default(),
            file["size_bytes"].as_u64(),
        );
        let key = format!("{}{path}", session.prefix);
        let stored = objects.get(&key);
        if session.files.get(path).copied() != size
            || stored.is_none_or(|o| o.etag != etag || Some(o.size) != size)
        {
            return refuse(
                StatusCode::BAD_REQUEST,
                "a file is not stored with this etag and size",
            );
        }
        accepted.push((path.to_owned(), etag.to_owned()));
    }
    let confirmed = accepted.len();
    session.confirmed.extend(accepted);
    let mut answer = session.counters();
    answer["confirmed"] = json!(confirmed);
    if counters {
        answer["confirmed_bytes"] = json!(answer["confirmed_bytes"].as_u64().unwrap_or(0) + 1);
    }
    if other {
        answer["session_uid"] = json!("another-session");
    }
    Answer::json(StatusCode::OK, &answer)
}

/// The session of `recording` when `body` names it and it is not abandoned.
fn named<'s>(
    sessions: &'s mut HashMap<String, Session>,
    recording: &str,
    body: &Value,
) -> Result<&'s mut Session, Answer> {
    let session = sessions
        .get_mut(recording)
        .ok_or_else(|| refuse(StatusCode::NOT_FOUND, NO_SESSION))?;
    if body.get("session_uid").and_then(Value::as_str) != Some(session.uid.as_str()) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "session_uid is not this recording's session",
        ));
    }
    if session.status == "abandoned" {
        return Err(refuse(
            StatusCode::CONFLICT,
            "the upload session is abandoned",
        ));
    }
    Ok(session)
}

fn finalize(book: &mut Book, recording: &str, body: &Value) -> Answer {
    let no_detail = book.play(FleetAnomaly::FinalizeNoDetail);
    let session = match named(&mut book.sessions, recording, body) {
        Ok(session) => session,
        Err(answer) => return answer,
    };
    if session.confirmed.len() != session.files.len() {
        return refuse(StatusCode::BAD_REQUEST, "files are still pending");
    }
    if !session.finalized {
        session.finalized = true;
        session.status = "completing";
    }
    if no_detail {
        return Answer::json(StatusCode::OK, &json!({"status": "finalized"}));
    }
    Answer::json(
        StatusCode::OK,
        &json!({"detail": "Upload finalization started.", "session_uid": session.uid}),
    )
}

/// The recording: `uploading` until its session is finalised, then its
/// scripted statuses (default `processing`, then `ready`), the last staying.
fn recording_of(book: &mut Book, recording: &str) -> Option<Answer> {
    let finalized = book.sessions.get(recording)?.finalized;
    let status = if finalized {
        let script = book
            .recording_statuses
            .entry(recording.to_owned())
            .or_insert_with(|| ["processing", "ready"].map(str::to_owned).into());
        if script.len() > 1 {
            script.pop_front()
        } else {
            script.front().cloned()
        }
        .unwrap_or_else(|| "ready".to_owned())
    } else {
        "uploading".to_owned()
    };
    Some(Answer::json(
        StatusCode::OK,
        &json!({"uid": recording, "status": status}),
    ))
}

#[cfg(test)]
mod tests {
    use super::key_in_url;

    #[test]
    fn keys_are_quoted_by_a_literal_rule() {
        assert_eq!(
            key_in_url("fleet/mock-org/r1/cam 1/a+b=c~d_e.f-g/ü€😀?#%.bin"),
            "fleet/mock-org/r1/cam%201/a%2Bb%3Dc~d_e.f-g/%C3%BC%E2%82%AC%F0%9F%98%80%3F%23%25.bin"
        );
    }
}
