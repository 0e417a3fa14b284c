//! The storage side of the mock: the loopback routes its presign answers
//! point at. `PUT /_storage/put/{upload_uid}` (a v2 single PUT),
//! `PUT /_storage/part/{upload_uid}/{n}` (a part) and `POST /_storage/form/`
//! (a v1 `multipart/form-data` upload), plus `PUT /_storage/sink/{any}`,
//! which accepts any body, hashes it and keeps nothing (a target for comparisons,
//! such as the benchmark's raw PUTs). Bodies are read as they stream in
//! and hashed; they take the [`Fault`](super::Fault)s registered with
//! [`StorageKnobs::fault`].

use std::{collections::BTreeMap, io, sync::atomic::Ordering};

use bytes::{Bytes, BytesMut};
use http::{request::Parts, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::{
    faults::{Action, Fault, Script},
    fleet_legacy::{FLEET_KEY_PATH, FLEET_PATH},
    manual_upload::{hex, Slot, FORM_PATH, PART_PATH, PUT_PATH},
    server::{Answer, Delivery, MockServer, ReceivedRequest, State},
};

/// The sink route's path prefix.
const SINK_PATH: &str = "/_storage/sink/";
/// The largest v1 form body accepted.
const MAX_FORM: usize = 64 * 1024 * 1024;

/// A storage route of the mock, for [`StorageKnobs::fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageRoute {
    /// The v2 single PUT.
    Put,
    /// A part of a v2 MULTIPART upload.
    Part,
    /// The v1 form POST.
    Form,
    /// `PUT /_storage/sink/{any}`: any body, counted and dropped.
    Sink,
    /// `PUT /_storage/fleet/…` (or `PUT /fleet/…`, virtual-hosted): a
    /// legacy Fleet recording file.
    Fleet,
    /// A part of a managed Fleet upload (`PUT /mock-r2/...`).
    ManagedPart,
    /// `GET /_storage/exports/{uid}`: an export's file.
    Export,
}

impl StorageRoute {
    /// The pseudo operation id its requests are recorded under
    /// (`storage.put`, `storage.part`, `storage.form`).
    pub fn operation_id(self) -> &'static str {
        match self {
            Self::Put => "storage.put",
            Self::Part => "storage.part",
            Self::Form => "storage.form",
            Self::Sink => "storage.sink",
            Self::Fleet => "storage.fleet",
            Self::ManagedPart => "storage.managed_part",
            Self::Export => "storage.export",
        }
    }
}

/// Whether `path` is a storage route.
pub(crate) fn owns(path: &str) -> bool {
    path.starts_with("/_storage/")
        || path.starts_with(FLEET_KEY_PATH)
        || path.starts_with(super::fleet_managed::PART_PATH)
}

/// Serves one storage request. The request is recorded (with an empty
/// body: the bytes are in the store); `Err` closes the connection.
pub(crate) async fn serve(request: Request<Incoming>, state: &State) -> io::Result<Answer> {
    let (parts, mut body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let route = if path.starts_with(PUT_PATH) && parts.method == http::Method::PUT {
        Some(StorageRoute::Put)
    } else if path.starts_with(PART_PATH) && parts.method == http::Method::PUT {
        Some(StorageRoute::Part)
    } else if path == FORM_PATH && parts.method == http::Method::POST {
        Some(StorageRoute::Form)
    } else if path.starts_with(SINK_PATH) && parts.method == http::Method::PUT {
        Some(StorageRoute::Sink)
    } else if (path.starts_with(FLEET_PATH) || path.starts_with(FLEET_KEY_PATH))
        && parts.method == http::Method::PUT
    {
        Some(StorageRoute::Fleet)
    } else if path.starts_with(super::fleet_managed::PART_PATH) && parts.method == http::Method::PUT
    {
        Some(StorageRoute::ManagedPart)
    } else if path.starts_with(super::exports::EXPORT_PATH) {
        Some(StorageRoute::Export)
    } else {
        None
    };
    let mut record = record_of(&parts, route);
    let announced: Option<u64> = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());

    let refuse = |record: &mut ReceivedRequest, status: StatusCode, why: String| {
        record.violations.push(why);
        Answer::problem(status, "Refused by the mock storage.", &record.violations)
    };
    let Some(route) = route else {
        let answer = refuse(
            &mut record,
            StatusCode::NOT_FOUND,
            format!("no storage route is {} {path}", parts.method),
        );
        return Ok(finish(state, record, answer));
    };
    // Storage never gets the API key.
    if parts.headers.contains_key(super::server::KEY_HEADER) {
        let answer = refuse(
            &mut record,
            StatusCode::BAD_REQUEST,
            "the request carries the API key".to_owned(),
        );
        return Ok(finish(state, record, answer));
    }
    let fault = state.faults.take(route.operation_id());
    if let Some(fault) = &fault {
        if fault.action == Action::Drop {
            // Half the body, then the connection closes: a drop mid-send.
            let half = announced.unwrap_or(0) / 2;
            let mut seen = 0u64;
            while seen < half {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                        seen += n;
                        state.storage_bytes.fetch_add(n, Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
            tokio::time::sleep(fault.delay).await;
            state.received().push(record);
            return Err(io::Error::other("fault: connection dropped mid-body"));
        }
    }

    if route == StorageRoute::Export {
        let answer = state.exports.serve(&state.origin, &parts, fault);
        return Ok(finish(state, record, answer));
    }
    if route == StorageRoute::ManagedPart {
        let answer = super::fleet_managed::serve_part(state, &parts, &mut body, fault).await;
        return Ok(finish(state, record, answer));
    }

    // Where the bytes go, decided before reading them.
    let slot = match route {
        StorageRoute::Form => None,
        StorageRoute::Sink => {
            // Hashed like the other routes, so that it costs the same per byte.
            let _ = read(&mut body, state, false, 0).await;
            let mut answer = Answer::bytes(
                fault.as_ref().map_or(StatusCode::OK, |f| match f.action {
                    Action::Status(status) => status,
                    _ => StatusCode::OK,
                }),
                None,
            );
            if let Some(fault) = &fault {
                fault.pace(&mut answer);
            }
            return Ok(finish(state, record, answer));
        }
        StorageRoute::Fleet => {
            let read = read(&mut body, state, false, 0).await;
            let mut answer = match (fault.as_ref().map(|f| f.action), read) {
                (Some(Action::Status(status)), _) => Answer::bytes(status, None),
                (_, Err(why)) => refuse(&mut record, StatusCode::BAD_REQUEST, why),
                (_, Ok((size, sha256, _))) => {
                    let content_type = parts.headers.get(http::header::CONTENT_TYPE);
                    let content_type = content_type.and_then(|v| v.to_str().ok());
                    state.fleet.store(&path, content_type, size, sha256)
                }
            };
            // As on the other routes: the fault's headers (`Retry-After`)
            // and delay apply.
            if let Some(fault) = fault {
                fault.pace(&mut answer);
                answer.headers.extend(fault.headers);
            }
            return Ok(finish(state, record, answer));
        }
        _ => {
            let if_none_match = parts
                .headers
                .get(http::header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == b"*");
            match state.uploads.slot(&path, if_none_match) {
                Ok(slot) => Some(slot),
                Err(answer) => {
                    drain(&mut body, state).await;
                    return Ok(finish(state, record, answer));
                }
            }
        }
    };
    let keep = match &slot {
        Some(Slot::Part { keep, .. }) => *keep,
        Some(Slot::Put { .. }) => false,
        None => true,
    };
    let (size, sha256, bytes) = match read(&mut body, state, keep, MAX_FORM).await {
        Ok(read) => read,
        Err(why) => {
            let answer = refuse(&mut record, StatusCode::BAD_REQUEST, why);
            return Ok(finish(state, record, answer));
        }
    };
    if let Some(fault) = fault {
        // A status, a delay before the normal answer, or a truncated answer.
        let mut answer = match fault.action {
            Action::Status(status) => Answer::bytes(status, fault.body.clone().map(Bytes::from)),
            _ => Answer::bytes(StatusCode::OK, None),
        };
        if fault.action == Action::Truncate {
            answer.body = Some(
                fault
                    .body
                    .clone()
                    .map(Bytes::from)
                    .unwrap_or_else(|| Bytes::from_static(b"{}")),
            );
            answer.delivery = Delivery::Truncate;
        }
        fault.pace(&mut answer);
        answer.headers.extend(fault.headers.clone());
        if matches!(fault.action, Action::Status(_)) {
            return Ok(finish(state, record, answer));
        }
        store(
            state,
            &mut record,
            slot.as_ref(),
            &parts,
            size,
            sha256,
            bytes,
        );
        return Ok(finish(state, record, answer));
    }
    let answer = store(
        state,
        &mut record,
        slot.as_ref(),
        &parts,
        size,
        sha256,
        bytes,
    );
    Ok(finish(state, record, answer))
}

/// Keeps what arrived and decides the normal answer.
fn store(
    state: &State,
    record: &mut ReceivedRequest,
    slot: Option<&Slot>,
    parts: &Parts,
    size: u64,
    sha256: String,
    bytes: Option<Bytes>,
) -> Answer {
    let refuse = |record: &mut ReceivedRequest, status: StatusCode, why: String| {
        record.violations.push(why);
        Answer::problem(status, "Refused by the mock storage.", &record.violations)
    };
    match slot {
        Some(
            slot @ Slot::Put {
                size: expected,
                exists,
                ..
            },
        ) => {
            if *exists {
                return Answer::bytes(StatusCode::PRECONDITION_FAILED, None);
            }
            if size != *expected {
                return refuse(
                    record,
                    StatusCode::BAD_REQUEST,
                    format!("the body has {size} bytes, the presign said {expected}"),
                );
            }
            state.uploads.store(slot, None, size, sha256);
        }
        Some(slot @ Slot::Part { size: expected, .. }) => {
            if size != *expected {
                return refuse(
                    record,
                    StatusCode::BAD_REQUEST,
                    format!("the part has {size} bytes, expected {expected}"),
                );
            }
            state.uploads.store(slot, bytes, size, sha256);
        }
        None => {
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let stored = parse_form(content_type, bytes.as_deref().unwrap_or_default())
                .and_then(|(fields, file)| state.uploads.store_form(&fields, &file));
            if let Err(why) = stored {
                return refuse(record, StatusCode::BAD_REQUEST, why);
            }
            return Answer::bytes(StatusCode::NO_CONTENT, None);
        }
    }
    let mut answer = Answer::bytes(StatusCode::OK, None);
    answer.headers.push((
        http::header::ETAG,
        http::HeaderValue::from_static("\"mock-etag\""),
    ));
    answer
}

fn finish(state: &State, mut record: ReceivedRequest, mut answer: Answer) -> Answer {
    echo_key(state, &mut answer);
    record.status = (answer.delivery != Delivery::Drop).then_some(answer.status.as_u16());
    state.received().push(record);
    answer
}

/// Where a body scripted by [`StorageKnobs::echo_key`] gets the key.
const KEY_MARKER: &str = "\u{0}echo-api-key\u{0}";

/// Puts the last API key the mock saw where a body has [`KEY_MARKER`].
fn echo_key(state: &State, answer: &mut Answer) {
    let Some(body) = &answer.body else { return };
    let text = String::from_utf8_lossy(body);
    if !text.contains(KEY_MARKER) {
        return;
    }
    let key = state
        .last_api_key
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default();
    answer.body = Some(Bytes::from(text.replace(KEY_MARKER, &key)));
}

fn record_of(parts: &Parts, route: Option<StorageRoute>) -> ReceivedRequest {
    let mut headers = parts.headers.clone();
    if let Some(key) = headers.get_mut(super::server::KEY_HEADER) {
        key.set_sensitive(true);
    }
    ReceivedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers,
        body: Bytes::new(),
        operation_id: route.map(|r| r.operation_id().to_owned()),
        path_params: BTreeMap::new(),
        violations: Vec::new(),
        status: None,
    }
}

/// Reads the whole body: its length, SHA-256 and (when `keep`) bytes.
pub(super) async fn read(
    body: &mut Incoming,
    state: &State,
    keep: bool,
    max_kept: usize,
) -> Result<(u64, String, Option<Bytes>), String> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut kept = keep.then(BytesMut::new);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body: {e}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        size += data.len() as u64;
        state
            .storage_bytes
            .fetch_add(data.len() as u64, Ordering::SeqCst);
        hasher.update(data);
        if let Some(kept) = &mut kept {
            if kept.len() + data.len() > max_kept {
                return Err("the body is too large for the mock".to_owned());
            }
            kept.extend_from_slice(data);
        }
    }
    Ok((size, hex(&hasher.finalize()), kept.map(BytesMut::freeze)))
}

pub(super) async fn drain(body: &mut Incoming, state: &State) {
    while let Some(Ok(frame)) = body.frame().await {
        let n = frame.data_ref().map_or(0, |d| d.len() as u64);
        state.storage_bytes.fetch_add(n, Ordering::SeqCst);
    }
}

/// The fields and the `file` part of a `multipart/form-data` body.
fn parse_form(
    content_type: &str,
    body: &[u8],
) -> Result<(BTreeMap<String, String>, Vec<u8>), String> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))
        .filter(|_| content_type.trim_start().starts_with("multipart/form-data"))
        .ok_or("the body is not multipart/form-data with a boundary")?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let text_of = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut fields = BTreeMap::new();
    let mut file = None;
    let mut rest = body
        .strip_prefix(delimiter.as_bytes())
        .ok_or("the body does not start with the boundary")?;
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or("a boundary line does not end with CRLF")?;
        let head_end = find(rest, b"\r\n\r\n").ok_or("a part has no header end")?;
        let head = text_of(&rest[..head_end]);
        let after = &rest[head_end + 4..];
        let end = find(after, format!("\r\n{delimiter}").as_bytes())
            .ok_or("a part has no closing boundary")?;
        let content = &after[..end];
        rest = &after[end + 2 + delimiter.len()..];
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or("a part has no Content-Disposition")?;
        let name = disposition
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name="))
            .ok_or("a part has no name")?
            .trim_matches('"')
            .to_owned();
        if name == "file" {
            if !fields.contains_key("key") {
                return Err("the file part comes before the fields".to_owned());
            }
            file = Some(content.to_vec());
        } else {
            fields.insert(name, text_of(content));
        }
    }
    Ok((fields, file.ok_or("the form has no `file` part")?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk/v\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nContent-Type: x/y\r\n\r\nAB\r\nCD\r\n--B--\r\n";
        let (fields, file) = parse_form("multipart/form-data; boundary=B", body).unwrap();
        assert_eq!(fields["key"], "k/v");
        assert_eq!(file, b"AB\r\nCD");
        assert!(parse_form("application/json", body).is_err());
        assert!(parse_form("multipart/form-data; boundary=B", b"--B\r\nnope").is_err());
    }
}

impl MockServer {
    /// The knobs of the mock's object storage: faults on its routes, and
    /// the bytes it received.
    pub fn storage(&self) -> StorageKnobs<'_> {
        StorageKnobs { state: &self.state }
    }
}

/// The knobs of the object storage of a [`MockServer`], from
/// [`MockServer::storage`].
#[derive(Debug, Clone, Copy)]
pub struct StorageKnobs<'a> {
    state: &'a State,
}

impl StorageKnobs<'_> {
    /// Plays `fault` on the requests of a storage route, like
    /// [`MockServer::fault`] does on an operation. [`Fault::drop_connection`]
    /// reads half of the body, then closes the connection; a status fault
    /// reads the body and answers without storing it.
    pub fn fault(&self, route: StorageRoute, fault: Fault) -> Script {
        self.state.faults.add(route.operation_id(), fault)
    }

    /// A hostile storage: the next request of `route` is answered
    /// `status` with an S3-style error body that echoes the API key the
    /// client sent on its last API request (storage never gets the key; a
    /// storage that learnt it must still not get it shown in an error).
    pub fn echo_key(&self, route: StorageRoute, status: u16) -> Script {
        let body = format!(
            "<Error><Code>AccessDenied</Code><Message>signed with {KEY_MARKER}</Message><Key>{KEY_MARKER}</Key></Error>"
        );
        self.fault(
            route,
            Fault::status(status)
                .header("Content-Type", "application/xml")
                .body(body),
        )
        .times(1)
    }

    /// Body bytes received on the storage routes, stored or not.
    pub fn bytes_received(&self) -> u64 {
        self.state.storage_bytes.load(Ordering::SeqCst)
    }

    /// How many connections carried the storage requests received so far:
    /// fewer than the requests when the client reuses its connections.
    pub fn connections(&self) -> usize {
        self.state.storage_connections().len()
    }
}
