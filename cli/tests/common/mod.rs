//! Runs the built `avala` against the SDK's embedded mock on loopback, and
//! checks that the key never shows up in anything it prints.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
};

use avala::mock::MockServer;

/// A distinctive key that matches none of the SDK's redaction patterns, so
/// only the command line's own care keeps it out of the output.
pub const KEY: &str = "Zq7-distinctive-CLI-key-0xC0FFEE-81k";

/// The mock, with the runtime that serves it while the binary runs.
pub struct Mock {
    pub server: MockServer,
    _runtime: tokio::runtime::Runtime,
}

impl Mock {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let server = runtime.block_on(MockServer::start());
        Self {
            server,
            _runtime: runtime,
        }
    }

    /// `avala args…` with the key and the mock's URL in the environment.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[("AVALA_API_KEY", KEY)], None)
    }

    /// `avala args…` with `env` (and the mock's URL), `stdin` when given.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut all = vec![("AVALA_BASE_URL", self.server.base_url())];
        all.extend_from_slice(env);
        avala(args, &all, stdin)
    }
}

/// What one run printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON, or a failure that shows what was printed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Fails unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the binary with a clean environment (no `AVALA_*` but `env`, no
/// `.env`: it runs in a fresh directory), and asserts the key is in
/// neither stdout nor stderr.
pub fn avala(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let dir = TempDir::new();
    let mut cmd = command_in(dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    finish(cmd, args, stdin)
}

/// The binary in `dir` with a clean environment: no `AVALA_*` variable but
/// `AVALA_ALLOW_INSECURE_BASE_URL=1` (the mock serves plain http), no proxy.
pub fn command_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_avala"));
    cmd.current_dir(dir)
        .env_remove("AVALA_API_KEY")
        .env_remove("AVALA_BASE_URL")
        .env("AVALA_ALLOW_INSECURE_BASE_URL", "1");
    for var in ["HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        cmd.env_remove(var).env_remove(var.to_lowercase());
    }
    cmd
}

/// Runs `cmd` with `args` and `stdin`, and asserts the key is in neither
/// stdout nor stderr.
pub fn finish(mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Run {
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the avala binary runs");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped");
        pipe.write_all(text.as_bytes()).expect("stdin written");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("avala finishes");
    let run = Run {
        code: status.code().expect("an exit code, not a signal"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(KEY),
        "the key is on stdout of {args:?}:\n{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains(KEY),
        "the key is on stderr of {args:?}:\n{}",
        run.stderr
    );
    run
}

/// Text with terminal control characters from a server: an OSC that sets
/// the window title (ended by BEL), a CSI that clears the screen, a C1 CSI,
/// DEL and a carriage return.
pub const HOSTILE: &str = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{7f}\r end";

/// [`HOSTILE`] as `avala` shows it to a person.
pub const HOSTILE_SHOWN: &str = "evil\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u007f\\u000d end";

/// Fails if `text` holds a control character other than the line feed:
/// ESC and BEL byte for byte, and every other C0, DEL and C1 character.
pub fn assert_no_controls(text: &str, what: &str) {
    assert!(
        !text.bytes().any(|b| b == 0x1b || b == 0x07),
        "ESC or BEL in {what}: {text:?}"
    );
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in {what}: {text:?}"
    );
}

/// A loopback listener standing in for a proxy: it records the head of
/// each request and refuses it with a 403, so nothing leaves the machine.
pub struct Trap {
    pub addr: std::net::SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Trap {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&heads);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let head = read_head(&mut stream);
                log.lock().unwrap().push(head);
                let _ = stream.write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { addr, heads }
    }

    /// The request heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn read_head(stream: &mut std::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("avala-cli-test-{:016x}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
