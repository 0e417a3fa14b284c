//! The data plane: file bytes to presigned storage URLs (a v2 PUT, a part of
//! a v2 MULTIPART upload, or a v1 `multipart/form-data` POST).
//!
//! Its own HTTP client: no API key, no default headers, no redirects,
//! connect timeout 30 s. reqwest has no write timeout and its read timeout
//! runs from the start of the request, so a watchdog ends a send during
//! which the body has not moved for [`Timeouts::stall`] (600 s), and an
//! answer that takes longer than [`Timeouts::answer`] (300 s) after the
//! last byte. Bodies are streamed from the file's one open handle
//! ([`Source`]) at the slice's offset, so memory does not grow with the
//! file and no path is opened again.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::Stream;
use reqwest::{header, Method, StatusCode};

use super::{allow, inventory::Source, UploadError};

/// The most of a storage error body that is read and kept.
const MAX_ERROR_BODY: usize = crate::capture::MAX_ERROR_BODY;
/// How much of the file one chunk of the body holds.
const CHUNK: usize = 256 * 1024;

/// The data plane's timeouts (§8: connect 30 s, read 300 s, write 600 s).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    /// A send whose body does not move for this long is abandoned.
    pub(crate) stall: Duration,
    /// The answer must start this soon after the body's last byte.
    pub(crate) answer: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(30),
            stall: Duration::from_secs(600),
            answer: Duration::from_secs(300),
        }
    }
}

/// A byte range of an opened local file, and the path it has in the
/// dataset.
#[derive(Debug, Clone)]
pub(crate) struct Slice {
    pub(crate) source: Source,
    pub(crate) remote: String,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// How a PUT ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    Stored,
    /// 412 to a PUT that carried `If-None-Match: *`: the object is already
    /// there.
    AlreadyThere,
}

/// The data-plane client.
#[derive(Debug, Clone)]
pub(crate) struct DataPlane {
    http: reqwest::Client,
    loopback_http: bool,
    timeouts: Timeouts,
}

impl DataPlane {
    /// The data plane of `client`: its proxy and roots, and `http` to
    /// loopback hosts only when the client itself was built for a loopback
    /// base URL with insecure http allowed.
    pub(crate) fn new(client: &crate::Client, timeouts: Timeouts) -> crate::Result<Self> {
        let loopback_http = super::loopback_http(client);
        let http = client
            .network()
            .apply(reqwest::Client::builder())?
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeouts.connect)
            .https_only(!loopback_http)
            .user_agent(concat!("avala-rust/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                crate::Error::config(format!("could not build the upload HTTP client: {e}"))
            })?;
        Ok(Self {
            http,
            loopback_http,
            timeouts,
        })
    }

    /// GETs `url` (checked by the caller) with `headers`: no key, no
    /// redirect. The answer's head must arrive within
    /// [`Timeouts::answer`]; the caller reads the body.
    pub(crate) async fn get(
        &self,
        url: url::Url,
        headers: header::HeaderMap,
    ) -> Result<reqwest::Response, crate::Error> {
        let request = self.http.get(url).headers(headers).send();
        match tokio::time::timeout(self.timeouts.answer, request).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(progenitor_client::Error::<()>::CommunicationError(e).into()),
            Err(_) => Err(crate::Error::Integrity {
                message: format!("storage did not answer within {:?}", self.timeouts.answer),
            }),
        }
    }

    /// How long a body may stand still before a transfer is abandoned.
    pub(crate) fn stall(&self) -> Duration {
        self.timeouts.stall
    }

    /// Checks `url` against the allow-list (nothing is sent otherwise).
    pub(crate) fn check(&self, url: &str) -> Result<url::Url, UploadError> {
        allow::check(url, self.loopback_http)
    }

    /// PUTs `slice` to `url` with the presigned `headers`. A 412 means the
    /// object is already there only when the request carried the
    /// precondition (`If-None-Match: *` among `headers`); any other 412 is
    /// a `Storage` error, to be presigned again (§13.1).
    pub(crate) async fn put(
        &self,
        url: &str,
        headers: &HashMap<String, String>,
        slice: &Slice,
        key: &str,
    ) -> Result<Put, UploadError> {
        let url = self.check(url)?;
        let headers = presigned_headers(headers, &slice.remote)?;
        let conditional = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .any(|v| v.as_bytes().trim_ascii() == b"*");
        let request = self.http.request(Method::PUT, url).headers(headers);
        let (status, _) = self
            .send(request, Bytes::new(), slice, Bytes::new(), key, conditional)
            .await?;
        Ok(if status == StatusCode::PRECONDITION_FAILED {
            Put::AlreadyThere
        } else {
            Put::Stored
        })
    }

    /// PUTs `slice` to `url` with the presigned `headers` and returns the
    /// storage's `ETag` header as sent (the Fleet legacy receipt), if any.
    pub(crate) async fn put_for_etag(
        &self,
        url: &str,
        headers: &HashMap<String, String>,
        slice: &Slice,
        key: &str,
    ) -> Result<Option<String>, UploadError> {
        let url = self.check(url)?;
        let request = self
            .http
            .request(Method::PUT, url)
            .headers(presigned_headers(headers, &slice.remote)?);
        let (_, etag) = self
            .send(request, Bytes::new(), slice, Bytes::new(), key, false)
            .await?;
        Ok(etag)
    }

    /// PUTs `slice` to `url` with `Content-Length` as its only request
    /// header of the grant, and accepts exactly 200 (a managed Fleet part,
    /// §9.3 step 5).
    pub(crate) async fn put_exact(
        &self,
        url: &str,
        slice: &Slice,
        key: &str,
    ) -> Result<(), UploadError> {
        let url = self.check(url)?;
        let request = self.http.request(Method::PUT, url);
        let (status, _) = self
            .send(request, Bytes::new(), slice, Bytes::new(), key, false)
            .await?;
        if status != StatusCode::OK {
            return Err(UploadError::Protocol {
                path: slice.remote.clone(),
                message: format!("storage answered HTTP {}, not exactly 200", status.as_u16()),
            });
        }
        Ok(())
    }

    /// The legacy v1 upload: a `multipart/form-data` POST of every field of
    /// `fields` plus the file part `file`.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        fields: &HashMap<String, String>,
        slice: &Slice,
        key: &str,
    ) -> Result<(), UploadError> {
        let url = self.check(url)?;
        let boundary = format!("avala-{:032x}", fastrand::u128(..));
        let (head, tail) = form_parts(&boundary, fields, &slice.remote)?;
        let request = self.http.request(Method::POST, url).header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        );
        self.send(request, head, slice, tail, key, false).await?;
        Ok(())
    }

    /// Sends `head` + the slice + `tail` as the body; a 2xx (or a 412 to a
    /// conditional request, `allow_412`) is success (with the answer's `ETag`, when it is text),
    /// anything else an error with the bounded, redacted body.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        head: Bytes,
        slice: &Slice,
        tail: Bytes,
        key: &str,
        allow_412: bool,
    ) -> Result<(StatusCode, Option<String>), UploadError> {
        let watch = Arc::new(Watch::new());
        let length = head.len() as u64 + slice.len + tail.len() as u64;
        if length == 0 {
            watch.done.store(true, Ordering::SeqCst);
        }
        let body =
            reqwest::Body::wrap_stream(body_stream(slice.clone(), head, tail, watch.clone()));
        let request = request
            .header(header::CONTENT_LENGTH, length)
            .body(body)
            .send();
        let transport = |message: String| UploadError::StorageTransport {
            path: slice.remote.clone(),
            message,
        };
        let response = tokio::select! {
            result = request => result,
            why = watchdog(&watch, self.timeouts) => return Err(transport(why)),
        };
        let response = match response {
            Ok(response) => response,
            Err(_) if watch.changed.load(Ordering::SeqCst) => {
                return Err(UploadError::FileChanged {
                    path: slice.source.path().to_owned(),
                })
            }
            Err(e) => return Err(transport(crate::error::transport_message(&e.without_url()))),
        };
        let status = response.status();
        let retry_after = crate::retry::retry_after(response.headers());
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = bounded_text(response, self.timeouts.answer).await;
        if status.is_success() || (allow_412 && status == StatusCode::PRECONDITION_FAILED) {
            return Ok((status, etag));
        }
        Err(UploadError::Storage {
            path: slice.remote.clone(),
            status: status.as_u16(),
            body: crate::scrub::scrub(&body, key),
            retry_after,
        })
    }
}

/// The presigned headers as a header map; `Content-Length` is ours.
fn presigned_headers(
    headers: &HashMap<String, String>,
    remote: &str,
) -> Result<header::HeaderMap, UploadError> {
    let mut map = header::HeaderMap::new();
    for (name, value) in headers {
        let bad = || UploadError::Protocol {
            path: remote.to_owned(),
            message: format!(
                "the presigned header `{}` is not a valid HTTP header",
                crate::redact::redact_text(name)
            ),
        };
        let name = header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        if name == header::CONTENT_LENGTH || name == header::HOST {
            continue;
        }
        let mut value = header::HeaderValue::from_str(value).map_err(|_| bad())?;
        value.set_sensitive(true);
        map.append(name, value);
    }
    Ok(map)
}

/// The bytes before and after the file in a v1 form body.
fn form_parts(
    boundary: &str,
    fields: &HashMap<String, String>,
    remote: &str,
) -> Result<(Bytes, Bytes), UploadError> {
    let quoted = |s: &str| -> Result<String, UploadError> {
        if s.contains(['\r', '\n']) {
            return Err(UploadError::Protocol {
                path: remote.to_owned(),
                message: "a form field name holds a line break".to_owned(),
            });
        }
        Ok(s.replace('"', "%22"))
    };
    let mut head = String::new();
    // Sorted, so the body is the same on every attempt.
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    for name in names {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
            quoted(name)?,
            fields[name]
        ));
    }
    let file_name = remote.rsplit('/').next().unwrap_or(remote);
    let content_type = fields
        .get("Content-Type")
        .filter(|t| !t.contains(['\r', '\n']))
        .map_or("application/octet-stream", String::as_str);
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {content_type}\r\n\r\n",
        quoted(file_name)?
    ));
    Ok((
        Bytes::from(head),
        Bytes::from(format!("\r\n--{boundary}--\r\n")),
    ))
}

/// When the body last moved, and whether it is finished.
struct Watch {
    start: Instant,
    /// Milliseconds since `start` of the last movement.
    last: AtomicU64,
    done: AtomicBool,
    /// The file ended before the slice did (it changed under us), or could
    /// not be read.
    changed: AtomicBool,
}

impl Watch {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            done: AtomicBool::new(false),
            changed: AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::SeqCst);
    }

    fn idle(&self) -> Duration {
        self.start
            .elapsed()
            .saturating_sub(Duration::from_millis(self.last.load(Ordering::SeqCst)))
    }
}

/// Ends (with a reason) when the body has not moved for `stall`, or when
/// the answer has not come `answer` after the body's end.
async fn watchdog(watch: &Watch, timeouts: Timeouts) -> String {
    loop {
        let done = watch.done.load(Ordering::SeqCst);
        let limit = if done {
            timeouts.answer
        } else {
            timeouts.stall
        };
        let idle = watch.idle();
        if idle >= limit {
            return if done {
                format!("no answer within {} s of the last byte", limit.as_secs())
            } else {
                format!("the send stalled: nothing moved for {} s", limit.as_secs())
            };
        }
        // Woken at least every `tick`, to see the body end (and the
        // limit change) in time.
        let tick = timeouts
            .answer
            .min(timeouts.stall)
            .min(Duration::from_secs(1));
        tokio::time::sleep((limit - idle).min(tick)).await;
    }
}

/// `head`, then the slice read from its file's handle in chunks (each on a
/// blocking thread), then `tail`.
fn body_stream(
    slice: Slice,
    head: Bytes,
    tail: Bytes,
    watch: Arc<Watch>,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    enum Step {
        Head,
        /// Bytes of the slice still to send.
        File(u64),
        Tail,
        End,
    }
    futures::stream::unfold(
        (Step::Head, slice, head, tail, watch),
        |(step, slice, head, tail, watch)| async move {
            let mut step = step;
            loop {
                watch.touch();
                match step {
                    Step::Head => {
                        step = Step::File(slice.len);
                        if !head.is_empty() {
                            let chunk = head.clone();
                            return Some((Ok(chunk), (step, slice, head, tail, watch)));
                        }
                    }
                    Step::File(0) => step = Step::Tail,
                    Step::File(left) => {
                        let want = left.min(CHUNK as u64) as usize;
                        let (source, at) = (slice.source.clone(), slice.offset + slice.len - left);
                        let read =
                            tokio::task::spawn_blocking(move || source.read_exact_at(at, want))
                                .await
                                .unwrap_or_else(|join| {
                                    Err(std::io::Error::other(join.to_string()))
                                });
                        let chunk = match read {
                            Ok(chunk) => Bytes::from(chunk),
                            Err(e) => {
                                watch.changed.store(true, Ordering::SeqCst);
                                return Some((Err(e), (Step::End, slice, head, tail, watch)));
                            }
                        };
                        let left = left - want as u64;
                        if left == 0 && tail.is_empty() {
                            // The last chunk: hyper may not ask for more
                            // once the announced length is reached.
                            watch.done.store(true, Ordering::SeqCst);
                        }
                        let next = Step::File(left);
                        return Some((Ok(chunk), (next, slice, head, tail, watch)));
                    }
                    Step::Tail => {
                        // The tail (if any) is the last chunk.
                        watch.done.store(true, Ordering::SeqCst);
                        step = Step::End;
                        if !tail.is_empty() {
                            let chunk = tail.clone();
                            return Some((Ok(chunk), (step, slice, head, tail, watch)));
                        }
                    }
                    Step::End => return None,
                }
            }
        },
    )
}

/// At most [`MAX_ERROR_BODY`] bytes of the answer's body, as text, read
/// within `timeout`; a body that does not arrive in time is left out.
async fn bounded_text(mut response: reqwest::Response, timeout: Duration) -> String {
    let read = crate::body::read_at_most(&mut response, MAX_ERROR_BODY as u64);
    match tokio::time::timeout(timeout, read).await {
        Ok(read) => String::from_utf8_lossy(&read.bytes).into_owned(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn form_body_has_every_field_then_the_file() {
        let fields = HashMap::from([
            ("key".to_owned(), "root/ds/a.jpg".to_owned()),
            ("Content-Type".to_owned(), "image/jpeg".to_owned()),
        ]);
        let (head, tail) = form_parts("B", &fields, "dir/a.jpg").unwrap();
        let head = String::from_utf8(head.to_vec()).unwrap();
        assert!(
            head.contains("name=\"key\"\r\n\r\nroot/ds/a.jpg\r\n"),
            "{head}"
        );
        assert!(
            head.ends_with("name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"),
            "{head}"
        );
        assert_eq!(&tail[..], b"\r\n--B--\r\n");
        let bad = HashMap::from([("a\r\nb".to_owned(), "v".to_owned())]);
        assert!(form_parts("B", &bad, "a").is_err());
    }

    #[test]
    fn presigned_headers_drop_content_length_and_refuse_junk() {
        let h = HashMap::from([
            ("If-None-Match".to_owned(), "*".to_owned()),
            ("Content-Length".to_owned(), "1".to_owned()),
        ]);
        let map = presigned_headers(&h, "a").unwrap();
        assert_eq!(map.len(), 1);
        assert!(map[header::IF_NONE_MATCH].is_sensitive());
        let bad = HashMap::from([("bad name".to_owned(), "v".to_owned())]);
        assert!(presigned_headers(&bad, "a").is_err());
    }

    #[tokio::test]
    async fn a_stalled_body_ends() {
        let watch = Watch::new();
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            stall: Duration::from_millis(50),
            answer: Duration::from_millis(80),
        };
        let why = tokio::time::timeout(Duration::from_secs(5), watchdog(&watch, timeouts))
            .await
            .expect("the watchdog fires");
        assert!(why.contains("stalled"), "{why}");
        watch.done.store(true, Ordering::SeqCst);
        watch.touch();
        let why = tokio::time::timeout(Duration::from_secs(5), watchdog(&watch, timeouts))
            .await
            .expect("the watchdog fires");
        assert!(why.contains("no answer"), "{why}");
    }

    /// A presigned header value that is not a valid HTTP value (a line
    /// break that would start another header) is a `Protocol` error that
    /// does not repeat it; `Host` is never taken from a grant.
    #[test]
    fn presigned_header_values_are_checked_and_host_is_ours() {
        let smuggled = HashMap::from([(
            "x-amz-meta-a".to_owned(),
            "v\r\nX-Avala-Api-Key: stolen".to_owned(),
        )]);
        match presigned_headers(&smuggled, "dir/a.jpg") {
            Err(UploadError::Protocol { path, message }) => {
                assert_eq!(path, "dir/a.jpg");
                assert!(message.contains("x-amz-meta-a"), "{message}");
                assert!(!message.contains("stolen"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let host = HashMap::from([
            ("Host".to_owned(), "evil.example".to_owned()),
            ("x-amz-acl".to_owned(), "private".to_owned()),
        ]);
        let map = presigned_headers(&host, "a").unwrap();
        assert!(map.get(header::HOST).is_none(), "{map:?}");
        assert_eq!(map.len(), 1);
    }

    /// A v1 form's `Content-Type` field with a line break is not copied
    /// into the file part's header.
    #[test]
    fn a_form_content_type_with_a_line_break_is_not_used() {
        let fields = HashMap::from([(
            "Content-Type".to_owned(),
            "image/jpeg\r\nX-Injected: 1".to_owned(),
        )]);
        let (head, _) = form_parts("B", &fields, "a.jpg").unwrap();
        let head = String::from_utf8(head.to_vec()).unwrap();
        assert!(
            head.ends_with("filename=\"a.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\n"),
            "{head}"
        );
    }

    /// A loopback storage for one request: it reads the request (the body
    /// at most 64 KiB per `pace` when given, with a small receive buffer so
    /// that the sender's bytes wait for it), then writes `answer`. The task
    /// gives back every byte it received.
    async fn storage(
        answer: &'static str,
        pace: Option<Duration>,
    ) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(64 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let url = format!("http://{}/bucket/a.bin", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
                if let Some(pace) = pace {
                    tokio::time::sleep(pace).await;
                }
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
            got
        });
        (url, task)
    }

    /// A data plane of a client of a loopback `http` API (so `http` storage
    /// on the loopback is allowed) with `stall` and `answer`.
    fn plane(stall: Duration, answer: Duration) -> DataPlane {
        let client = crate::Client::builder()
            .api_key("avk_transfer_test_key")
            .base_url("http://127.0.0.1:9/api/v1")
            .allow_insecure_loopback()
            .build()
            .unwrap();
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            stall,
            answer,
        };
        DataPlane::new(&client, timeouts).unwrap()
    }

    /// `bytes` in a new file, as the slice of it from `offset`.
    fn slice_of(bytes: &[u8], offset: u64) -> (PathBuf, Slice) {
        let dir = std::env::temp_dir().join(format!("avala-transfer-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.bin");
        std::fs::write(&path, bytes).unwrap();
        let stamp = crate::upload::inventory::Stamp::of(&path).unwrap();
        let source = Source::open(&path, stamp, None).unwrap();
        let slice = Slice {
            source,
            remote: "dir/a.bin".to_owned(),
            offset,
            len: bytes.len() as u64 - offset,
        };
        (dir, slice)
    }

    /// A send that takes longer than the stall limit but whose body keeps
    /// moving is not a stall: the limit runs from the last movement, not
    /// from the start. The storage reads at most 64 KiB per 10 ms
    /// through a small receive buffer, so 12 MiB take seconds (what the
    /// kernel buffers aside) against a stall limit of one, while no pause
    /// is longer than 10 ms.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_body_that_keeps_moving_is_not_a_stall() {
        let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let (dir, slice) = slice_of(&data, 0);
        let (url, storage) = storage(
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            Some(Duration::from_millis(10)),
        )
        .await;
        let plane = plane(Duration::from_secs(1), Duration::from_secs(30));
        let started = Instant::now();
        let put = plane.put(&url, &HashMap::new(), &slice, "k").await;
        assert_eq!(put.unwrap(), Put::Stored);
        assert!(
            started.elapsed() > Duration::from_millis(1500),
            "the send outlasted the stall limit"
        );
        let got = storage.await.unwrap();
        assert!(got.ends_with(&data[data.len() - 1024..]));
        assert_eq!(
            got.len() - got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4,
            data.len()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
