//! Which requests are retried, how long to wait, and `Retry-After`.

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
    /// A `Retry-After` longer than this is not waited for: the error is
    /// returned with its `retry_after` so the caller can decide.
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
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
        match headers.and_then(retry_after) {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(retry)),
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date.
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
