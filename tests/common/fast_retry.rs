//! A client of the embedded mock whose retries wait a millisecond, for the
//! tests that count attempts rather than time them. Included with
//! `#[path = "common/fast_retry.rs"] mod fast_retry;`.

use std::time::Duration;

use avala::{mock::MockServer, retry::RetryPolicy};

/// The mock's client with every backoff step 1 ms (a server's `Retry-After`
/// still counts).
pub fn fast(mock: &MockServer) -> avala::Client {
    let step = Duration::from_millis(1);
    mock.client_builder()
        .retry_policy(RetryPolicy::default().base_delay(step).max_delay(step))
        .build()
        .expect("a client of the mock builds")
}
