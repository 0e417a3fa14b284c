//! [`RetryPolicy`] (how many tries, one backoff curve) and [`Plane`] (where
//! a request goes, which decides its attempts).

use std::time::Duration;

/// How a client repeats a request that failed in a way another try may
/// fix: how many retries an API call gets and the one backoff curve every
/// plane waits on (see the [module docs](crate::retry) for the table).
///
/// Built from [`RetryPolicy::default`] and the setters; set it with
/// [`crate::ClientBuilder::retry_policy`] or
/// [`crate::resolver::ResolverBuilder::retry_policy`].
///
/// ```
/// use std::time::Duration;
/// let policy = avala::retry::RetryPolicy::default()
///     .max_retries(4)
///     .base_delay(Duration::from_secs(1));
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct RetryPolicy {
    /// Retries of an API call after its first try.
    pub(crate) max_retries: u32,
    /// The first step of the curve; it doubles on each retry.
    pub(crate) base_delay: Duration,
    /// The longest step of the curve.
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Two retries of an API call; steps of 500 ms doubling up to 30 s.
    ///
    /// Why these values: 500 ms lets a dropped connection or a restarting
    /// node behind a load balancer recover before the first retry while a
    /// caller hardly notices it; 30 s is half the longest wait a server may
    /// impose ([`crate::retry::MAX_SERVER_WAIT`]), so our own guess never
    /// outwaits what we would accept from the server, and a dataset file's
    /// eight attempts still span about a minute of storage trouble.
    fn default() -> Self {
        Self {
            max_retries: 2,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Retries of an API call (idempotent methods only) after the first
    /// try. Default 2; 0 disables them. The upload, Fleet and resolver
    /// planes have attempt counts of their own (the module docs' table).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The first backoff step (default 500 ms); each retry doubles it.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest backoff step (default 30 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The wait before retry number `retry` (0-based): `base · 2^retry`,
    /// at most `max_delay`, times a jitter between ½ and 1 so that clients
    /// that failed together do not come back together.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        let factor = 0.5 + fastrand::f64() * 0.5;
        // A step near `Duration::MAX` would overflow `mul_f64`: keep it.
        Duration::try_from_secs_f64(step.as_secs_f64() * factor).unwrap_or(step)
    }
}

/// Where a request goes: it decides what is retried (the classifier in
/// [`super::classify`]) and how many attempts it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plane {
    /// A call of the API through the client: idempotent methods, `1 +
    /// max_retries` attempts.
    Api,
    /// One file of a dataset upload (presign, transfer, complete): 8
    /// attempts, as the protocol's upload helper makes (§8).
    DatasetFile,
    /// A retryable step of a Fleet upload (a legacy PUT; a managed admit,
    /// part grant or finalisation): 3 attempts (§8).
    Fleet,
    /// A resolver request answered 429: 4 attempts (the protocol's 3
    /// retries, §8).
    Resolver,
    /// An export file's download: 3 attempts, each continuing from the
    /// bytes already on disk when the server allows.
    Download,
}

impl Plane {
    /// Attempts of one request on this plane, the first included.
    pub(crate) fn attempts(self, policy: &RetryPolicy) -> u32 {
        match self {
            Self::Api => policy.max_retries.saturating_add(1),
            Self::DatasetFile => 8,
            Self::Fleet => 3,
            Self::Resolver => 4,
            Self::Download => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_with_jitter() {
        let p = RetryPolicy::default()
            .base_delay(Duration::from_secs(1))
            .max_delay(Duration::from_secs(30));
        for (retry, step) in [
            (0, 1.0),
            (1, 2.0),
            (3, 8.0),
            (4, 16.0),
            (5, 30.0),
            (40, 30.0),
        ] {
            for _ in 0..50 {
                let d = p.backoff(retry).as_secs_f64();
                assert!(d >= step / 2.0 && d <= step, "{retry}: {d}");
            }
        }
    }

    #[test]
    fn a_huge_cap_does_not_panic() {
        let p = RetryPolicy::default()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        assert!(p.backoff(u32::MAX) <= Duration::MAX);
        let zero = RetryPolicy::default().base_delay(Duration::ZERO);
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn each_plane_has_its_attempts() {
        let p = RetryPolicy::default();
        assert_eq!(Plane::Api.attempts(&p), 3);
        assert_eq!(Plane::Api.attempts(&p.max_retries(0)), 1);
        assert_eq!(Plane::Api.attempts(&p.max_retries(u32::MAX)), u32::MAX);
        assert_eq!(Plane::DatasetFile.attempts(&p.max_retries(0)), 8);
        assert_eq!(Plane::Fleet.attempts(&p), 3);
        assert_eq!(Plane::Resolver.attempts(&p), 4);
    }
}
