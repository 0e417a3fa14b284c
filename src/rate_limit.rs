//! The `X-RateLimit-*` headers of the most recent response.

use std::sync::atomic::{fence, AtomicU64, Ordering};

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

/// The latest [`RateLimit`] of a client, shared by its clones and written on
/// every response: a sequence lock over plain atomics, so that neither a
/// response nor a reader ever waits on a lock, and nothing is allocated.
///
/// `seq` is even when the words are stable and odd while a writer stores
/// them. A writer that finds another one storing skips its own write: two
/// responses read at the same instant have no order, so either one is "the
/// most recent". A reader retries until it saw no write begin or end.
#[derive(Debug, Default)]
pub(crate) struct Latest {
    seq: AtomicU64,
    /// Bit `i` set: `values[i]` was sent. No bit set: `None`.
    present: AtomicU64,
    values: [AtomicU64; 3],
}

impl Latest {
    /// Records `latest` (`None`: the response had none of the headers).
    pub(crate) fn store(&self, latest: Option<RateLimit>) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Orders the odd `seq` before the stores below, for readers.
        fence(Ordering::Release);
        let fields = latest.map_or([None; 3], |rl| [rl.limit, rl.remaining, rl.reset]);
        let mut present = 0;
        for (i, (slot, field)) in self.values.iter().zip(fields).enumerate() {
            present |= u64::from(field.is_some()) << i;
            slot.store(field.unwrap_or(0), Ordering::Relaxed);
        }
        self.present.store(present, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The value last stored, never a mix of two.
    pub(crate) fn load(&self) -> Option<RateLimit> {
        let mut tries = 0u32;
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let present = self.present.load(Ordering::Relaxed);
                let values = self.values.each_ref().map(|v| v.load(Ordering::Relaxed));
                // Orders the loads above before the check of `seq` below.
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return decode(present, values);
                }
            }
            // A writer is between its first and last store: a few
            // instructions, unless its thread was preempted there.
            tries += 1;
            if tries < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

fn decode(present: u64, values: [u64; 3]) -> Option<RateLimit> {
    let field = |i: usize| (present >> i & 1 == 1).then_some(values[i]);
    (present != 0).then(|| RateLimit {
        limit: field(0),
        remaining: field(1),
        reset: field(2),
    })
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

    #[test]
    fn the_latest_value_reads_back_whatever_was_present() {
        let latest = Latest::default();
        assert_eq!(latest.load(), None);
        for mask in 0u64..8 {
            let field = |i: u64, v: u64| (mask >> i & 1 == 1).then_some(v);
            let rl = RateLimit {
                limit: field(0, u64::MAX),
                remaining: field(1, 0),
                reset: field(2, 1_700_000_000),
            };
            let sent = (rl != RateLimit::default()).then_some(rl);
            latest.store(sent);
            assert_eq!(latest.load(), sent, "fields present: {mask:03b}");
        }
        latest.store(None);
        assert_eq!(latest.load(), None);
    }

    /// Writers on two threads store values whose three fields are equal;
    /// readers on two others must never see fields of two different stores.
    #[test]
    fn a_reader_never_sees_a_mix_of_two_stores() {
        let latest = Latest::default();
        std::thread::scope(|s| {
            for w in 0..2u64 {
                let latest = &latest;
                s.spawn(move || {
                    for n in 0..100_000u64 {
                        let v = n * 2 + w;
                        let sent = (v % 3 != 0).then_some(RateLimit {
                            limit: Some(v),
                            remaining: Some(v),
                            reset: Some(v),
                        });
                        latest.store(sent);
                    }
                });
            }
            for _ in 0..2 {
                let latest = &latest;
                s.spawn(move || {
                    for _ in 0..100_000 {
                        if let Some(rl) = latest.load() {
                            assert_eq!(rl.limit, rl.remaining, "{rl:?}");
                            assert_eq!(rl.limit, rl.reset, "{rl:?}");
                            assert!(rl.limit.is_some(), "{rl:?}");
                        }
                    }
                });
            }
        });
    }
}
