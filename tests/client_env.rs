//! Configuration from the environment and `.env`, and its precedence.
//!
//! Every test here changes the process environment (and some the current
//! directory), so every test holds `common::env_lock()` from its first line
//! to its last; the lock also clears the `AVALA_*` variables on entry.
//!
//! The lock is a `std` mutex held across `.await`s on purpose: each
//! `#[tokio::test]` runs its own current-thread runtime on its own thread, so
//! a waiting test blocks only itself, and the environment stays fixed for the
//! whole test.
#![allow(clippy::await_holding_lock)]

mod common;

use std::path::{Path, PathBuf};

use common::{
    assert_logs_clean, checked, env_lock, expect_err, hits,
    raw::{self, RawServer},
    received, KEY,
};
use wiremock::MockServer;

fn set(name: &str, value: &str) {
    std::env::set_var(name, value);
}

async fn dataset_server() -> MockServer {
    let server = MockServer::start().await;
    common::serve_dataset(&server, "d1").await;
    server
}

fn keys_seen(requests: &[wiremock::Request]) -> Vec<String> {
    requests
        .iter()
        .map(|r| {
            r.headers
                .get("x-avala-api-key")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        })
        .collect()
}

fn assert_missing_key(result: avala::Result<avala::Client>) {
    let err = match result {
        Ok(c) => panic!("expected a missing-key error, got {c:?}"),
        Err(e) => checked(e),
    };
    match &err {
        avala::Error::Config { message } => {
            assert!(message.contains("AVALA_API_KEY"), "{message}")
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

#[test]
fn insecure_flag_values_that_allow_http_to_loopback() {
    let _env = env_lock();
    for value in [
        "1", "true", "TRUE", "True", "yes", "YES", "on", "On", " 1 ", "\ttrue\n", " yes",
    ] {
        set("AVALA_ALLOW_INSECURE_BASE_URL", value);
        for base in [
            "http://127.0.0.1:8000/api/v1",
            "http://localhost:8000/api/v1",
            "http://[::1]:8000/api/v1",
        ] {
            let built = avala::Client::builder().api_key(KEY).base_url(base).build();
            assert!(
                built.is_ok(),
                "{value:?} should allow {base}: {:?}",
                built.err()
            );
        }
        // Even then, only loopback hosts.
        let err = avala::Client::builder()
            .api_key(KEY)
            .base_url("http://api.avala.ai/api/v1")
            .build()
            .unwrap_err();
        assert!(matches!(checked(err), avala::Error::Config { .. }));
    }
}

#[test]
fn insecure_flag_values_that_do_not() {
    let _env = env_lock();
    let values = [
        None,
        Some("0"),
        Some("false"),
        Some("no"),
        Some("off"),
        Some(""),
        Some("   "),
        Some("garbage"),
        Some("2"),
        Some("y"),
        Some("truee"),
        Some("enabled"),
    ];
    for value in values {
        match value {
            Some(v) => set("AVALA_ALLOW_INSECURE_BASE_URL", v),
            None => std::env::remove_var("AVALA_ALLOW_INSECURE_BASE_URL"),
        }
        for base in [
            "http://127.0.0.1:8000/api/v1",
            "http://localhost/api",
            "http://[::1]/",
        ] {
            let err = avala::Client::builder()
                .api_key(KEY)
                .base_url(base)
                .build()
                .expect_err(&format!("{value:?} must not allow {base}"));
            match checked(err) {
                avala::Error::Config { message } => assert!(
                    message.contains("AVALA_ALLOW_INSECURE_BASE_URL"),
                    "the message should say how to allow it: {message}"
                ),
                other => panic!("expected Error::Config, got {other:?}"),
            }
        }
        // https is not affected by the flag.
        assert!(avala::Client::builder()
            .api_key(KEY)
            .base_url("https://api.avala.ai/api/v1")
            .build()
            .is_ok());
    }
}

#[tokio::test]
async fn key_and_root_come_from_the_environment() {
    let _env = env_lock();
    let server = dataset_server().await;
    set("AVALA_API_KEY", KEY);
    set("AVALA_BASE_URL", &format!("{}/api/v1/", server.uri()));
    set("AVALA_ALLOW_INSECURE_BASE_URL", "true");
    let client = avala::Client::from_env().unwrap();
    assert_eq!(client.base_url(), format!("{}/api/v1", server.uri()));
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(keys_seen(&received(&server).await), [KEY]);

    // The builder reads the same variables when nothing is given.
    let built = avala::Client::builder().build().unwrap();
    assert_eq!(built.base_url(), client.base_url());
    assert_logs_clean();
}

#[tokio::test]
async fn explicit_settings_beat_the_environment() {
    let _env = env_lock();
    let from_env = dataset_server().await;
    let explicit = dataset_server().await;
    set("AVALA_API_KEY", "env-key-that-must-not-be-used");
    set("AVALA_BASE_URL", &format!("{}/api/v1", from_env.uri()));
    set("AVALA_ALLOW_INSECURE_BASE_URL", "1");

    let client = avala::Client::builder()
        .api_key(KEY)
        .base_url(format!("{}/api/v1", explicit.uri()))
        .build()
        .unwrap();
    assert_eq!(client.base_url(), format!("{}/api/v1", explicit.uri()));
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(keys_seen(&received(&explicit).await), [KEY]);
    assert_eq!(hits(&from_env).await, 0);

    // Only the key explicit: the root still comes from the environment.
    let client = avala::Client::builder().api_key(KEY).build().unwrap();
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(keys_seen(&received(&from_env).await), [KEY]);

    // Only the root explicit: the key still comes from the environment.
    let client = avala::Client::builder()
        .base_url(format!("{}/api/v1", explicit.uri()))
        .build()
        .unwrap();
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(
        keys_seen(&received(&explicit).await),
        [KEY, "env-key-that-must-not-be-used"]
    );
}

#[tokio::test]
async fn new_takes_the_key_given_and_the_root_from_the_environment() {
    let _env = env_lock();
    let server = dataset_server().await;
    set("AVALA_API_KEY", "env-key-that-must-not-be-used");
    set("AVALA_BASE_URL", &format!("{}/api/v1", server.uri()));
    set("AVALA_ALLOW_INSECURE_BASE_URL", "on");
    let client = avala::Client::new(KEY).unwrap();
    assert_eq!(client.base_url(), format!("{}/api/v1", server.uri()));
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(keys_seen(&received(&server).await), [KEY]);

    // Without AVALA_BASE_URL, the default root.
    std::env::remove_var("AVALA_BASE_URL");
    assert_eq!(
        avala::Client::new(KEY).unwrap().base_url(),
        "https://api.avala.ai/api/v1"
    );
}

#[tokio::test]
async fn a_missing_or_blank_key_fails_before_any_request() {
    let _env = env_lock();
    let server = dataset_server().await;
    set("AVALA_BASE_URL", &format!("{}/api/v1", server.uri()));
    set("AVALA_ALLOW_INSECURE_BASE_URL", "1");

    assert_missing_key(avala::Client::from_env());
    assert_missing_key(avala::Client::builder().build());
    for blank in ["", "   ", "\t\n"] {
        set("AVALA_API_KEY", blank);
        assert_missing_key(avala::Client::from_env());
        assert_missing_key(avala::Client::new(blank));
        std::env::remove_var("AVALA_API_KEY");
        assert_missing_key(avala::Client::builder().api_key(blank).build());
    }
    assert_eq!(hits(&server).await, 0);
}

#[test]
fn a_bad_root_in_the_environment_is_refused_and_named() {
    let _env = env_lock();
    set("AVALA_API_KEY", KEY);
    for (value, hint) in [
        ("http://api.avala.ai/api/v1", "https"),
        ("api.avala.ai", "scheme"),
    ] {
        set("AVALA_BASE_URL", value);
        match checked(avala::Client::from_env().unwrap_err()) {
            avala::Error::Config { message } => {
                assert!(message.contains(hint), "{value:?}: {message}")
            }
            other => panic!("expected Error::Config, got {other:?}"),
        }
    }
}

#[test]
fn an_empty_root_in_the_environment_counts_as_unset() {
    let _env = env_lock();
    set("AVALA_API_KEY", KEY);
    for blank in ["", "  "] {
        set("AVALA_BASE_URL", blank);
        let client = avala::Client::from_env().unwrap();
        assert_eq!(client.base_url(), "https://api.avala.ai/api/v1");
    }
    // An explicit empty root is a mistake, not a default.
    let err = checked(avala::Client::builder().base_url("").build().unwrap_err());
    assert!(matches!(err, avala::Error::Config { .. }), "{err:?}");
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_echoing_it() {
    let _env = env_lock();
    let bad = format!("{KEY}\nX-Injected: 1");
    let err = checked(avala::Client::new(bad).unwrap_err());
    let avala::Error::Config { message } = &err else {
        panic!("expected Error::Config, got {err:?}");
    };
    assert!(message.contains("AVALA_API_KEY"), "{message}");
}

/// A fresh empty directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "avala-client-env-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `f` with the current directory set to a temp dir holding `.env`
/// with `contents`, and restores the directory even if `f` panics.
fn with_dotenv<T>(contents: &str, f: impl FnOnce() -> T) -> T {
    let dir = temp_dir("dotenv");
    std::fs::write(dir.join(".env"), contents).unwrap();
    in_dir(&dir, &dir, f)
}

/// Runs `f` with `cwd` as the current directory, then restores the
/// directory and removes `tree`, even if `f` panics.
fn in_dir<T>(cwd: &Path, tree: &Path, f: impl FnOnce() -> T) -> T {
    struct Restore(PathBuf, PathBuf);
    impl Drop for Restore {
        fn drop(&mut self) {
            std::env::set_current_dir(&self.0).unwrap();
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _restore = Restore(std::env::current_dir().unwrap(), tree.to_owned());
    std::env::set_current_dir(cwd).unwrap();
    f()
}

#[tokio::test]
async fn from_dotenv_loads_dot_env() {
    let _env = env_lock();
    let server = dataset_server().await;
    let contents = format!(
        "# local settings\nAVALA_API_KEY={KEY}\nAVALA_BASE_URL=\"{}/api/v1\"\nAVALA_ALLOW_INSECURE_BASE_URL=yes\n",
        server.uri()
    );
    let client = with_dotenv(&contents, avala::Client::from_dotenv).unwrap();
    assert_eq!(client.base_url(), format!("{}/api/v1", server.uri()));
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(keys_seen(&received(&server).await), [KEY]);
    common::assert_no_key(&format!("{client:?}"), "Client Debug");
}

#[tokio::test]
async fn variables_already_set_win_over_dot_env() {
    let _env = env_lock();
    let set_server = dataset_server().await;
    let dotenv_server = dataset_server().await;
    set("AVALA_API_KEY", KEY);
    set("AVALA_BASE_URL", &format!("{}/api/v1", set_server.uri()));
    set("AVALA_ALLOW_INSECURE_BASE_URL", "1");
    let contents = format!(
        "AVALA_API_KEY=dotenv-key-that-must-not-be-used\nAVALA_BASE_URL={}/api/v1\nAVALA_ALLOW_INSECURE_BASE_URL=0\n",
        dotenv_server.uri()
    );
    let client = with_dotenv(&contents, avala::Client::from_dotenv).unwrap();
    client.get_dataset().uid("d1").send().await.unwrap();
    assert_eq!(keys_seen(&received(&set_server).await), [KEY]);
    assert_eq!(hits(&dotenv_server).await, 0);
}

/// A `.env` above the working directory (planted in a shared or temporary
/// parent) must not choose where the key goes: only `./.env` is read.
#[tokio::test]
async fn a_dot_env_in_a_parent_directory_is_not_read() {
    let _env = env_lock();
    let planted = dataset_server().await;
    // Every https request ends at this loopback proxy, which refuses the
    // tunnel: the default root is never really reached.
    let trap = RawServer::start(vec![vec![raw::response("403 Forbidden", &[], "")]]).await;
    set("HTTPS_PROXY", &format!("http://{}", trap.addr));
    set("AVALA_API_KEY", KEY);
    let parent = temp_dir("planted");
    let cwd = parent.join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(
        parent.join(".env"),
        format!(
            "AVALA_BASE_URL={}/api/v1\nAVALA_ALLOW_INSECURE_BASE_URL=1\nPLANTED=1\n",
            planted.uri()
        ),
    )
    .unwrap();
    let client = in_dir(&cwd, &parent, avala::Client::from_dotenv).unwrap();
    assert_eq!(client.base_url(), avala::config::DEFAULT_BASE_URL);
    for var in ["AVALA_BASE_URL", "AVALA_ALLOW_INSECURE_BASE_URL", "PLANTED"] {
        assert_eq!(std::env::var(var).ok(), None, "{var} came from ../.env");
    }
    let err = expect_err(client.get_dataset().uid("d1").send().await);
    assert!(matches!(err, avala::Error::Transport { .. }), "{err:?}");
    assert_eq!(hits(&planted).await, 0, "the planted host was called");
    let heads = trap.requests();
    assert!(!heads.is_empty(), "no request reached the default root");
    for head in &heads {
        assert!(head.starts_with("CONNECT api.avala.ai:443 "), "{head}");
        common::assert_no_key(head, "the proxy request");
    }

    // Nor does the key come from there.
    std::env::remove_var("AVALA_API_KEY");
    let parent = temp_dir("planted-key");
    let cwd = parent.join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(parent.join(".env"), format!("AVALA_API_KEY={KEY}\n")).unwrap();
    assert_missing_key(in_dir(&cwd, &parent, avala::Client::from_dotenv));
    assert_logs_clean();
}

#[test]
fn from_dotenv_without_a_dot_env_uses_the_environment() {
    let _env = env_lock();
    set("AVALA_API_KEY", KEY);
    let dir = temp_dir("no-dotenv");
    let before = std::env::current_dir().unwrap();
    std::env::set_current_dir(&dir).unwrap();
    let result = avala::Client::from_dotenv();
    std::env::set_current_dir(before).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(result.unwrap().base_url(), "https://api.avala.ai/api/v1");
}

#[test]
fn from_dotenv_without_any_key_names_the_variable() {
    let _env = env_lock();
    assert_missing_key(with_dotenv("OTHER=1\n", avala::Client::from_dotenv));
}

#[test]
fn a_broken_dot_env_is_an_error_that_does_not_echo_the_key() {
    let _env = env_lock();
    // An unterminated quote on the key's line.
    let contents = format!("AVALA_API_KEY=\"{KEY}\nAVALA_BASE_URL=https://api.avala.ai/api/v1\n");
    let result = with_dotenv(&contents, avala::Client::from_dotenv);
    let err = checked(result.unwrap_err());
    match &err {
        avala::Error::Config { message } => assert!(message.contains(".env"), "{message}"),
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

#[test]
fn the_resolver_reads_neither_the_base_url_nor_the_key() {
    let _env = env_lock();
    set("AVALA_BASE_URL", "https://elsewhere.example.com/api/v1");
    set("AVALA_API_KEY", KEY);
    let resolver = avala::resolver::Resolver::new().unwrap();
    let shown = format!("{resolver:?}");
    assert!(shown.contains("https://api.avala.ai/api/v1"), "{shown}");
    assert!(!shown.contains("elsewhere"), "{shown}");
    common::assert_no_key(&shown, "the resolver's Debug");
    // Plain http to loopback only with AVALA_ALLOW_INSECURE_BASE_URL.
    let loopback = || {
        avala::resolver::Resolver::builder()
            .base_url("http://127.0.0.1:9/api/v1")
            .build()
    };
    assert!(matches!(loopback(), Err(avala::Error::Config { .. })));
    set("AVALA_ALLOW_INSECURE_BASE_URL", "yes");
    loopback().unwrap();
}
