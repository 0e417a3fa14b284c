//! Memory stays bounded while a server sends without end: the process's peak
//! resident size grows by about the response limit, not by what the server
//! sends. Alone in its binary so that no other test moves the peak.
#![cfg(target_os = "linux")]

mod common;

use std::time::Duration;

use avala::Error;
use common::{
    checked,
    raw::{write, RawServer, Step},
    KEY,
};

/// The process's peak resident set (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}

#[tokio::test]
async fn endless_bodies_take_bounded_memory() {
    common::init();
    let before = peak_rss();
    let endless = |status: &str| {
        vec![
            write(format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n\r\n"
            )),
            Step::Endless(b"[1,".repeat(16 * 1024)),
        ]
    };
    // The default limit (64 MiB) for a 2xx, the 64 KiB cap for an error: a
    // client without them would take all the server sends in 10 s (GiBs).
    for (status, limit) in [("200 OK", Some(64u64 << 20)), ("500 Oops", None)] {
        let server = RawServer::start(vec![endless(status)]).await;
        let client = avala::Client::builder()
            .api_key(KEY)
            .base_url(server.base_url())
            .max_retries(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let err = checked(client.get_dataset().uid("d1").send().await.unwrap_err());
        match limit {
            Some(l) => assert!(
                matches!(err, Error::ResponseTooLarge { limit, .. } if limit == l),
                "{err:?}"
            ),
            None => assert_eq!(err.api_error().unwrap().raw_body.len(), 64 * 1024),
        }
    }
    let grown = peak_rss().saturating_sub(before);
    eprintln!("peak RSS grew by {} MiB", grown >> 20);
    assert!(grown < 128 << 20, "the peak grew by {} MiB", grown >> 20);
}
