//! The resolver's anonymous HTTP: one `reqwest` client that has no key to
//! send, follows no redirect, ignores proxy variables, and reads every JSON
//! body with a bound.
//!
//! The generated client is not used on purpose: it exists to attach the API
//! key, and a resolver must not even hold one.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use bytes::Bytes;
use reqwest::{header, Method, StatusCode};

use super::{
    documents::{self, integrity},
    reference::Reference,
};
use crate::capture::MAX_ERROR_BODY;
use crate::{
    config::BaseUrl,
    network::TestNetwork,
    retry::{self, RetryPolicy},
    Error, Result,
};

/// The most a resolver JSON document may weigh.
pub(crate) const MAX_DOCUMENT: usize = crate::body::DEFAULT_MAX_RESPONSE_BYTES as usize;

/// The HTTP side of a resolver.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) base: BaseUrl,
    pub(crate) timeout: Duration,
    /// How a 429 is repeated (the resolver plane of [`crate::retry`]).
    pub(crate) retry: RetryPolicy,
    /// The runtime of the resolver's blocking calls, built on first use.
    #[cfg(feature = "blocking")]
    pub(crate) blocking: crate::blocking::Engine,
}

/// A 2xx JSON document and the response's `Date` header.
pub(crate) struct Document {
    pub(crate) body: Bytes,
    pub(crate) date: Option<String>,
}

impl Transport {
    pub(crate) fn new(
        base: BaseUrl,
        timeout: Duration,
        retry: RetryPolicy,
        network: &TestNetwork,
    ) -> Result<Self> {
        let http = network
            .apply(reqwest::Client::builder())?
            .https_only(base.https)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("avala-rust/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .map_err(|e| Error::config(format!("could not build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            timeout,
            retry,
            #[cfg(feature = "blocking")]
            blocking: Default::default(),
        })
    }

    /// `method` on `path` (below the API root) with `query`, returning the
    /// 2xx body. A 429 is repeated by the resolver plane of [`crate::retry`]
    /// (3 retries; a `Retry-After` past the SDK's 60 s cap, unlike Python's
    /// 300 s, is not waited for: the `RateLimited` error carries it). A POST
    /// that gets 405 is sent once more as GET; a 410 is [`Error::Withdrawn`]
    /// when its body names the revision `reference` pins.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        reference: Option<&Reference>,
    ) -> Result<Document> {
        let url = format!("{}{path}", self.base.text);
        // An older server answers the grant's POST with 405: from then on
        // the same resource is asked for with GET.
        let as_get = AtomicBool::new(false);
        let response = retry::run(&self.retry, retry::Plane::Resolver, |_| async {
            let result = self.send(&method, &url, query, &as_get).await;
            let verdict = match &result {
                Ok(response) => retry::resolver(response.status(), response.headers()),
                Err(_) => retry::Verdict::Done,
            };
            (result, verdict)
        })
        .await?;
        let status = response.status();
        if status == StatusCode::GONE {
            return Err(withdrawn(response, reference).await);
        }
        if !status.is_success() {
            return Err(failure(response).await);
        }
        let date = response
            .headers()
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_bounded(response, MAX_DOCUMENT).await?.ok_or_else(|| {
            integrity(format!("a resolver document exceeds {MAX_DOCUMENT} bytes"))
        })?;
        Ok(Document { body, date })
    }

    /// One attempt with `method`, or GET once a POST got 405 (then at once).
    async fn send(
        &self,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        as_get: &AtomicBool,
    ) -> Result<reqwest::Response> {
        loop {
            let method = if as_get.load(Ordering::Relaxed) {
                Method::GET
            } else {
                method.clone()
            };
            let response = self
                .http
                .request(method.clone(), url)
                .query(query)
                .header(header::ACCEPT, "application/json")
                .timeout(self.timeout)
                .send()
                .await
                .map_err(transport)?;
            if method == Method::POST && response.status() == StatusCode::METHOD_NOT_ALLOWED {
                as_get.store(true, Ordering::Relaxed);
                continue;
            }
            return Ok(response);
        }
    }
}

/// A request that did not complete, without its URL (which may be a grant).
pub(crate) fn transport(e: reqwest::Error) -> Error {
    Error::from(progenitor_client::Error::<()>::CommunicationError(
        e.without_url(),
    ))
}

/// Reads a body up to `limit` bytes: `None` when it is longer.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Bytes>> {
    let read = crate::body::read_at_most(&mut response, limit as u64).await;
    match read.failed {
        Some(e) => Err(transport(e)),
        None => Ok((!read.over).then_some(read.bytes)),
    }
}

/// The error of a non-2xx answer, captured and mapped as the API client's
/// (the resolver holds no key: only the secret patterns apply).
async fn failure(response: reqwest::Response) -> Error {
    let captured = crate::capture::error_response(response, "", MAX_ERROR_BODY as u64).await;
    Error::from(progenitor_client::Error::<()>::UnexpectedResponse(captured))
}

/// A 410: the revision was withdrawn. Only a pinned reference (a digest or
/// a canonical reference) can be withdrawn, and the body must name it;
/// anything else is an identity failure (§13.3).
async fn withdrawn(mut response: reqwest::Response, reference: Option<&Reference>) -> Error {
    let raw = crate::body::read_at_most(&mut response, MAX_ERROR_BODY as u64)
        .await
        .bytes;
    let document: Option<documents::Withdrawn> = serde_json::from_slice(&raw).ok();
    match (document, reference) {
        (Some(doc), Some(reference)) if doc.matches(reference) => Error::Withdrawn {
            canonical_reference: doc.canonical_reference,
            dataset_uid: doc.dataset_uid,
            revision_sha256: doc.revision_sha256,
        },
        _ => integrity(
            "HTTP 410 for a reference that does not pin the withdrawn revision (an alias cannot be withdrawn)",
        ),
    }
}
