//! One classifier per plane: pure functions answering "may another try
//! succeed, and after how long at least?".

use std::time::Duration;

use reqwest::{header::HeaderMap, Method, StatusCode};

use crate::{error::UploadError, Error};

/// What a classifier says about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Final: a success, or a failure another try would not change.
    Done,
    /// Worth another try, after at least `server` (its `Retry-After`) when
    /// the server named a wait.
    Again {
        /// The server's `Retry-After`, parsed.
        server: Option<Duration>,
    },
}

impl Verdict {
    fn again_if(retry: bool, server: Option<Duration>) -> Self {
        if retry {
            Self::Again { server }
        } else {
            Self::Done
        }
    }
}

/// Methods whose repetition cannot change the outcome. POST and PATCH are
/// never repeated by the API plane.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

// The errors answer from these rules; they are written here, not in
// `error`, so that `error` does not import `retry` (no import circle).
impl Error {
    /// Whether retrying the same request later may succeed, by the rules of
    /// [`crate::retry`]: for an API error its status (408, 429, 502, 503,
    /// 504) or a transport failure; for an upload error the storage rule.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { source, .. } => transport(source),
            Self::Upload(e) => e.is_retryable(),
            other => other.status().is_some_and(api_status),
        }
    }
}

impl UploadError {
    /// Whether another attempt of the same file may succeed: the storage
    /// plane's rule of [`crate::retry`] (transport failures, 408, 429, any
    /// 5xx, and a 412 the request did not ask for, which a new presigned URL
    /// may clear).
    pub fn is_retryable(&self) -> bool {
        storage(self) != Verdict::Done
    }
}

/// Whether an API answer with `status` asks for a wait past the one cap:
/// such an error is `RateLimited`, carrying the server's value.
pub(crate) fn waits_too_long(status: u16, retry_after: Option<std::time::Duration>) -> bool {
    api_status(status)
        && matches!(
            super::server_wait(retry_after),
            super::ServerWait::TooLong(_)
        )
}

/// API statuses worth another try: a timeout, a rate limit, and a gateway
/// or service that is down for a moment. A 500 is not: it is an answer the
/// API would most likely give again.
pub(crate) fn api_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

/// Storage statuses worth another try (§8): a timeout, a rate limit, any
/// 5xx (object stores name 500 as retryable), and a 412 the request did not
/// ask for, which a new presigned URL may clear.
pub(crate) fn storage_status(status: u16) -> bool {
    matches!(status, 408 | 412 | 429 | 500..=599)
}

/// Transport failures worth another try: no connection, a timeout, or a
/// connection that failed while the request or its answer was in flight.
pub(crate) fn transport(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

/// The API plane, for one attempt of a call with `method`.
pub(crate) fn api(method: &Method, result: &reqwest::Result<reqwest::Response>) -> Verdict {
    if !is_idempotent(method) {
        return Verdict::Done;
    }
    match result {
        Ok(response) => Verdict::again_if(
            api_status(response.status().as_u16()),
            super::retry_after(response.headers()),
        ),
        Err(e) => Verdict::again_if(transport(e), None),
    }
}

/// The storage plane: a data-plane failure of a transfer.
pub(crate) fn storage(e: &UploadError) -> Verdict {
    match e {
        UploadError::Storage {
            status,
            retry_after,
            ..
        } => Verdict::again_if(storage_status(*status), *retry_after),
        UploadError::StorageTransport { .. } => Verdict::Again { server: None },
        _ => Verdict::Done,
    }
}

/// A step of an upload workflow, which the protocol says may be repeated
/// whatever its method: storage failures by [`storage`], API failures by
/// the API's statuses and transport rule.
pub(crate) fn workflow<T>(result: &crate::Result<T>) -> Verdict {
    let Err(e) = result else {
        return Verdict::Done;
    };
    match e {
        Error::Upload(u) => storage(u),
        Error::Transport { source, .. } => Verdict::again_if(transport(source), None),
        Error::RateLimited { retry_after, .. } => Verdict::Again {
            server: *retry_after,
        },
        other => Verdict::again_if(other.status().is_some_and(api_status), None),
    }
}

/// An export download's attempt: a storage status by [`storage_status`]
/// (a `RateLimited` with its `Retry-After`), a transport failure or a body
/// cut short by [`transport`]; the rest (a refused host, a redirect, a
/// size or checksum mismatch, a local file error) is final.
pub(crate) fn download<T>(result: &crate::Result<T>) -> Verdict {
    let Err(e) = result else {
        return Verdict::Done;
    };
    match e {
        Error::Transport { source, .. } => Verdict::again_if(transport(source), None),
        Error::RateLimited { retry_after, .. } => Verdict::Again {
            server: *retry_after,
        },
        other => Verdict::again_if(other.status().is_some_and(storage_status), None),
    }
}

/// The resolver plane: only a 429 is repeated (§8).
pub(crate) fn resolver(status: StatusCode, headers: &HeaderMap) -> Verdict {
    Verdict::again_if(
        status == StatusCode::TOO_MANY_REQUESTS,
        super::retry_after(headers),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage_error(status: u16, after: Option<u64>) -> UploadError {
        UploadError::Storage {
            path: "a".into(),
            status,
            body: String::new(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn only_safe_methods_are_idempotent() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::DELETE));
        assert!(is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }

    #[test]
    fn api_and_storage_statuses_differ_only_where_meant() {
        for s in [408, 429, 502, 503, 504] {
            assert!(api_status(s) && storage_status(s), "{s}");
        }
        for s in [500, 501, 505, 599] {
            assert!(!api_status(s) && storage_status(s), "{s}");
        }
        assert!(!api_status(412) && storage_status(412));
        for s in [200, 400, 401, 403, 404, 409, 413, 422, 600] {
            assert!(!api_status(s) && !storage_status(s), "{s}");
        }
    }

    #[test]
    fn storage_carries_the_servers_wait() {
        assert_eq!(
            storage(&storage_error(503, Some(7))),
            Verdict::Again {
                server: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(storage(&storage_error(403, Some(7))), Verdict::Done);
        let reset = UploadError::StorageTransport {
            path: "a".into(),
            message: "reset".into(),
        };
        assert_eq!(storage(&reset), Verdict::Again { server: None });
        assert_eq!(
            storage(&UploadError::FileChanged { path: "a".into() }),
            Verdict::Done
        );
    }

    #[test]
    fn a_workflow_step_repeats_storage_and_api_failures_alike() {
        let up: crate::Result<()> = Err(storage_error(500, None).into());
        assert_eq!(workflow(&up), Verdict::Again { server: None });
        let ok: crate::Result<()> = Ok(());
        assert_eq!(workflow(&ok), Verdict::Done);
        let bad: crate::Result<()> = Err(Error::InvalidArgument {
            message: "x".into(),
        });
        assert_eq!(workflow(&bad), Verdict::Done);
    }

    #[test]
    fn the_resolver_repeats_429_only() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(
            resolver(StatusCode::TOO_MANY_REQUESTS, &h),
            Verdict::Again {
                server: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(resolver(StatusCode::SERVICE_UNAVAILABLE, &h), Verdict::Done);
    }

    #[test]
    fn a_request_that_could_not_be_built_is_not_a_transport_failure_to_retry() {
        // A bad URL fails before any connection: another try fails the same.
        let built = reqwest::Client::new().get("http://[::1").build();
        let source = built.expect_err("not a URL");
        assert!(source.is_builder(), "{source:?}");
        assert!(!transport(&source));
        let e = Error::Transport {
            message: "bad URL".into(),
            source,
        };
        assert!(!e.is_retryable());
    }

    #[test]
    fn is_retryable_answers_by_the_planes_rules() {
        let bad: Error = Error::InvalidArgument {
            message: "x".into(),
        };
        assert!(!bad.is_retryable());
        let up = |e: UploadError| -> Error { e.into() };
        assert!(up(storage_error(503, None)).is_retryable());
        assert!(!up(storage_error(403, None)).is_retryable());
        // The storage rule, as the upload error answers it.
        assert!(storage_error(500, None).is_retryable());
        assert!(storage_error(412, None).is_retryable());
        assert!(!storage_error(404, None).is_retryable());
        let reset = UploadError::StorageTransport {
            path: "a".into(),
            message: "reset".into(),
        };
        assert!(reset.is_retryable());
        assert!(!UploadError::FileChanged { path: "a".into() }.is_retryable());
    }

    /// A loopback server that reads one request, writes `reply` and closes
    /// the connection.
    async fn answering_once(reply: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(reply).await;
        });
        url
    }

    #[tokio::test]
    async fn a_connection_lost_before_or_during_the_answer_is_worth_another_try() {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // Closed before any answer: a request error, neither a refused
        // connection nor a timeout.
        let lost = client
            .get(answering_once(b"").await)
            .send()
            .await
            .unwrap_err();
        assert!(
            lost.is_request() && !lost.is_connect() && !lost.is_timeout(),
            "{lost:?}"
        );
        assert!(transport(&lost));
        // The answer cut short: reqwest calls it a decode error.
        let cut = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        let response = client.get(answering_once(cut).await).send().await.unwrap();
        let cut = response.bytes().await.unwrap_err();
        assert!(
            cut.is_decode() && !cut.is_request() && !cut.is_body(),
            "{cut:?}"
        );
        assert!(transport(&cut));
    }
}
