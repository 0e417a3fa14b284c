//! [`MockServer`]: the mock's HTTP server, its request checks, its record of
//! requests, and its scripted answers.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    io,
    net::{Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{ready, Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use serde_json::{json, Value};

use super::{
    faults::{Action, Fault, FaultBook, Script},
    manual_upload::Uploads,
    paging::PageScript,
    routing::{self, Lookup},
    schema,
};
use crate::{Client, ClientBuilder};
use tokio::sync::Semaphore;

/// The header that carries the API key, written out here rather than taken
/// from the SDK, so that a wrong name in the SDK fails against the mock.
pub(super) const KEY_HEADER: &str = "x-avala-api-key";
/// The path of the API root on the mock, as on the real API.
const BASE_PATH: &str = "/api/v1";
/// Request bodies larger than this are refused by closing the connection.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// `X-RateLimit-Limit` of every answer.
const RATE_LIMIT: u64 = 1000;
/// How long a truncated body waits, after its half, before the connection
/// closes (so that the half reaches the client first).
const TRUNCATE_LINGER: Duration = Duration::from_millis(20);

/// An embedded mock of the Avala API on `127.0.0.1`, for tests.
///
/// It serves every operation of the checked-in OpenAPI document with its
/// example response, checks every request against the document, records
/// what it received, and plays scripted answers, faults and pages. Dropping
/// it stops the server and every connection.
///
/// What answers a request, in order, is listed once, in the
/// [module documentation](super#what-answers-a-request-in-order).
#[derive(Debug)]
pub struct MockServer {
    address: SocketAddr,
    base_url: String,
    pub(super) state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its `JoinSet`, which aborts every
        // connection task.
        self.task.abort();
    }
}

impl MockServer {
    /// The API key of [`MockServer::client`]: 40 hex characters, the shape
    /// of a real key (so the SDK's redaction applies to it).
    pub const API_KEY: &'static str = "0123456789abcdef0123456789abcdef01234567";

    /// Starts a server on `127.0.0.1` on a free port. Must be called inside
    /// a Tokio runtime with I/O and time enabled (as `#[tokio::test]` is).
    ///
    /// # Panics
    /// If no port can be bound; see [`MockServer::try_start`].
    pub async fn start() -> Self {
        Self::try_start()
            .await
            .unwrap_or_else(|e| panic!("could not start the Avala mock server: {e}"))
    }

    /// Starts a server on `127.0.0.1` on a free port, or says why it could
    /// not. Must be called inside a Tokio runtime with I/O and time enabled.
    pub async fn try_start() -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let origin = format!("http://{address}");
        let state = Arc::new(State {
            origin: origin.clone(),
            faults: Arc::new(FaultBook::default()),
            responses: Arc::new(FaultBook::default()),
            uploads: Default::default(),
            storage_bytes: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            storage_connections: Mutex::default(),
            last_api_key: Mutex::default(),
            pages: Mutex::default(),
            jobs: Default::default(),
            resolver: Default::default(),
            fleet: Default::default(),
            managed: Default::default(),
            exports: Default::default(),
            edits: Default::default(),
            received: Mutex::default(),
            sequence: AtomicU64::new(0),
            reset_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                + 3600,
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Self {
            address,
            base_url: format!("{origin}{BASE_PATH}"),
            state,
            task,
        })
    }

    /// The API root of the mock, e.g. `http://127.0.0.1:41234/api/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A client of this server with [`MockServer::API_KEY`] and default
    /// settings otherwise.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .unwrap_or_else(|e| panic!("building a client of the mock: {e}"))
    }

    /// A client builder already pointed at this server (plain `http` on the
    /// loopback is allowed) with [`MockServer::API_KEY`], for other settings
    /// such as timeouts and retries.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .api_key(Self::API_KEY)
            .base_url(self.base_url.clone())
            .allow_insecure_loopback()
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.state.received().clone()
    }

    /// The requests received for `operation_id`, oldest first.
    pub fn received_for(&self, operation_id: &str) -> Vec<ReceivedRequest> {
        self.state
            .received()
            .iter()
            .filter(|r| r.operation_id.as_deref() == Some(operation_id))
            .cloned()
            .collect()
    }

    /// How many requests were received for `operation_id` (valid or not).
    pub fn hits(&self, operation_id: &str) -> usize {
        self.state
            .received()
            .iter()
            .filter(|r| r.operation_id.as_deref() == Some(operation_id))
            .count()
    }

    /// Plays `fault` on the valid requests of `operation_id`: always, or
    /// for the next N with [`Script::times`]. Several faults on one
    /// operation apply in the order they were added, each until used up.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use avala::mock::{Fault, MockServer};
    /// let mock = MockServer::start().await;
    /// mock.fault("get_dataset", Fault::status(503).header("Retry-After", "0")).times(2);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the document has no operation `operation_id`.
    pub fn fault(&self, operation_id: &str, fault: Fault) -> Script {
        known(operation_id);
        self.state.faults.add(operation_id, fault)
    }

    /// Answers the valid requests of `operation_id` with `body` (as JSON)
    /// and the operation's documented success status, instead of the
    /// example or a stateful flow's answer: always, or for the next N with
    /// [`Script::times`]. Several answers on one operation apply in the
    /// order they were added, each until used up; a [`Fault`] on the
    /// operation comes first.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use avala::mock::MockServer;
    /// let mock = MockServer::start().await;
    /// mock.respond("get_dataset", serde_json::json!({"uid": "d1", "name": "Cats"}))
    ///     .times(1);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the document has no operation `operation_id`, or `body` cannot be
    /// turned into JSON.
    pub fn respond(&self, operation_id: &str, body: impl serde::Serialize) -> Script {
        let op = known(operation_id);
        let status = example_response(&op.id)
            .map(|(status, _)| status)
            .filter(|s| (200..300).contains(s))
            .unwrap_or(200);
        self.respond_status(operation_id, status, body)
    }

    /// Like [`MockServer::respond`], with the status `status`.
    ///
    /// # Panics
    /// If the document has no operation `operation_id`, `status` is not in
    /// 100..=999, or `body` cannot be turned into JSON.
    pub fn respond_status(
        &self,
        operation_id: &str,
        status: u16,
        body: impl serde::Serialize,
    ) -> Script {
        known(operation_id);
        let body = serde_json::to_value(body)
            .unwrap_or_else(|e| panic!("respond({operation_id}): the body is not JSON: {e}"));
        self.state
            .responses
            .add(operation_id, Fault::status(status).json(body))
    }

    /// Serves `items` as consecutive pages of the paginated operation
    /// `operation_id`, `page_size` per page unless the request's `limit`
    /// asks for another size. `next`/`previous` are absolute links to the
    /// mock carrying the request's other query parameters and a `cursor`
    /// (a `page` number for operations that have that parameter, such as
    /// `list_organizations`, which then ignore `cursor`). An unknown cursor
    /// or a page past the end is a 404, as on the server. Filters in the
    /// query are carried into the links but not applied. Replaces an
    /// earlier script for the operation.
    ///
    /// # Panics
    /// If `operation_id` is not a paginated operation (one with a `cursor`
    /// parameter and a page envelope), if `page_size` is 0, or if an item
    /// cannot be turned into JSON.
    pub fn paginate<I>(&self, operation_id: &str, items: I, page_size: usize)
    where
        I: IntoIterator,
        I::Item: serde::Serialize,
    {
        let op = known(operation_id);
        assert!(
            page_size > 0,
            "paginate({operation_id}): page_size must be at least 1"
        );
        let script = PageScript::new(op, items, page_size)
            .unwrap_or_else(|e| panic!("paginate({operation_id}): {e}"));
        self.state
            .pages()
            .insert(operation_id.to_owned(), Arc::new(script));
    }

    /// Forgets every fault, scripted answer, page script and recorded
    /// request, and the state of every flow (sessions, stored objects,
    /// published datasets, job scripts, Fleet anomalies and settings); the
    /// dataset uploads' mode and quota stay.
    pub fn reset(&self) {
        self.state.faults.clear();
        self.state.pages().clear();
        self.state.received().clear();
        self.state.responses.clear();
        self.state.edits.clear();
        for flow in super::flows(&self.state) {
            flow.clear();
        }
        self.state.storage_bytes.store(0, Ordering::SeqCst);
        self.state.storage_connections().clear();
    }
}

pub(super) fn known(operation_id: &str) -> &'static schema::Operation {
    schema::operation(operation_id)
        .unwrap_or_else(|| panic!("the Avala API document has no operation {operation_id:?}"))
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The path as sent (not decoded), e.g. `/api/v1/datasets/`.
    pub path: String,
    /// The query string as sent, without `?` (empty when there was none).
    pub query: String,
    /// The request headers. The API key's value is marked sensitive, so
    /// `Debug` does not print it.
    pub headers: HeaderMap,
    /// The request body (empty when there was none).
    pub body: Bytes,
    /// The operation the path and method matched, if any.
    pub operation_id: Option<String>,
    /// The path parameters of that operation, percent-decoded.
    pub path_params: BTreeMap<String, String>,
    /// Why the request was refused, one entry per violation; empty when it
    /// was valid (404 and 405 also list their reason here).
    pub violations: Vec<String>,
    /// The status the mock answered with; `None` when a fault dropped the
    /// connection instead.
    pub status: Option<u16>,
}

impl ReceivedRequest {
    /// The query parameters, decoded, in order (repeated keys repeat).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The first value of query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }

    /// The value of header `name` (case-insensitive), if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON; `None` when empty or not JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What every connection of one server shares.
#[derive(Debug)]
pub(super) struct State {
    /// `http://127.0.0.1:PORT`, for absolute `next` links.
    pub(super) origin: String,
    pub(super) faults: Arc<FaultBook>,
    /// Normal answers scripted with [`MockServer::respond`].
    pub(super) responses: Arc<FaultBook>,
    /// Upload sessions and stored objects.
    pub(super) uploads: Uploads,
    /// Body bytes received on the storage routes.
    pub(super) storage_bytes: AtomicU64,
    /// Connections accepted so far (each one's number is the count then).
    connections: AtomicU64,
    /// The numbers of the connections that carried a storage request.
    pub(super) storage_connections: Mutex<std::collections::BTreeSet<u64>>,
    /// The last `X-Avala-Api-Key` an API request carried, for
    /// [`super::StorageKnobs::echo_key`].
    pub(super) last_api_key: Mutex<Option<String>>,
    pages: Mutex<HashMap<String, Arc<PageScript>>>,
    received: Mutex<Vec<ReceivedRequest>>,
    sequence: AtomicU64,
    /// `X-RateLimit-Reset`, as an epoch second.
    reset_at: u64,
    /// Scripted status sequences of waited-for jobs.
    pub(super) jobs: super::jobs::Jobs,
    /// Published public datasets and scripted grants.
    pub(super) resolver: super::resolver::Registry,
    /// Legacy Fleet upload sessions and stored objects.
    pub(super) fleet: super::fleet_legacy::FleetLegacy,
    /// Managed Fleet upload sessions.
    pub(super) managed: super::fleet_managed::Managed,
    /// Published export files.
    pub(super) exports: super::exports::Exports,
    /// One-shot edits of answers ([`MockServer::edit_next`]).
    pub(super) edits: super::edits::Edits,
}

impl State {
    pub(super) fn received(&self) -> MutexGuard<'_, Vec<ReceivedRequest>> {
        self.received.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn storage_connections(&self) -> MutexGuard<'_, std::collections::BTreeSet<u64>> {
        self.storage_connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn pages(&self) -> MutexGuard<'_, HashMap<String, Arc<PageScript>>> {
        self.pages.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next page of a list scripted with [`MockServer::paginate`].
    pub(super) fn page(&self, op: &schema::Operation, record: &ReceivedRequest) -> Option<Answer> {
        let script = self.pages().get(&op.id).cloned()?;
        Some(
            match script.page(&self.origin, &record.path, &record.query_pairs()) {
                Ok(page) => Answer::json(StatusCode::OK, &page),
                Err(detail) => Answer::problem(StatusCode::NOT_FOUND, detail, &[]),
            },
        )
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _)) => {
                let state = state.clone();
                let connection = state.connections.fetch_add(1, Ordering::SeqCst) + 1;
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { handle(request, &state, connection).await }
                    });
                    // A connection error (the client went away, a dropped or
                    // truncated answer) ends only that connection.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
            // Out of file descriptors and the like: wait, then accept again.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// How an answer leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    Whole,
    Truncate,
    Drop,
}

/// The answer to one request, before it is sent.
#[derive(Debug)]
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    /// `None`: no body (and no `Content-Type`).
    pub(super) body: Option<Bytes>,
    pub(super) delay: Duration,
    pub(super) delivery: Delivery,
    /// Scripted order: the answer leaves only once it gets a permit here…
    pub(super) after: Option<Arc<Semaphore>>,
    /// …and adds one here once it has left.
    pub(super) opens: Option<Arc<Semaphore>>,
}

impl Answer {
    pub(super) fn json(status: StatusCode, body: &Value) -> Self {
        Self::bytes(status, Some(Bytes::from(body.to_string())))
    }

    pub(super) fn bytes(status: StatusCode, body: Option<Bytes>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
            delivery: Delivery::Whole,
            after: None,
            opens: None,
        }
    }

    /// A problem answer: `{"detail": ..., "errors": [...]}`.
    pub(super) fn problem(status: StatusCode, detail: &str, errors: &[String]) -> Self {
        Self::json(status, &json!({ "detail": detail, "errors": errors }))
    }
}

/// The body types the mock sends.
enum MockBody {
    Whole(Option<Bytes>),
    /// Sends `half`, waits, then ends short of the announced length, which
    /// makes hyper close the connection. The wait starts only once the half
    /// is handed over, so that hyper flushes it (while the body is pending)
    /// before the end.
    Truncated {
        half: Option<Bytes>,
        linger: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl hyper::body::Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Whole(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Self::Truncated { half, linger } => {
                if let Some(half) = half.take() {
                    return Poll::Ready(Some(Ok(Frame::data(half))));
                }
                let linger =
                    linger.get_or_insert_with(|| Box::pin(tokio::time::sleep(TRUNCATE_LINGER)));
                ready!(linger.as_mut().poll(cx));
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Whole(body) => SizeHint::with_exact(body.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Truncated { .. } => SizeHint::default(),
        }
    }
}

async fn handle(
    request: Request<Incoming>,
    state: &State,
    connection: u64,
) -> io::Result<Response<MockBody>> {
    if super::storage::owns(request.uri().path()) {
        state.storage_connections().insert(connection);
        let answer = super::storage::serve(request, state).await?;
        let number = state.sequence.fetch_add(1, Ordering::SeqCst) + 1;
        return deliver(answer, number, state).await;
    }
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_REQUEST_BODY)
        .collect()
        .await
        .map_err(|e| io::Error::other(format!("reading the request body: {e}")))?
        .to_bytes();
    let number = state.sequence.fetch_add(1, Ordering::SeqCst) + 1;
    let mut record = ReceivedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        operation_id: None,
        path_params: BTreeMap::new(),
        violations: Vec::new(),
        status: None,
    };
    if let Some(key) = record.headers.get_mut(KEY_HEADER) {
        key.set_sensitive(true);
        if let Ok(text) = key.to_str() {
            *state.last_api_key.lock().unwrap_or_else(|p| p.into_inner()) = Some(text.to_owned());
        }
    }
    let answer = super::dispatch(state, &mut record);
    record.status = (answer.delivery != Delivery::Drop).then_some(answer.status.as_u16());
    let download = record.operation_id.as_deref() == Some(super::resolver::DOWNLOAD_OPERATION);
    state.received().push(record);
    if download {
        return state
            .resolver
            .in_flight(deliver(answer, number, state))
            .await;
    }
    deliver(answer, number, state).await
}

/// Sends `answer` (after its delay), or drops the connection.
async fn deliver(mut answer: Answer, number: u64, state: &State) -> io::Result<Response<MockBody>> {
    if let Some(gate) = answer.after.take() {
        // Closed only when the mock is dropped: then nothing waits anyway.
        if let Ok(permit) = gate.acquire().await {
            permit.forget();
        }
    }
    // Opened on every way out, so a held answer never waits forever.
    let _opens = answer.opens.take().map(Opens);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    if answer.delivery == Delivery::Drop {
        // An error from the service makes hyper close the connection without
        // writing anything.
        return Err(io::Error::other("fault: connection dropped"));
    }
    let mut response = Response::new(MockBody::Whole(None));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    if answer.body.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    headers.insert("x-request-id", header_value(&format!("mock-{number:06}")));
    headers.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(RATE_LIMIT.saturating_sub(number)),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(state.reset_at));
    for (name, _) in &answer.headers {
        headers.remove(name);
    }
    for (name, value) in answer.headers {
        headers.append(name, value);
    }
    *response.body_mut() = match answer.delivery {
        Delivery::Truncate => {
            let body = answer.body.unwrap_or_default();
            let announced = (body.len() as u64).max(1);
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(announced));
            MockBody::Truncated {
                half: Some(body.slice(..body.len() / 2)),
                linger: None,
            }
        }
        _ => MockBody::Whole(answer.body),
    };
    Ok(response)
}

/// Adds the permit of a scripted order when the answer has left.
struct Opens(Arc<Semaphore>);

impl Drop for Opens {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The operation `record` is for, its path parameters and violations filled
/// in; or the refusal (404, 405, 401, 400, 415, 422) when it has none or
/// does not fit the document.
pub(super) fn route(record: &mut ReceivedRequest) -> Result<&'static schema::Operation, Answer> {
    let method = record.method.clone();
    let below = record
        .path
        .strip_prefix(BASE_PATH)
        .filter(|p| p.starts_with('/'));
    let lookup = below.map_or(Lookup::NotFound, |p| routing::lookup(&method, p));
    let (op, params) = match lookup {
        Lookup::NotFound => {
            let why = format!("no operation of the API matches {method} {}", record.path);
            record.violations.push(why);
            return Err(Answer::problem(
                StatusCode::NOT_FOUND,
                "Not found.",
                &record.violations,
            ));
        }
        Lookup::MethodNotAllowed { allow } => {
            let why = format!(
                "{method} is not an operation of {}; allowed: {}",
                record.path,
                allow.join(", ")
            );
            record.violations.push(why);
            let mut answer = Answer::problem(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("Method \"{method}\" not allowed."),
                &record.violations,
            );
            answer
                .headers
                .push((header::ALLOW, header_value(&allow.join(", "))));
            return Err(answer);
        }
        Lookup::Found { op, params } => (op, params),
    };
    record.operation_id = Some(op.id.clone());
    record.path_params = params;

    match check(op, record) {
        Some(refusal) => Err(refusal),
        None => Ok(op),
    }
}

/// Checks the key, the query and the body; `Some` answer when refused.
fn check(op: &schema::Operation, record: &mut ReceivedRequest) -> Option<Answer> {
    let key = record.header(KEY_HEADER).unwrap_or_default().trim();
    if !op.anonymous && key.is_empty() {
        record
            .violations
            .push("header X-Avala-Api-Key is missing".to_owned());
        return Some(Answer::problem(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials were not provided.",
            &record.violations,
        ));
    }

    let mut status = None;
    let pairs = record.query_pairs();
    let query = super::params::check_query(op, &pairs);
    if !query.is_empty() {
        status = Some(StatusCode::BAD_REQUEST);
        record.violations.extend(query);
    }
    if op.has_request_body {
        let content_type = record.header("content-type").unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if record.body.is_empty() {
            if op.request_body_required {
                record
                    .violations
                    .push("body: a JSON body is required".to_owned());
                status = Some(StatusCode::BAD_REQUEST);
            }
        } else if !media.eq_ignore_ascii_case("application/json") {
            record.violations.push(format!(
                "header Content-Type: expected application/json, got {content_type:?}"
            ));
            status = Some(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        } else {
            match serde_json::from_slice::<Value>(&record.body) {
                Err(e) => {
                    record.violations.push(format!("body: not valid JSON: {e}"));
                    status = status.or(Some(StatusCode::BAD_REQUEST));
                }
                Ok(body) => {
                    if let Err(errors) = schema::validate_request(&op.id, &body) {
                        record
                            .violations
                            .extend(errors.into_iter().map(|e| format!("body: {e}")));
                        status = status.or(Some(StatusCode::UNPROCESSABLE_ENTITY));
                    }
                }
            }
        }
    }
    let status = status?;
    let detail = match status {
        StatusCode::UNPROCESSABLE_ENTITY => "The request body does not match the schema.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported media type in request.",
        _ => "The request is invalid.",
    };
    Some(Answer::problem(status, detail, &record.violations))
}

/// The operation's default example response (the first that is not
/// `forward-compat:`), with `next` and `previous` of a page envelope set to
/// `null` so that `.stream()` over an unscripted list ends after one page.
pub(super) fn example(op: &schema::Operation) -> Answer {
    match example_response(&op.id) {
        Some((status, mut body)) => {
            if let Some(envelope) = body.as_object_mut() {
                if envelope.contains_key("next") && envelope.contains_key("results") {
                    envelope.insert("next".into(), Value::Null);
                    envelope.insert("previous".into(), Value::Null);
                }
            }
            let status = StatusCode::from_u16(status)
                .ok()
                .filter(StatusCode::is_success)
                .unwrap_or(StatusCode::OK);
            Answer::json(status, &body)
        }
        None => Answer::problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The mock has no example response for this operation.",
            &[format!(
                "openapi/examples.json has no response for {}",
                op.id
            )],
        ),
    }
}

/// Plays `fault`; `normal` makes the answer it replaces or alters.
pub(super) fn play(fault: Fault, normal: impl FnOnce() -> Answer) -> Answer {
    let mut answer = match fault.action {
        Action::Status(status) => {
            let body = fault.body.clone().map(Bytes::from).unwrap_or_else(|| {
                let reason = status.canonical_reason().unwrap_or("Error");
                Bytes::from(json!({ "detail": reason }).to_string())
            });
            Answer::bytes(status, Some(body))
        }
        Action::Normal | Action::Truncate | Action::Drop => normal(),
    };
    if fault.action == Action::Truncate {
        if let Some(body) = &fault.body {
            answer.body = Some(Bytes::from(body.clone()));
        }
        answer.delivery = Delivery::Truncate;
    }
    if fault.action == Action::Drop {
        answer.delivery = Delivery::Drop;
    }
    fault.pace(&mut answer);
    answer.headers.extend(fault.headers);
    answer
}

/// The default example response of `operation_id` (the first that is not
/// a forward-compatibility example): its status and body.
fn example_response(operation_id: &str) -> Option<(u16, Value)> {
    let example = super::examples::default_response(operation_id)?;
    Some((example.status.unwrap_or(200), example.body.clone()))
}
