//! Property: whatever the key and however a server spells it back (each
//! character literal, JSON `\uXXXX`-escaped or percent-encoded, and possibly
//! cut by the 64 KiB body limit), wherever it puts it (error body, 2xx body
//! that fails to decode, `X-Request-Id`, a repeating cursor, the request
//! URL), no `Display`, `Debug` or source of the resulting error holds the key
//! or any 8 consecutive characters of it, in any of those spellings.

mod common;

use std::time::Duration;

use futures::TryStreamExt;
use proptest::prelude::*;

use common::raw::{response, RawServer};

/// How a server spells one character of the key.
#[derive(Debug, Clone, Copy)]
enum Spelling {
    Literal,
    Json,
    Percent,
}

/// Where the server puts the key.
#[derive(Debug, Clone, Copy)]
enum Place {
    ErrorBody,
    /// An error body over 64 KiB whose cut falls inside the spelt key, this
    /// many bytes into it.
    ErrorBodyCut(usize),
    DecodeBody,
    RequestId,
    RepeatingCursor,
    RequestUrl,
}

fn keys() -> impl Strategy<Value = String> {
    prop_oneof!["avk_[0-9a-f]{40}", "[A-Za-z0-9_-]{16,48}",]
}

fn places() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::ErrorBody),
        (1usize..24).prop_map(Place::ErrorBodyCut),
        Just(Place::DecodeBody),
        Just(Place::RequestId),
        Just(Place::RepeatingCursor),
        Just(Place::RequestUrl),
    ]
}

fn spelt(key: &str, how: &[Spelling]) -> String {
    key.chars()
        .zip(how.iter().cycle())
        .map(|(c, how)| match how {
            Spelling::Literal => c.to_string(),
            Spelling::Json => format!("\\u{:04x}", c as u32),
            Spelling::Percent => format!("%{:02X}", c as u32),
        })
        .collect()
}

/// Undoes every spelling, so that a check on the result catches them all.
fn decoded(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let hex = |s: &str| u32::from_str_radix(s, 16).ok().and_then(char::from_u32);
        let (ch, len) = match rest.as_bytes() {
            [b'\\', b'u', ..] if rest.len() >= 6 => hex(&rest[2..6]).map_or((c, 1), |d| (d, 6)),
            [b'%', ..] if rest.len() >= 3 => {
                rest.get(1..3).and_then(hex).map_or((c, 1), |d| (d, 3))
            }
            _ => (c, c.len_utf8()),
        };
        out.push(ch);
        rest = &rest[len..];
    }
    out
}

/// `text` without an escape cut short at its end (`\\u00`, `%4`, `\\`).
fn without_broken_escape(text: &str) -> &str {
    for start in ["\\u", "%", "\\"] {
        if let Some(i) = text.rfind(start) {
            let tail = &text[i + start.len()..];
            let max = if start == "%" {
                1
            } else if start == "\\u" {
                3
            } else {
                0
            };
            if tail.len() <= max && tail.chars().all(|c| c.is_ascii_hexdigit()) {
                return &text[..i];
            }
        }
    }
    text
}

/// Every text an error exposes.
fn texts(err: &avala::Error) -> Vec<String> {
    let mut all = vec![format!("{err}"), format!("{err:?}"), err.message()];
    if let Some(api) = err.api_error() {
        all.push(api.raw_body.clone());
        all.extend(api.body.as_ref().map(|b| b.to_string()));
        all.extend(api.request_id.clone());
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        all.push(format!("{s} {s:?}"));
        source = s.source();
    }
    all
}

/// Runs `place` against a fresh server and returns the error.
async fn provoke(key: &str, echo: &str, place: Place) -> avala::Error {
    let (status, headers, body): (&str, Vec<(&str, String)>, String) = match place {
        Place::ErrorBody => (
            "400 Bad",
            vec![],
            format!(r#"{{"detail": "bad key {echo}"}}"#),
        ),
        Place::ErrorBodyCut(at) => {
            // The cut is at 64 KiB of the raw body: `at` bytes into the
            // echo, possibly inside an escape (the echo is ASCII).
            let offset = at.clamp(1, echo.len() - 1);
            let pad = "p".repeat(64 * 1024 - offset);
            ("500 Oops", vec![], format!("{pad}{echo} trailing"))
        }
        Place::DecodeBody => (
            "200 OK",
            vec![],
            format!(r#"{{"uid": "d", "name": "n", "slug": "s", "item_count": "{echo}"}}"#),
        ),
        Place::RequestId => (
            "404 Gone",
            vec![("X-Request-Id", echo.to_owned())],
            "{}".into(),
        ),
        Place::RepeatingCursor => (
            "200 OK",
            vec![],
            format!(
                r#"{{"next": "/api/v1/datasets/?cursor={echo}", "previous": null, "results": []}}"#
            ),
        ),
        Place::RequestUrl => ("200 OK", vec![], "{}".into()),
    };
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let server = RawServer::start(vec![vec![response(status, &headers, &body)]]).await;
    let base = match place {
        Place::RequestUrl => format!("http://127.0.0.1:{}/api/v1", common::closed_port()),
        _ => server.base_url(),
    };
    common::init();
    let client = avala::Client::builder()
        .api_key(key)
        .base_url(base)
        .max_retries(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let result = match place {
        Place::RepeatingCursor => client
            .list_datasets()
            .stream()
            .try_collect::<Vec<_>>()
            .await
            .map(|_| ()),
        Place::RequestUrl => client.list_datasets().cursor(echo).send().await.map(|_| ()),
        _ => client.get_dataset().uid("d").send().await.map(|_| ()),
    };
    result.expect_err("the server's answer is an error")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_error_holds_the_key_in_any_spelling(
        key in keys(),
        how in prop::collection::vec(
            prop_oneof![Just(Spelling::Literal), Just(Spelling::Json), Just(Spelling::Percent)],
            1..6,
        ),
        place in places(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let echo = spelt(&key, &how);
        let err = runtime.block_on(provoke(&key, &echo, place));
        let key_chars: Vec<char> = key.chars().collect();
        for text in texts(&err) {
            let plain = decoded(&text);
            for window in key_chars.windows(8) {
                let part: String = window.iter().collect();
                prop_assert!(!plain.contains(&part), "{place:?}: {part:?} of the key in {text}");
            }
        }
        // Where the cut split the key, not even its first 4 characters stay.
        if let (Place::ErrorBodyCut(_), Some(api)) = (place, err.api_error()) {
            let plain = decoded(&api.raw_body);
            let plain = without_broken_escape(&plain);
            for n in 4..=key.len() {
                prop_assert!(!plain.ends_with(&key[..n]), "{:?} left at the cut", &key[..n]);
            }
        }
    }
}
