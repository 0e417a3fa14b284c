//! The managed Fleet upload (protocol `fleet-managed-mcap-v1`, §9.3 and
//! §10.4) on the mock, statefully: sessions admitted by their
//! client-generated uid, file uids, one multipart generation per file, the
//! parts stored (on the loopback route `PUT /mock-r2/...`, shaped like the
//! R2 object URLs the SDK checks), finalization and a publication that
//! settles after a scripted number of status observations.
//!
//! Requests for a recording uid that is not a canonical UUID (the contract
//! tests send `recording_uid-1`) keep the document's example answers.
//! [`ManagedAnomaly`] scripts the server-side faults a client must catch.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use bytes::Bytes;
use chrono::{SecondsFormat, SubsecRound, Utc};
use http::StatusCode;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{
    faults::Action,
    manual_upload::hex,
    schema,
    server::{Answer, ReceivedRequest, State},
    storage, Fault,
};

const PROTOCOL: &str = "fleet-managed-mcap-v1";
const PART_SIZE: u64 = 64 * 1024 * 1024;
/// The storage route's path prefix: the "bucket" of the granted URLs.
pub(crate) const PART_PATH: &str = "/mock-r2/";
/// Files up to this size keep their parts' bytes, so that the assembled
/// object's SHA-256 can be computed at finalization.
const KEEP_FILES_UP_TO: u64 = 256 * 1024 * 1024;
/// The owner in granted object keys.
const OWNER_UID: &str = "7f3c2a1e-4b5d-4c6e-8f90-1a2b3c4d5e6f";
/// Python's `quote(.., safe="/")`.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A server-side fault of the managed protocol, played once by the next
/// answer it applies to; see [`FleetKnobs::managed_anomaly`](super::FleetKnobs::managed_anomaly).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagedAnomaly {
    /// The next status counts one more confirmed file than are verified.
    WrongCounters,
    /// The next status gives the first file another SHA-256.
    WrongManifest,
    /// The next status names another session.
    ForeignSession,
    /// The next multipart init answers generation number 2.
    InitNotFirstGeneration,
    /// The next part grant moves the part to another upload id.
    MovedDestination,
    /// The next grant for this part number moves the part to another
    /// upload id.
    MovedPart(u64),
    /// The next grant for part `part` is answered only once the next grant
    /// for part `until_answered` has been: an order of events, not a delay.
    /// With the parts of a file granted concurrently, the later part's
    /// grant reaches the client first. (A client that asks for the two
    /// grants one after the other waits forever.)
    HoldGrant {
        /// The part whose grant waits.
        part: u64,
        /// The part whose grant goes first.
        until_answered: u64,
    },
    /// The next part grant points at this origin (e.g.
    /// `https://uploads.evil.example`) instead of the mock's storage.
    GrantOrigin(String),
    /// The next progress page lists 101 parts.
    OversizedProgress,
    /// The next progress page says more follows after its last part, on
    /// every page (a listing that never ends).
    EndlessProgress,
    /// Every generation of the session is abandoned from the next status on.
    AbandonedSession,
}

/// An object assembled from its parts at finalization.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedObject {
    /// The recording it was uploaded to.
    pub recording_uid: String,
    /// Its path in the recording.
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes; `None` for a file larger than 256 MiB
    /// (whose bytes the mock does not keep).
    pub sha256: Option<String>,
}

/// The state of every managed session.
#[derive(Debug, Default)]
pub(crate) struct Managed {
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    sessions: HashMap<String, Session>,
    anomalies: Vec<ManagedAnomaly>,
    /// The [`ManagedAnomaly::HoldGrant`]s not yet played out.
    gates: Vec<Gate>,
    /// Status observations after a finalize until the publication settles
    /// (0 counts as 1), and the failure code it settles with.
    settle_after: usize,
    failure: Option<String>,
    objects: Vec<ManagedObject>,
}

/// One [`ManagedAnomaly::HoldGrant`]: the held answer waits for a permit,
/// which the other answer adds once it has left.
#[derive(Debug)]
struct Gate {
    part: u64,
    until: u64,
    permit: Arc<Semaphore>,
    held: bool,
    opened: bool,
}

#[derive(Debug)]
struct Session {
    recording_uid: String,
    files: Vec<Original>,
    finalization: Option<Finalization>,
    polls: usize,
}

#[derive(Debug)]
struct Original {
    file_uid: String,
    path: String,
    size: u64,
    sha256: String,
    generation: Option<(String, &'static str)>,
    parts: BTreeMap<u64, Option<Bytes>>,
    verified: bool,
}

#[derive(Debug, Clone)]
struct Finalization {
    uid: String,
    state: &'static str,
    stage: &'static str,
    code: String,
    attempts: u64,
    failures: u64,
    published: Option<(String, String)>,
}

/// Where a part PUT goes, decided before its body is read.
#[derive(Debug)]
pub(crate) struct PartSlot {
    session_uid: String,
    file_uid: String,
    number: u64,
    pub(crate) size: u64,
    pub(crate) keep: bool,
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn problem(status: StatusCode, detail: &str) -> Answer {
    Answer::problem(status, detail, &[])
}

fn canonical(uid: &str) -> bool {
    uuid::Uuid::try_parse(uid).is_ok_and(|u| u.hyphenated().to_string() == uid)
}

impl Managed {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn anomaly(&self, anomaly: ManagedAnomaly) {
        let mut book = self.book();
        match anomaly {
            ManagedAnomaly::HoldGrant {
                part,
                until_answered,
            } => book.gates.push(Gate {
                part,
                until: until_answered,
                permit: Arc::new(Semaphore::new(0)),
                held: false,
                opened: false,
            }),
            other => book.anomalies.push(other),
        }
    }

    pub(crate) fn publication(&self, settle_after: usize, failure: Option<&str>) {
        let mut book = self.book();
        book.settle_after = settle_after;
        book.failure = failure.map(str::to_owned);
    }

    pub(crate) fn objects(&self) -> Vec<ManagedObject> {
        self.book().objects.clone()
    }

    /// The slot of a part PUT to `path?query`, or the refusal.
    pub(crate) fn slot(&self, path: &str, query: &str) -> Result<PartSlot, Answer> {
        let pairs: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let refuse = |why: &str| problem(StatusCode::FORBIDDEN, why);
        let upload_id = pairs.get("uploadId").ok_or_else(|| refuse("no uploadId"))?;
        let number: u64 = pairs
            .get("partNumber")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| refuse("no partNumber"))?;
        let book = self.book();
        for (session_uid, session) in &book.sessions {
            for file in &session.files {
                let Some((generation, state)) = &file.generation else {
                    continue;
                };
                if format!("mock~{generation}") != *upload_id {
                    continue;
                }
                if path != object_path(session_uid, &file.path) {
                    return Err(refuse("the object key is not the upload's"));
                }
                if *state != "active" || !(1..=file.size.div_ceil(PART_SIZE)).contains(&number) {
                    return Err(refuse("the upload is not active or has no such part"));
                }
                return Ok(PartSlot {
                    session_uid: session_uid.clone(),
                    file_uid: file.file_uid.clone(),
                    number,
                    size: part_len(file.size, number),
                    keep: file.size <= KEEP_FILES_UP_TO,
                });
            }
        }
        Err(problem(StatusCode::NOT_FOUND, "NoSuchUpload"))
    }

    /// Stores a part's bytes; exactly 200, as R2.
    pub(crate) fn store(&self, slot: &PartSlot, size: u64, bytes: Option<Bytes>) -> Answer {
        if size != slot.size {
            return problem(StatusCode::BAD_REQUEST, "the part has another length");
        }
        let mut book = self.book();
        let file = book
            .sessions
            .get_mut(&slot.session_uid)
            .and_then(|s| s.files.iter_mut().find(|f| f.file_uid == slot.file_uid));
        if let Some(file) = file {
            file.parts.insert(slot.number, bytes);
        }
        Answer::bytes(StatusCode::OK, None)
    }
}

impl super::Flow for Managed {
    /// The stateful answer to a managed operation, or `None` for the
    /// document's example.
    fn answer(
        &self,
        origin: &str,
        op: &schema::Operation,
        record: &ReceivedRequest,
    ) -> Option<Answer> {
        let recording = record.path_params.get("recording_uid")?;
        if !op.id.contains("fleet_managed") || !canonical(recording) {
            return None;
        }
        let body = record.json().unwrap_or(Value::Null);
        let session_uid = match op.method.as_str() {
            "GET" => record.query_param("session_uid"),
            _ => body["session_uid"].as_str().map(str::to_owned),
        }
        .unwrap_or_default();
        let mut book = self.book();
        if op.id == "admit_fleet_managed_upload" {
            return Some(book.admit(recording, &session_uid, &body));
        }
        if !book.sessions.contains_key(&session_uid)
            || book.sessions[&session_uid].recording_uid != *recording
        {
            return Some(problem(
                StatusCode::NOT_FOUND,
                "No such managed upload session.",
            ));
        }
        let file_uid = match op.method.as_str() {
            "GET" => record.query_param("file_uid"),
            _ => body["file_uid"].as_str().map(str::to_owned),
        }
        .unwrap_or_default();
        Some(match op.id.as_str() {
            "get_fleet_managed_upload_status" => book.status(&session_uid),
            "init_fleet_managed_multipart" => book.init(&session_uid, &file_uid),
            "get_fleet_managed_multipart_progress" => {
                let after = record
                    .query_param("after")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0);
                book.progress(&session_uid, &file_uid, after)
            }
            "sign_fleet_managed_multipart_parts" => {
                let numbers: Vec<u64> = body["numbers"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                book.grant(origin, &session_uid, &file_uid, &numbers)
            }
            "finalize_fleet_managed_upload" => book.finalize(&session_uid, &body),
            _ => return None,
        })
    }

    fn clear(&self) {
        *self.book() = Book::default();
    }
}

impl Book {
    fn take(&mut self, wanted: impl Fn(&ManagedAnomaly) -> bool) -> Option<ManagedAnomaly> {
        let at = self.anomalies.iter().position(wanted)?;
        Some(self.anomalies.remove(at))
    }

    /// Orders the grant answer of part `number` by the scripted gates: it
    /// waits for one, or opens one once it has left.
    fn gate(&mut self, number: u64, answer: &mut Answer) {
        if let Some(gate) = self.gates.iter_mut().find(|g| g.part == number && !g.held) {
            gate.held = true;
            answer.after = Some(gate.permit.clone());
        }
        if let Some(gate) = self
            .gates
            .iter_mut()
            .find(|g| g.until == number && !g.opened)
        {
            gate.opened = true;
            answer.opens = Some(gate.permit.clone());
        }
        self.gates.retain(|g| !(g.held && g.opened));
    }

    fn admit(&mut self, recording: &str, session_uid: &str, body: &Value) -> Answer {
        let files: Vec<(String, u64, String)> = body["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["path"].as_str().unwrap_or_default().to_owned(),
                    f["size_bytes"].as_u64().unwrap_or(0),
                    f["content_sha256"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        if !canonical(session_uid) || files.is_empty() || files.len() > 64 {
            return problem(StatusCode::BAD_REQUEST, "Invalid managed admission.");
        }
        if let Some(existing) = self.sessions.get(session_uid) {
            let same = existing.recording_uid == recording
                && existing
                    .files
                    .iter()
                    .map(|f| (f.path.clone(), f.size, f.sha256.clone()))
                    .eq(files.iter().cloned());
            if !same {
                return problem(
                    StatusCode::CONFLICT,
                    "The session was admitted with other files.",
                );
            }
        } else {
            let originals = files
                .into_iter()
                .map(|(path, size, sha256)| Original {
                    file_uid: uuid(),
                    path,
                    size,
                    sha256,
                    generation: None,
                    parts: BTreeMap::new(),
                    verified: false,
                })
                .collect();
            self.sessions.insert(
                session_uid.to_owned(),
                Session {
                    recording_uid: recording.to_owned(),
                    files: originals,
                    finalization: None,
                    polls: 0,
                },
            );
        }
        self.status(session_uid)
    }

    fn status(&mut self, session_uid: &str) -> Answer {
        let (settle_after, failure) = (self.settle_after.max(1), self.failure.clone());
        let abandon = self
            .take(|a| *a == ManagedAnomaly::AbandonedSession)
            .is_some();
        let session = self.sessions.get_mut(session_uid).expect("checked");
        if abandon {
            for file in &mut session.files {
                if let Some((_, state)) = &mut file.generation {
                    *state = "abandoned";
                }
            }
        }
        if let Some(fin) = &mut session.finalization {
            if matches!(fin.state, "pending" | "running") {
                session.polls += 1;
                settle(fin, session.polls, settle_after, failure.as_deref());
            }
        }
        let mut doc = status_document(session_uid, session);
        if self.take(|a| *a == ManagedAnomaly::WrongCounters).is_some() {
            doc["confirmed_files"] = json!(doc["confirmed_files"].as_u64().unwrap_or(0) + 1);
        }
        if self.take(|a| *a == ManagedAnomaly::WrongManifest).is_some() {
            doc["files"][0]["content_sha256"] = json!("0".repeat(64));
        }
        if self
            .take(|a| *a == ManagedAnomaly::ForeignSession)
            .is_some()
        {
            doc["session_uid"] = json!(uuid());
        }
        Answer::json(StatusCode::OK, &doc)
    }

    /// The session's file `file_uid`, or the 404 answer.
    fn file(&mut self, session_uid: &str, file_uid: &str) -> Result<&mut Original, Answer> {
        self.sessions
            .get_mut(session_uid)
            .and_then(|s| s.files.iter_mut().find(|f| f.file_uid == file_uid))
            .ok_or_else(|| problem(StatusCode::NOT_FOUND, "No such file in the session."))
    }

    fn init(&mut self, session_uid: &str, file_uid: &str) -> Answer {
        let second = self
            .take(|a| *a == ManagedAnomaly::InitNotFirstGeneration)
            .is_some();
        let file = match self.file(session_uid, file_uid) {
            Ok(file) => file,
            Err(answer) => return answer,
        };
        if file.generation.is_some() {
            return problem(StatusCode::CONFLICT, "The file already has a generation.");
        }
        let generation = uuid();
        file.generation = Some((generation.clone(), "active"));
        let deadline = Utc::now() + chrono::TimeDelta::hours(1);
        Answer::json(
            StatusCode::OK,
            &json!({
                "protocol": PROTOCOL,
                "session_uid": session_uid,
                "file_uid": file_uid,
                "generation_uid": generation,
                "number": if second { 2 } else { 1 },
                "state": "active",
                "part_size": PART_SIZE,
                "part_count": file.size.div_ceil(PART_SIZE),
                "initialization_deadline": deadline.to_rfc3339_opts(SecondsFormat::Secs, true),
            }),
        )
    }

    fn progress(&mut self, session_uid: &str, file_uid: &str, after: u64) -> Answer {
        let oversized = self
            .take(|a| *a == ManagedAnomaly::OversizedProgress)
            .is_some();
        let endless = self.anomalies.contains(&ManagedAnomaly::EndlessProgress);
        let file = match self.file(session_uid, file_uid) {
            Ok(file) => file,
            Err(answer) => return answer,
        };
        let Some((generation, _)) = file.generation.clone() else {
            return problem(StatusCode::CONFLICT, "The file has no generation.");
        };
        let mut parts: Vec<Value> = file
            .parts
            .keys()
            .filter(|n| **n > after)
            .take(100)
            .map(|n| json!({"part_number": n, "size": part_len(file.size, *n)}))
            .collect();
        let mut next = Value::Null;
        if oversized {
            parts = (1..=101)
                .map(|n| json!({"part_number": n, "size": PART_SIZE}))
                .collect();
        } else if endless {
            let n = after + 1;
            parts = vec![json!({"part_number": n, "size": part_len(file.size, n)})];
            next = json!(n);
        }
        Answer::json(
            StatusCode::OK,
            &json!({
                "protocol": PROTOCOL,
                "session_uid": session_uid,
                "file_uid": file_uid,
                "generation_uid": generation,
                "parts": parts,
                "next_cursor": next,
            }),
        )
    }

    fn grant(
        &mut self,
        origin: &str,
        session_uid: &str,
        file_uid: &str,
        numbers: &[u64],
    ) -> Answer {
        let moved = self
            .take(|a| *a == ManagedAnomaly::MovedDestination)
            .is_some()
            || numbers
                .first()
                .is_some_and(|n| self.take(|a| *a == ManagedAnomaly::MovedPart(*n)).is_some());
        let elsewhere = self
            .take(|a| matches!(a, ManagedAnomaly::GrantOrigin(_)))
            .map(|a| match a {
                ManagedAnomaly::GrantOrigin(o) => o,
                _ => unreachable!("matched above"),
            });
        let file = match self.file(session_uid, file_uid) {
            Ok(file) => file,
            Err(answer) => return answer,
        };
        let (Some((generation, "active")), [number]) = (&file.generation, numbers) else {
            return problem(
                StatusCode::CONFLICT,
                "Grants need an active generation and one part.",
            );
        };
        let number = *number;
        if !(1..=file.size.div_ceil(PART_SIZE)).contains(&number) {
            return problem(StatusCode::BAD_REQUEST, "No such part.");
        }
        let signed = Utc::now().trunc_subsecs(0);
        let upload_id = if moved {
            format!("mock~{}", uuid())
        } else {
            format!("mock~{generation}")
        };
        let date = signed.format("%Y%m%dT%H%M%SZ");
        let signature = hex(&Sha256::digest(format!("{upload_id}/{number}/{date}")));
        let url = format!(
            "{}{}?uploadId={}&partNumber={number}&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=mock%2F{}%2Fauto%2Fs3%2Faws4_request&X-Amz-Date={date}\
             &X-Amz-Expires=300&X-Amz-SignedHeaders=content-length%3Bhost&X-Amz-Signature={signature}",
            elsewhere.as_deref().unwrap_or(origin),
            object_path(session_uid, &file.path),
            utf8_percent_encode(&upload_id, KEY),
            signed.format("%Y%m%d"),
        );
        let size = part_len(file.size, number);
        let expires = signed + chrono::TimeDelta::seconds(300);
        let mut answer = Answer::json(
            StatusCode::OK,
            &json!({
                "protocol": PROTOCOL,
                "session_uid": session_uid,
                "file_uid": file_uid,
                "generation_uid": generation,
                "parts": [{
                    "grant_uid": uuid(),
                    "part_number": number,
                    "offset": (number - 1) * PART_SIZE,
                    "size_bytes": size,
                    "url": url,
                    "headers": {"Content-Length": size.to_string()},
                    "expires_at": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
                }],
            }),
        );
        self.gate(number, &mut answer);
        answer
    }

    fn finalize(&mut self, session_uid: &str, body: &Value) -> Answer {
        let session = self.sessions.get_mut(session_uid).expect("checked");
        let listed: Vec<(String, String)> = body["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
                (text("file_uid"), text("generation_uid"))
            })
            .collect();
        let ours: Vec<(String, String)> = session
            .files
            .iter()
            .map(|f| {
                let generation = f.generation.as_ref().map(|g| g.0.clone());
                (f.file_uid.clone(), generation.unwrap_or_default())
            })
            .collect();
        let sorted = listed.windows(2).all(|w| w[0].0 < w[1].0);
        if !sorted || listed.len() != ours.len() || !listed.iter().all(|f| ours.contains(f)) {
            return problem(
                StatusCode::BAD_REQUEST,
                "The files are not the session's, sorted by file_uid.",
            );
        }
        if let Some(fin) = &mut session.finalization {
            // A failure another finalize may fix is retried; anything else
            // stays as it is.
            if fin.state == "failed"
                && !matches!(fin.code.as_str(), "content_mismatch" | "invalid_mcap")
            {
                fin.state = "pending";
                fin.code = "pending".into();
                session.polls = 0;
            }
        } else {
            match first_finalization(session) {
                Ok(objects) => self.objects.extend(objects),
                Err(answer) => return answer,
            }
        }
        let session = &self.sessions[session_uid];
        Answer::json(
            StatusCode::OK,
            &json!({
                "protocol": PROTOCOL,
                "session_uid": session_uid,
                "finalization": finalization_document(session.finalization.as_ref().expect("set")),
            }),
        )
    }
}

/// The first finalize of a session: every part must be there; the objects
/// are assembled and compared with the admitted SHA-256s. Returns the
/// objects when they verified.
fn first_finalization(session: &mut Session) -> Result<Vec<ManagedObject>, Answer> {
    let complete = session
        .files
        .iter()
        .all(|f| f.parts.len() as u64 == f.size.div_ceil(PART_SIZE));
    if !complete {
        return Err(problem(StatusCode::CONFLICT, "Parts are missing."));
    }
    let mut fin = Finalization {
        uid: uuid(),
        state: "pending",
        stage: "complete",
        code: "pending".into(),
        attempts: 0,
        failures: 0,
        published: None,
    };
    let mut objects = Vec::new();
    for file in &session.files {
        let sha256 = assemble(file);
        if sha256.as_ref().is_some_and(|s| *s != file.sha256) {
            fin.state = "failed";
            fin.stage = "verify";
            fin.code = "content_mismatch".into();
            fin.failures = 1;
        }
        objects.push(ManagedObject {
            recording_uid: session.recording_uid.clone(),
            path: file.path.clone(),
            size: file.size,
            sha256,
        });
    }
    let verified = fin.state != "failed";
    session.finalization = Some(fin);
    if !verified {
        return Ok(Vec::new());
    }
    for file in &mut session.files {
        file.verified = true;
        if let Some((_, state)) = &mut file.generation {
            *state = "completed";
        }
    }
    Ok(objects)
}

/// Serves a part PUT (its drop faults were played by the caller): the
/// slot, the body, a status fault or the store.
pub(crate) async fn serve_part(
    state: &State,
    parts: &http::request::Parts,
    body: &mut hyper::body::Incoming,
    fault: Option<Fault>,
) -> Answer {
    let query = parts.uri.query().unwrap_or_default();
    let slot = match state.managed.slot(parts.uri.path(), query) {
        Ok(slot) => slot,
        Err(answer) => {
            storage::drain(body, state).await;
            return answer;
        }
    };
    let (size, _, bytes) = match storage::read(body, state, slot.keep, PART_SIZE as usize).await {
        Ok(read) => read,
        Err(why) => return problem(StatusCode::BAD_REQUEST, &why),
    };
    let mut answer = match fault.as_ref().map(|f| &f.action) {
        Some(Action::Status(status)) => Answer::bytes(*status, None),
        _ => state.managed.store(&slot, size, bytes),
    };
    if let Some(fault) = fault {
        fault.pace(&mut answer);
        answer.headers.extend(fault.headers);
    }
    answer
}

/// Moves a finalization on by one status observation.
fn settle(fin: &mut Finalization, polls: usize, settle_after: usize, failure: Option<&str>) {
    if polls < settle_after {
        fin.state = "running";
        fin.stage = "verify";
        fin.code = "running".into();
        return;
    }
    fin.attempts += 1;
    fin.stage = "publish";
    match failure {
        Some(code) => {
            fin.state = "failed";
            fin.code = code.to_owned();
            fin.failures = (fin.failures + 1).min(5);
        }
        None => {
            fin.state = "succeeded";
            fin.code = "published".into();
            fin.failures = 0;
            fin.published = Some((uuid(), uuid()));
        }
    }
}

/// The SHA-256 of the file's parts in order, when their bytes were kept.
fn assemble(file: &Original) -> Option<String> {
    let mut hasher = Sha256::new();
    for bytes in file.parts.values() {
        hasher.update(bytes.as_ref()?);
    }
    Some(hex(&hasher.finalize()))
}

fn status_document(session_uid: &str, session: &Session) -> Value {
    let files: Vec<Value> = session
        .files
        .iter()
        .map(|f| {
            json!({
                "file_uid": f.file_uid,
                "path": f.path,
                "size_bytes": f.size,
                "content_sha256": f.sha256,
                "content_type": "application/octet-stream",
                "content_encoding": "",
                "part_size": PART_SIZE,
                "part_count": f.size.div_ceil(PART_SIZE),
                "verified": f.verified,
                "generation": f.generation.as_ref().map(|(uid, state)| json!({
                    "generation_uid": uid, "number": 1, "state": state,
                })),
            })
        })
        .collect();
    let verified: Vec<&Original> = session.files.iter().filter(|f| f.verified).collect();
    let phase = if verified.len() == session.files.len() {
        "completed"
    } else if session.files.iter().any(|f| f.generation.is_some()) {
        "uploading"
    } else {
        "initiated"
    };
    json!({
        "protocol": PROTOCOL,
        "session_uid": session_uid,
        "recording_uid": session.recording_uid,
        "status": phase,
        "total_files": session.files.len(),
        "total_bytes": session.files.iter().map(|f| f.size).sum::<u64>(),
        "confirmed_files": verified.len(),
        "confirmed_bytes": verified.iter().map(|f| f.size).sum::<u64>(),
        "files": files,
        "finalization": session.finalization.as_ref().map(finalization_document),
    })
}

fn finalization_document(fin: &Finalization) -> Value {
    json!({
        "uid": fin.uid,
        "state": fin.state,
        "stage": fin.stage,
        "attempts": fin.attempts,
        "failures": fin.failures,
        "code": fin.code,
        "available_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        "publication_uid": fin.published.as_ref().map(|p| p.0.clone()),
        "dataset_uid": fin.published.as_ref().map(|p| p.1.clone()),
    })
}

/// `/mock-r2/__o__%3D/{owner}/__cloud__/{session}/{quoted path}`.
fn object_path(session_uid: &str, path: &str) -> String {
    let key = format!("__o__=/{OWNER_UID}/__cloud__/{session_uid}/{path}");
    format!("{PART_PATH}{}", utf8_percent_encode(&key, KEY))
}

fn part_len(size: u64, number: u64) -> u64 {
    PART_SIZE.min(size - (number - 1) * PART_SIZE)
}
