//! Which requests are retried, how long to wait, and `Retry-After`.
//!
//! One rule for every wait a server chooses, in every plane (the API
//! client, the storage data plane, the Fleet flows, the resolver):
//! [`server_wait`]. A `Retry-After` up to [`MAX_SERVER_WAIT`] is waited for;
//! a longer one is not waited at all: the loop ends at once with its error,
//! which carries the server's value.

use std::time::{Duration, SystemTime};

use reqwest::{header::HeaderMap, Method, StatusCode};

/// Retry settings of a client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub(crate) max_retries: u32,
    /// First backoff step; doubles on each retry.
    pub(crate) base_delay: Duration,
    /// Longest backoff step.
    pub(crate) max_delay: Duration,
}

/// The longest wait a server can impose on any request or workflow of the
/// SDK. A `Retry-After` above it is not waited for.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(60);

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

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Methods whose repetition cannot change the outcome. POST and PATCH are
/// never repeated.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// Statuses worth another try.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

/// Transport failures worth another try (only ever for idempotent methods):
/// no connection, a timeout, or a connection that failed while the request
/// was in flight (e.g. closed before the response arrived, or while its
/// body was being read).
pub(crate) fn is_retryable_error(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() || e.is_decode()
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): exponential, with
    /// jitter between half and all of the step.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        step.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// The wait before the next try, or `None` when it should not be retried.
    pub(crate) fn delay(&self, retry: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        match server_wait(headers.and_then(retry_after)) {
            ServerWait::TooLong(_) => None,
            ServerWait::Wait(wait) => Some(wait),
            ServerWait::Unset => Some(self.backoff(retry)),
        }
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
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 0..20 {
            let d = p.backoff(retry);
            assert!(d <= p.max_delay, "{d:?}");
            assert!(d >= p.base_delay.mul_f64(0.5).min(p.max_delay.mul_f64(0.5)));
        }
        assert!(p.backoff(5) > p.base_delay);
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

    #[test]
    fn long_retry_after_is_not_waited_for() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, Some(&headers("3600"))), None);
        assert_eq!(
            p.delay(0, Some(&headers("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.delay(2, Some(&headers("2"))), None);
    }

    #[test]
    fn only_safe_methods_are_idempotent() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::DELETE));
        assert!(is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
    }
}
