//! The SDK's error type and its mapping from the generated client's errors.
//!
//! The `exec` hook reads every non-2xx body (bounded), redacts it and leaves
//! the parsed facts in the response's extensions, so that the conversion from
//! `progenitor_client::Error` is a plain synchronous `From`: `?` on any
//! generated call yields the fully mapped [`Error`].

mod upload;

use std::time::Duration;

use serde_json::Value;

pub use upload::{KindCount, UploadError};

/// Result of every SDK call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the API said in an error response, already redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// One line for a person: the body's `detail` when it is a string, else
    /// its DRF field errors (`slug: Dataset with this slug already exists.`),
    /// else `HTTP <status>`; control characters escaped, at most 1024
    /// characters (the body keeps the server's exact text).
    pub message: String,
    /// The body as JSON, when it was JSON (redacted).
    pub body: Option<Value>,
    /// The body as text, at most 64 KiB (redacted).
    pub raw_body: String,
    /// The `X-Request-Id` header, when present.
    pub request_id: Option<String>,
}

/// Every error the SDK returns.
///
/// | variant | when |
/// |---|---|
/// | `Config` | missing key, bad or insecure base URL (before any request) |
/// | `InvalidArgument` | a bad argument, e.g. a path parameter of `""`, `.` or `..` (before any request) |
/// | `Authentication` / `Forbidden` / `NotFound` | 401 / 403 / 404 |
/// | `Validation` | 400 or 422, with `details` |
/// | `QuotaExceeded` | 413 with `limit` and `used` |
/// | `RateLimited` | 429, or a retryable status asking for a wait over the 60 s cap; with `retry_after` |
/// | `Server` | 500–599 |
/// | `Api` | any other status, 3xx included (redirects are never followed), and statuses outside 100–599 |
/// | `Transport` | connect, TLS, timeout, a body that breaks off; its source carries no URL |
/// | `ResponseTooLarge` | a 2xx body over `max_response_bytes` |
/// | `Decode` | a 2xx body that does not fit the model |
/// | `WaitTimeout` | a wait reached its timeout, with the last status seen |
/// | `Upload` | an upload's storage, local file, resume state or protocol failure ([`crate::upload::UploadError`]) |
/// | `Integrity` | resolver: a size or SHA-256 mismatch, a cut-short or redirected download, a document that does not match what was asked, object paths that collide |
/// | `Withdrawn` | resolver: the pinned revision was withdrawn by its publisher (410 naming it) |
/// | `ObjectTooLarge` | resolver: an in-memory read of an object over the caller's limit (before any request) |
/// | `FileConflict` | a download would replace a file that differs (without `overwrite`) or write through a symbolic link; nothing was written there |
/// | `BlockingInAsync` | a blocking call (feature `blocking`) made inside an async runtime; nothing was sent |
///
/// No variant ever holds the API key. No server chooses the client's
/// memory: a 2xx body is read up to `ClientBuilder::max_response_bytes`
/// (default 64 MiB), an error body up to 64 KiB, and kept redacted in
/// [`ApiError::raw_body`]. The key is scrubbed from everything an error
/// keeps (bodies, also when cut short or not JSON; the `X-Request-Id`;
/// messages; the source chain) in every spelling a server can echo it in:
/// literal, JSON `\uXXXX` escapes or percent-encoding in any mix, any 8 or
/// more consecutive characters of it, and its start where a cut split it.
/// The protocol's secret patterns (JWTs, AWS keys, bearer tokens, …) are
/// redacted too.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad configuration (missing key, bad or insecure base URL), raised by
    /// the constructor before any request.
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and what to do.
        message: String,
    },
    /// A bad argument, refused before any request was sent.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },
    /// HTTP 401: the key is missing, wrong or revoked.
    #[error("authentication failed (HTTP 401): {}", .0.message)]
    Authentication(Box<ApiError>),
    /// HTTP 403: the key may not do this.
    #[error("forbidden (HTTP 403): {}", .0.message)]
    Forbidden(Box<ApiError>),
    /// HTTP 404.
    #[error("not found (HTTP 404): {}", .0.message)]
    NotFound(Box<ApiError>),
    /// HTTP 400 or 422: the request was refused as invalid.
    #[error("validation failed (HTTP {}): {}", .error.status, .error.message)]
    Validation {
        /// The response.
        error: Box<ApiError>,
        /// The body when it is a JSON array, else empty.
        details: Vec<Value>,
    },
    /// HTTP 413 with a `{limit, used}` body: a storage quota would be exceeded.
    #[error("quota exceeded (HTTP 413): {}", .error.message)]
    QuotaExceeded {
        /// The response.
        error: Box<ApiError>,
        /// The quota, in bytes.
        limit: Option<u64>,
        /// Bytes used, including open reservations.
        used: Option<u64>,
    },
    /// HTTP 429 after the retries allowed for the request were spent, or
    /// a 408, 502, 503 or 504 whose `Retry-After` asks for a longer wait
    /// than the SDK ever makes (60 s): the server's wait is not slept but
    /// handed over in `retry_after`. [`Error::status`] gives the status.
    #[error("rate limited (HTTP {}): {}", .error.status, .error.message)]
    RateLimited {
        /// The response.
        error: Box<ApiError>,
        /// The server's `Retry-After`, in seconds or as an HTTP date.
        retry_after: Option<Duration>,
    },
    /// HTTP 500–599.
    #[error("server error (HTTP {}): {}", .0.status, .0.message)]
    Server(Box<ApiError>),
    /// Any other status, 3xx included (redirects are never followed), and
    /// statuses outside 100–599.
    #[error("unexpected response (HTTP {}): {}", .0.status, .0.message)]
    Api(Box<ApiError>),
    /// The request did not complete: connect, TLS, timeout, or a body read.
    #[error("transport error: {message}")]
    Transport {
        /// What failed (redacted).
        message: String,
        /// The underlying error, stripped of the request URL (which could
        /// carry a secret in its query).
        #[source]
        source: reqwest::Error,
    },
    /// A response body longer than [`crate::ClientBuilder::max_response_bytes`];
    /// reading stopped at the limit.
    #[error("the HTTP {status} response body is over the limit of {limit} bytes; raise it with ClientBuilder::max_response_bytes if the answer is legitimate")]
    ResponseTooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// The response's status.
        status: u16,
    },
    /// A 2xx body that does not fit the model.
    #[error("could not decode the response: {message}")]
    Decode {
        /// What did not fit (redacted).
        message: String,
        /// The body, at most 64 KiB (redacted).
        body: Option<String>,
    },
    /// A wait (see [`crate::wait`] for the outcome rule every wait follows)
    /// reached its timeout before the job finished.
    #[error("gave up waiting after {waited:.1?}; last status: {}", .last_status.as_deref().unwrap_or("none"))]
    WaitTimeout {
        /// How long the wait lasted.
        waited: Duration,
        /// The status of the last observation, if one was made and had one.
        last_status: Option<String>,
    },
    /// A waited-for job ended in its failure state: an export `failed`, a
    /// Fleet recording in `error`, a managed publication `failed` (see
    /// [`crate::wait`] for the outcome rule every wait follows).
    #[error("{job} failed; last status: {status}")]
    JobFailed {
        /// The job, e.g. `export exp_1` or `recording <uid>`.
        job: String,
        /// Its last status, e.g. `failed` or `failed (invalid_mcap)`.
        status: String,
    },
    /// Downloaded bytes or a resolver document failed a check: a size or
    /// SHA-256 mismatch, a truncated or redirected download, an identity
    /// that does not match, a manifest out of order or with duplicates.
    #[error("integrity check failed: {message}")]
    Integrity {
        /// Which check failed (never a signed URL).
        message: String,
    },
    /// Resolver: the pinned revision was withdrawn by its publisher (an
    /// HTTP 410 whose body names exactly the revision asked for);
    /// [`Error::status`] is `Some(410)`. An alias is never withdrawn: it
    /// moves to another revision.
    #[error("dataset revision {canonical_reference} was withdrawn by its publisher (HTTP 410)")]
    Withdrawn {
        /// `avala://datasets/<dataset_uid>@<revision_sha256>`.
        canonical_reference: String,
        /// The dataset's uid.
        dataset_uid: String,
        /// The withdrawn revision's SHA-256.
        revision_sha256: String,
    },
    /// Resolver: an in-memory read of an object whose manifest size is over
    /// the caller's limit; refused before any request, so nothing was
    /// buffered. Stream the object or download it to a file instead.
    #[error("the object has {size_bytes} bytes, over the in-memory read limit of {max_bytes} bytes; stream it or download it to a file instead")]
    ObjectTooLarge {
        /// The object's size, as the manifest declares it.
        size_bytes: u64,
        /// The limit the read was given.
        max_bytes: u64,
    },
    /// A download stopped before writing where it must not: over a local
    /// file that differs from the object (allowed only with `overwrite`,
    /// then `overwritable` is true), through a symbolic link, or over
    /// something that is not a regular file. What is at `path` is left as
    /// it was.
    #[error("refusing to write {}: {reason}", .path.display())]
    FileConflict {
        /// The local path that would have been replaced or written through.
        path: std::path::PathBuf,
        /// Why it was refused.
        reason: String,
        /// Whether `overwrite` would have replaced it.
        overwritable: bool,
    },
    /// An export that has no file to download yet: it has not finished
    /// (`status` is its status), or it finished without a `download_url`.
    /// A `failed` export is [`Error::JobFailed`] instead.
    #[error("export {uid} has no file to download yet (status: {}); wait for it (`.wait(timeout)`) and try again", .status.as_deref().unwrap_or("none"))]
    ExportNotReady {
        /// The export.
        uid: String,
        /// Its status as the server gave it (scrubbed, bounded).
        status: Option<String>,
    },
    /// An upload (dataset or Fleet recording) failed outside the API calls:
    /// storage, local files, the resume state, or server evidence that does
    /// not match the local receipts (see [`UploadError`]).
    #[error("upload failed: {0}")]
    Upload(Box<UploadError>),
    /// A blocking call (`send_blocking` or another `_blocking` method of the
    /// feature `blocking`) on a thread inside a Tokio runtime, where
    /// blocking could stall the runtime the call needs; it returned before
    /// any request. Use the async method there.
    #[error("a blocking call was made inside an async runtime, where it could stall the runtime; nothing was sent: use the async method (`.send().await`) there")]
    BlockingInAsync,
}

impl Error {
    /// The HTTP status, for errors that come from a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Withdrawn { .. } => Some(410),
            other => other.api_error().map(|e| e.status),
        }
    }

    /// A one-line message: the server's `detail`, `HTTP <status>`, or what
    /// went wrong locally.
    pub fn message(&self) -> String {
        match self {
            Self::Config { message }
            | Self::InvalidArgument { message }
            | Self::Transport { message, .. }
            | Self::Decode { message, .. }
            | Self::Integrity { message } => message.clone(),
            Self::WaitTimeout { .. }
            | Self::JobFailed { .. }
            | Self::FileConflict { .. }
            | Self::Withdrawn { .. }
            | Self::ObjectTooLarge { .. }
            | Self::BlockingInAsync => self.to_string(),
            Self::Upload(e) => e.to_string(),
            other => other
                .api_error()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
        }
    }

    /// The response details, for errors that come from a response.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Authentication(e) | Self::Forbidden(e) | Self::NotFound(e) => Some(e),
            Self::Server(e) | Self::Api(e) => Some(e),
            Self::Validation { error, .. }
            | Self::QuotaExceeded { error, .. }
            | Self::RateLimited { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Removes the client's key from the texts that did not pass through the
    /// `exec` hook's capture: a 2xx body that failed to decode, and local
    /// messages (a server may echo the key in any body).
    pub(crate) fn without_key_of(self, client: &crate::generated::Client) -> Self {
        let key = progenitor_client::ClientInfo::inner(client)
            .shared()
            .api_key
            .expose_for_scrubbing();
        let scrub = |text: &str| crate::scrub::scrub(text, key);
        match self {
            Self::Decode { message, body } => Self::Decode {
                message: scrub(&message),
                body: body.map(|b| scrub(&b)),
            },
            Self::InvalidArgument { message } => Self::InvalidArgument {
                message: scrub(&message),
            },
            Self::Transport { message, source } => Self::Transport {
                message: scrub(&message),
                source,
            },
            other => other,
        }
    }

    /// Removes each of `secrets` (credentials the caller gave for a request
    /// body, which a server may echo) from every text the error keeps, in
    /// every spelling the key's scrub recognises. A secret under 8
    /// characters is left alone: removing it would mangle ordinary words.
    pub(crate) fn without_secrets(mut self, secrets: &[&str]) -> Self {
        for secret in secrets.iter().filter(|s| s.trim().chars().count() >= 8) {
            self = self.map_texts(&|text| crate::scrub::without_key(text, secret).into_owned());
        }
        self
    }

    /// The error with `f` applied to each text it keeps.
    fn map_texts(mut self, f: &dyn Fn(&str) -> String) -> Self {
        if let Some(api) = self.api_error_mut() {
            api.message = f(&api.message);
            api.raw_body = f(&api.raw_body);
            api.request_id = api.request_id.as_deref().map(f);
            if let Some(body) = &mut api.body {
                map_strings(body, f);
            }
        }
        match &mut self {
            Self::Validation { details, .. } => details.iter_mut().for_each(|d| map_strings(d, f)),
            Self::Decode { message, body } => {
                *message = f(message);
                *body = body.as_deref().map(f);
            }
            Self::InvalidArgument { message }
            | Self::Config { message }
            | Self::Transport { message, .. } => *message = f(message),
            _ => {}
        }
        self
    }

    fn api_error_mut(&mut self) -> Option<&mut ApiError> {
        match self {
            Self::Authentication(e) | Self::Forbidden(e) | Self::NotFound(e) => Some(e),
            Self::Server(e) | Self::Api(e) => Some(e),
            Self::Validation { error, .. }
            | Self::QuotaExceeded { error, .. }
            | Self::RateLimited { error, .. } => Some(error),
            _ => None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
        }
    }

    /// Maps a response's status and facts onto a variant.
    pub(crate) fn from_response(facts: ResponseFacts) -> Self {
        let ResponseFacts {
            error,
            retry_after,
            wait_too_long,
        } = facts;
        // Boxed so that `Result<T, Error>` stays small on the happy path.
        let error = Box::new(error);
        let int = |k: &str| error.body.as_ref()?.get(k)?.as_u64();
        if wait_too_long {
            return Self::RateLimited { error, retry_after };
        }
        match error.status {
            400 | 422 => Self::Validation {
                details: match &error.body {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                },
                error,
            },
            401 => Self::Authentication(error),
            403 => Self::Forbidden(error),
            404 => Self::NotFound(error),
            413 if int("limit").is_some() || int("used").is_some() => {
                let (limit, used) = (int("limit"), int("used"));
                Self::QuotaExceeded { error, limit, used }
            }
            429 => Self::RateLimited { error, retry_after },
            500..=599 => Self::Server(error),
            _ => Self::Api(error),
        }
    }
}

/// What the `exec` hook learnt from a non-2xx response; travels to the `From`
/// conversion in the rebuilt response's extensions.
#[derive(Debug, Clone)]
pub(crate) struct ResponseFacts {
    pub(crate) error: ApiError,
    pub(crate) retry_after: Option<Duration>,
    /// A retryable status whose `Retry-After` is past the one cap
    /// ([`crate::retry::waits_too_long`]): the error is `RateLimited`.
    pub(crate) wait_too_long: bool,
}

impl ResponseFacts {
    /// Facts for a response whose body was not captured.
    fn status_only(status: reqwest::StatusCode) -> Self {
        Self {
            error: ApiError {
                status: status.as_u16(),
                message: format!("HTTP {}", status.as_u16()),
                body: None,
                raw_body: String::new(),
                request_id: None,
            },
            retry_after: None,
            wait_too_long: false,
        }
    }
}

impl From<progenitor_client::Error> for Error {
    fn from(e: progenitor_client::Error) -> Self {
        use progenitor_client::Error as P;
        match e {
            P::InvalidRequest(message) | P::Custom(message) => Self::InvalidArgument {
                message: crate::redact::redact_text(&message),
            },
            P::CommunicationError(source) | P::InvalidUpgrade(source) => Self::Transport {
                message: transport_message(&source),
                source: source.without_url(),
            },
            P::ResponseBodyError(source) => match too_large(&source) {
                Some(crate::body::TooLarge { limit, status }) => {
                    Self::ResponseTooLarge { limit, status }
                }
                None => Self::Transport {
                    message: format!("reading the response body: {}", transport_message(&source)),
                    source: source.without_url(),
                },
            },
            P::InvalidResponsePayload(bytes, err) => Self::Decode {
                message: crate::redact::redact_text(&err.to_string()),
                body: Some(bounded_text(&bytes)),
            },
            P::UnexpectedResponse(response) => Self::from_response(
                response
                    .extensions()
                    .get::<ResponseFacts>()
                    .cloned()
                    .unwrap_or_else(|| ResponseFacts::status_only(response.status())),
            ),
            // Not produced: the document declares no error responses.
            P::ErrorResponse(rv) => Self::from_response(ResponseFacts::status_only(rv.status())),
        }
    }
}

/// A bounded, pattern-redacted text copy of a body that failed to decode
/// (the key is removed later, by [`Error::without_key_of`]).
fn bounded_text(bytes: &[u8]) -> String {
    let end = bytes.len().min(crate::body::MAX_ERROR_BODY);
    crate::scrub::scrub(&String::from_utf8_lossy(&bytes[..end]), "")
}

/// The [`crate::body::TooLarge`] somewhere in `e`'s sources.
fn too_large(e: &reqwest::Error) -> Option<crate::body::TooLarge> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<crate::body::TooLarge>() {
            return Some(*found);
        }
        source = s.source();
    }
    None
}

/// A description of a reqwest error without its URL.
pub(crate) fn transport_message(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_body() || e.is_decode() {
        "body error"
    } else if e.is_builder() {
        "could not build the request"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    crate::redact::redact_text(&message)
}

/// Applies `f` to every string of a JSON value, keys included.
fn map_strings(value: &mut Value, f: &dyn Fn(&str) -> String) {
    match value {
        Value::String(text) => *text = f(text),
        Value::Array(items) => items.iter_mut().for_each(|v| map_strings(v, f)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                map_strings(&mut v, f);
                map.insert(f(&key), v);
            }
        }
        _ => {}
    }
}
