//! Helpers for the end-to-end tests: a temp directory, a tiny HTTP server on
//! 127.0.0.1, and running the built `xtask` binary.

#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn checked_in_text() -> String {
    std::fs::read_to_string(root().join("openapi/avala.json")).unwrap()
}

pub fn checked_in() -> Value {
    serde_json::from_str(&checked_in_text()).unwrap()
}

pub fn overlay_path() -> PathBuf {
    root().join("openapi/overlay.json")
}

/// A fresh directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    /// File names in the directory (to see that no temp file was left).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The lines of stderr that start with `error:`.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }
}

pub fn xtask(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args).env_remove("AVALA_OPENAPI_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One canned answer: status, extra header lines, body.
#[derive(Clone)]
pub struct Reply {
    pub path: &'static str,
    pub status: u16,
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(
        path: &'static str,
        status: u16,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            path,
            status,
            headers: vec![format!("Content-Type: {content_type}")],
            body: body.into(),
        }
    }
}

/// Serves the replies on 127.0.0.1 (404 for any other path) from a
/// background thread; returns `http://127.0.0.1:PORT`.
pub fn serve(replies: Vec<Reply>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let reply = replies
                .iter()
                .find(|r| r.path == path)
                .cloned()
                .unwrap_or_else(|| Reply::new("", 404, "text/plain", "not found"));
            let mut answer = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
            for h in &reply.headers {
                answer.push_str(h);
                answer.push_str("\r\n");
            }
            answer.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.write_all(&reply.body);
        }
    });
    base
}

/// Renames a schema and rewrites every `$ref` to it.
pub fn rename_schema(doc: &mut Value, from: &str, to: &str) {
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    let s = schemas.remove(from).unwrap();
    schemas.insert(to.to_owned(), s);
    let text = serde_json::to_string(doc).unwrap().replace(
        &format!("\"#/components/schemas/{from}\""),
        &format!("\"#/components/schemas/{to}\""),
    );
    *doc = serde_json::from_str(&text).unwrap();
}
