//! `exports download`, `exports create --wait --download` and `signup`
//! against the embedded mock.

mod common;

use common::{Mock, TempDir};

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn exports_download_writes_the_file_and_keeps_an_existing_one() {
    let mock = Mock::start();
    let data = bytes(100_000);
    mock.server.exports().publish("exp_cli", data.clone());
    let dir = TempDir::new();
    let target = dir.path().join("out.zip");
    let target = target.to_str().unwrap();
    let run = mock
        .run(&["exports", "download", "exp_cli", target, "--output", "json"])
        .expect(0);
    assert_eq!(std::fs::read(target).unwrap(), data);
    let shown = run.json();
    assert_eq!(shown["size"], 100_000);
    assert_eq!(shown["md5_checked"], true);
    // A second run refuses to replace the file, and says so.
    let again = mock.run(&["exports", "download", "exp_cli", target]);
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("refusing to write"),
        "{}",
        again.stderr
    );
    // Storage never saw the key.
    for r in mock.server.exports().downloads() {
        assert!(r.header("x-avala-api-key").is_none());
    }
}

#[test]
fn exports_download_of_an_unfinished_export_fails_without_a_file() {
    let mock = Mock::start();
    mock.server.exports().publish("exp_p", bytes(10));
    mock.server.exports().statuses("exp_p", ["processing"]);
    let dir = TempDir::new();
    let target = dir.path().join("out.zip");
    let run = mock.run(&["exports", "download", "exp_p", target.to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("processing"), "{}", run.stderr);
    assert!(!target.exists());
}

#[test]
fn exports_create_wait_download_creates_waits_and_downloads() {
    let mock = Mock::start();
    mock.server.respond(
        "create_export",
        serde_json::json!({ "uid": "exp_new", "status": "pending" }),
    );
    let data = bytes(5_000);
    mock.server.exports().publish("exp_new", data.clone());
    mock.server.exports().statuses("exp_new", ["processing"]);
    let dir = TempDir::new();
    let target = dir.path().join("new.zip");
    let run = mock
        .run(&[
            "exports",
            "create",
            "--dataset",
            "ds_1",
            "--wait",
            "--interval",
            "1",
            "--download",
            target.to_str().unwrap(),
            "--output",
            "json",
        ])
        .expect(0);
    assert_eq!(run.json()["uid"], "exp_new");
    assert_eq!(std::fs::read(&target).unwrap(), data);
    // Two polls, then the download's own read of the (fresh) URL.
    assert_eq!(mock.server.hits("get_export"), 3);
}

#[test]
fn signup_reads_the_password_from_stdin_and_writes_the_key_to_a_private_file() {
    let mock = Mock::start();
    let dir = TempDir::new();
    let key_file = dir.path().join("key");
    let password = "Pw-cli-SECRET-4242";
    let run = mock
        .run_with(
            &[
                "signup",
                "--email",
                "ada@example.com",
                "--password-stdin",
                "--key-file",
                key_file.to_str().unwrap(),
                "--output",
                "json",
                "-v",
            ],
            &[],
            Some(&format!("{password}\n")),
        )
        .expect(0);
    assert!(
        run.stderr.contains("/signup/"),
        "the request log: {}",
        run.stderr
    );
    let sent = mock.server.received_for("signup_user");
    assert_eq!(sent.len(), 1);
    assert!(sent[0].header("x-avala-api-key").is_none());
    assert_eq!(sent[0].json().unwrap()["password"], password);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(!key.trim().is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    for shown in [&run.stdout, &run.stderr] {
        assert!(!shown.contains(password), "{shown}");
        assert!(!shown.contains(key.trim()), "{shown}");
    }
}

#[test]
fn the_generated_signup_command_is_hidden_and_refuses_before_sending() {
    let mock = Mock::start();
    let password = "Pw-argv-SECRET-77";
    let by_argument = [
        "signup",
        "signup-user",
        "--email",
        "a@b.c",
        "--password",
        password,
    ];
    let body = format!(r#"{{"email": "a@b.c", "password": "{password}"}}"#);
    // With a key, so that only the refusal stops the generated command.
    let key = [("AVALA_API_KEY", common::KEY)];
    let runs = [
        mock.run(&by_argument),
        mock.run_with(&["signup", "signup-user", "--body", "-"], &key, Some(&body)),
    ];
    for run in runs {
        let run = run.expect(2);
        assert!(run.stderr.contains("use `avala signup"), "{}", run.stderr);
        assert!(run.stderr.contains("process list"), "{}", run.stderr);
        for shown in [&run.stdout, &run.stderr] {
            assert!(!shown.contains(password), "{shown}");
        }
    }
    assert!(mock.server.received().is_empty(), "nothing was sent");
    for args in [&["--help"][..], &["signup", "--help"]] {
        let help = common::avala(args, &[], None).expect(0).stdout;
        assert!(!help.contains("signup-user"), "{help}");
    }
}

#[test]
fn signup_takes_no_password_argument() {
    let mock = Mock::start();
    let run = mock.run(&["signup", "--email", "a@b.c", "--password", "x"]);
    assert_eq!(run.code, 2, "a usage error: {}", run.stderr);
    assert_eq!(mock.server.hits("signup_user"), 0);
}
