//! The `X-RateLimit-*` headers of the most recent response.

use reqwest::header::{HeaderMap, HeaderName};

const LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Rate-limit state reported by the API on its most recent response.
///
/// Each field is `None` when the header was absent or not an integer. The
/// API does not document whether `reset` is an epoch or a number of seconds,
/// so it is passed on as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// `X-RateLimit-Limit`: requests allowed in the window.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`: requests left in the window.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`: when the window resets, as the server sent it.
    pub reset: Option<u64>,
}

impl RateLimit {
    /// Reads the three headers; `None` when none of them is present.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        // One pass over the (few) headers instead of three hashed lookups:
        // this runs on every response.
        let mut rl = Self::default();
        for (name, value) in headers {
            let slot = if name == LIMIT {
                &mut rl.limit
            } else if name == REMAINING {
                &mut rl.remaining
            } else if name == RESET {
                &mut rl.reset
            } else {
                continue;
            };
            if slot.is_none() {
                *slot = value.to_str().ok().and_then(|v| v.trim().parse().ok());
            }
        }
        (rl != Self::default()).then_some(rl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(RateLimit::from_headers(&h), None);
        h.insert("X-RateLimit-Limit", "100".parse().unwrap());
        h.insert("X-RateLimit-Remaining", "99".parse().unwrap());
        h.insert("X-RateLimit-Reset", "soon".parse().unwrap());
        let rl = RateLimit::from_headers(&h).unwrap();
        assert_eq!(
            (rl.limit, rl.remaining, rl.reset),
            (Some(100), Some(99), None)
        );
    }
}
