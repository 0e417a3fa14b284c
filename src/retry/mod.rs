//! Which requests are repeated, how often, and how long the SDK waits in
//! between: one [`RetryPolicy`], one classifier per plane, one loop.
//!
//! | Plane | What is retried | Attempts | Backoff | Longest wait |
//! |---|---|---|---|---|
//! | API calls ([`crate::Client`]) | GET, HEAD, PUT, DELETE, OPTIONS answered 408, 429, 502, 503 or 504, or failing in transport (no connection, a timeout, a connection lost in flight); never POST or PATCH | 1 + `max_retries` (default 3) | `base · 2ⁿ` up to `max_delay`, times ½–1 | the larger of the step (default ≤ 30 s) and the server's `Retry-After` (≤ 60 s) |
//! | Dataset upload, per file (presign, transfer, complete) | storage 408, 412, 429, any 5xx, a storage transport failure; the API steps on the API's statuses and transport failures, whatever their method (the protocol says they may repeat) | 8 | the same curve | the same |
//! | Fleet uploads (a legacy PUT; a managed admit, part grant, finalisation) | as the dataset upload (a legacy PUT has no API step) | 3 | the same curve | the same |
//! | Resolver | 429 only | 4 | the same curve | the same |
//! | Export download ([`crate::Client::download_export`]) | storage 408, 412, 429, any 5xx, a transport failure or a body cut short; each attempt continues from the bytes on disk when the server allows | 3 | the same curve | the same |
//!
//! With the default policy the curve is 500 ms, 1 s, 2 s, … up to 30 s,
//! each step cut by a random factor between ½ and 1 (see
//! [`RetryPolicy::default`] for why). A server's `Retry-After` (seconds or
//! an HTTP date) is a floor on that step, up to [`MAX_SERVER_WAIT`] (60 s):
//! a longer one is not waited for at all. The loop ends at once with the
//! error, which carries the server's value (for the API,
//! [`crate::Error::RateLimited`]'s `retry_after`). The longest single wait
//! is therefore 60 s, whatever the server says.
//!
//! [`crate::Error::is_retryable`] and [`crate::upload::UploadError::is_retryable`]
//! answer from the same classifiers.

mod classify;
mod policy;
mod run;

pub(crate) use classify::Verdict;
pub(crate) use classify::{
    api, download, is_idempotent, resolver, storage, waits_too_long, workflow,
};
pub(crate) use policy::Plane;
pub use policy::RetryPolicy;
pub(crate) use run::run;

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// The longest wait a server can impose on any request or workflow of the
/// SDK: a `Retry-After` above it is not waited for; the loop ends with the
/// error, which carries the value.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

/// What a server's `Retry-After` lets a retry loop do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerWait {
    /// The server named no (usable) wait: the loop's own backoff applies.
    Unset,
    /// Wait at least this long (at most [`MAX_SERVER_WAIT`]) before the
    /// next try.
    Wait(Duration),
    /// The server asked for more than [`MAX_SERVER_WAIT`]: do not try
    /// again; end with the error, which carries this value.
    TooLong(Duration),
}

impl ServerWait {
    /// The wait before the next try of a loop whose own backoff is `ours`
    /// (§8: the server's value when it is longer); `None` past the cap.
    pub(crate) fn at_least(self, ours: Duration) -> Option<Duration> {
        match self {
            Self::TooLong(_) => None,
            Self::Wait(theirs) => Some(theirs.max(ours)),
            Self::Unset => Some(ours),
        }
    }
}

/// The one rule for a wait a server chose: `asked` is the parsed
/// `Retry-After` ([`retry_after`]) of the answer.
pub(crate) fn server_wait(asked: Option<Duration>) -> ServerWait {
    match asked {
        None => ServerWait::Unset,
        Some(wait) if wait > MAX_SERVER_WAIT => ServerWait::TooLong(wait),
        Some(wait) => ServerWait::Wait(wait),
    }
}

/// `Retry-After` as delta-seconds or an HTTP date; `None` when absent or
/// unusable (negative, not a number, not text). A value too large for any
/// clock is cut to 10^9 s (still far past [`MAX_SERVER_WAIT`]); a date in
/// the past is no wait.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("retry-after", v.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_in_both_forms() {
        assert_eq!(retry_after(&headers("3")), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(&headers("1.5")),
            Some(Duration::from_millis(1500))
        );
        let soon = SystemTime::now() + Duration::from_secs(30);
        let d = retry_after(&headers(&httpdate::fmt_http_date(soon))).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(retry_after(&headers(&past)), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&headers("-1")), None);
    }

    #[test]
    fn hostile_retry_after_values_are_parsed_or_ignored() {
        let long = Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after(&headers("99999999999999999999999")), Some(long));
        assert_eq!(retry_after(&headers("1e400")), None);
        assert_eq!(retry_after(&headers("NaN")), None);
        assert_eq!(retry_after(&headers("-86400")), None);
        assert_eq!(retry_after(&headers("")), None);
        let far = retry_after(&headers("Fri, 31 Dec 9999 23:59:59 GMT")).unwrap();
        assert!(far > Duration::from_secs(86_400 * 365 * 7000), "{far:?}");
        let mut binary = HeaderMap::new();
        binary.insert(
            "retry-after",
            reqwest::header::HeaderValue::from_bytes(b"\xff5").unwrap(),
        );
        assert_eq!(retry_after(&binary), None);
    }

    #[test]
    fn one_cap_for_every_server_wait() {
        assert_eq!(server_wait(None), ServerWait::Unset);
        assert_eq!(
            server_wait(Some(MAX_SERVER_WAIT)),
            ServerWait::Wait(MAX_SERVER_WAIT)
        );
        let day = Duration::from_secs(86_400);
        assert_eq!(server_wait(Some(day)), ServerWait::TooLong(day));
        let just_over = MAX_SERVER_WAIT + Duration::from_millis(1);
        assert_eq!(server_wait(Some(just_over)), ServerWait::TooLong(just_over));
        let (one, five) = (Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(server_wait(Some(five)).at_least(one), Some(five));
        assert_eq!(server_wait(Some(one)).at_least(five), Some(five));
        assert_eq!(server_wait(None).at_least(one), Some(one));
        assert_eq!(server_wait(Some(day)).at_least(one), None);
    }
}
