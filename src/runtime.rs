//! Per-client state shared by the request hooks.

use std::{fmt, sync::Arc};

use crate::{
    auth::ApiKey,
    rate_limit::{Latest, RateLimit},
    retry::RetryPolicy,
};

/// Shared, cheap to clone; the generated client carries it as `inner`.
#[derive(Clone)]
pub struct Runtime(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) api_key: ApiKey,
    /// The configured API origin: the key is attached only to it.
    pub(crate) origin: url::Origin,
    /// The path of the base URL without a trailing `/` (e.g. `/api/v1`).
    pub(crate) base_path: String,
    pub(crate) retry: RetryPolicy,
    /// The most bytes read of any response body.
    pub(crate) max_response_bytes: u64,
    /// Written on every response without a lock ([`Latest`]).
    pub(crate) rate_limit: Latest,
    /// The runtime of the client's blocking calls, built on first use.
    #[cfg(feature = "blocking")]
    pub(crate) blocking: crate::blocking::Engine,
}

impl Runtime {
    pub(crate) fn shared(&self) -> &Shared {
        &self.0
    }

    pub(crate) fn record_rate_limit(&self, headers: &reqwest::header::HeaderMap) {
        self.0.rate_limit.store(RateLimit::from_headers(headers));
    }

    pub(crate) fn last_rate_limit(&self) -> Option<RateLimit> {
        self.0.rate_limit.load()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("api_key", &self.0.api_key)
            .field("retry", &self.0.retry)
            .finish_non_exhaustive()
    }
}
