//! Step 4 of §9.4: reading an object's bytes.
//!
//! 1. A grant: `POST {access_path}?transport=avala-edge-v1` (GET once on
//!    405, in the transport); checked; asked for again once when under 5 s
//!    of it remain.
//! 2. `GET grant.url`: no credentials, no redirect, `Accept-Encoding` by
//!    provider; only `200` is accepted.
//! 3. The bytes are hashed as they arrive; one byte more than the manifest
//!    size fails at once; the last chunk is released only after the size
//!    and SHA-256 match. Memory does not grow with the object's size.

use std::{
    path::{Path, PathBuf},
    pin::Pin,
};

use bytes::{Bytes, BytesMut};
use futures::{stream, Stream, StreamExt, TryStreamExt};
use reqwest::{header, Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{
    documents::integrity,
    grant::{self, Grant, MIN_REMAINING},
    transport, ResolvedObject,
};
use crate::Result;

/// What `transport=` asks for.
const TRANSPORT: &str = "avala-edge-v1";
/// The most `read()` reserves up front (it grows beyond as bytes arrive).
const READ_RESERVE: u64 = 8 * 1024 * 1024;

/// A boxed stream of verified chunks.
type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

impl ResolvedObject {
    /// A grant with at least 5 s left, asking once more if the first has
    /// less.
    async fn live_grant(&self) -> Result<Grant> {
        let first = self.grant().await?;
        if first.remaining() >= MIN_REMAINING {
            return Ok(first);
        }
        tracing::debug!("resolver: grant about to expire, asking for a fresh one");
        let second = self.grant().await?;
        if second.remaining() >= MIN_REMAINING {
            return Ok(second);
        }
        Err(integrity(
            "the access grants expire too soon to start a download",
        ))
    }

    async fn grant(&self) -> Result<Grant> {
        let loaded = &self.loaded;
        let document = loaded
            .transport
            .call(
                Method::POST,
                &self.doc.access_path,
                &[("transport", TRANSPORT.to_owned())],
                Some(&loaded.pinned),
            )
            .await?;
        grant::check(
            &document.body,
            document.date.as_deref(),
            &loaded.revision,
            &self.doc,
            &loaded.transport.base,
        )
    }

    /// The object's bytes as a stream of chunks, verified as they arrive:
    /// a chunk is released only once the next has arrived, and the last
    /// only after the size and SHA-256 match the manifest. A mismatch, a
    /// cut-short transfer or a redirect ends the stream with
    /// [`Error::Integrity`](crate::Error::Integrity).
    pub fn stream(&self) -> impl Stream<Item = Result<Bytes>> + Send + Unpin + 'static {
        let object = self.clone();
        let start = async move { object.verified_chunks().await };
        stream::once(start).try_flatten().boxed()
    }

    /// The whole object in memory, verified.
    pub async fn read(&self) -> Result<Bytes> {
        let mut out = BytesMut::with_capacity(self.doc.size_bytes.min(READ_RESERVE) as usize);
        let mut chunks = self.stream();
        while let Some(chunk) = chunks.try_next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// Writes the object to `path`: into a temporary file beside it, renamed
    /// to `path` only after verification (replacing a file there). On any
    /// failure nothing is left behind.
    pub async fn download_to(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut temp = TempFile::create(path).await?;
        let mut chunks = self.stream();
        while let Some(chunk) = chunks.try_next().await? {
            temp.file
                .write_all(&chunk)
                .await
                .map_err(|e| local(&temp.path, "writing", e))?;
        }
        temp.file
            .flush()
            .await
            .map_err(|e| local(&temp.path, "writing", e))?;
        temp.file
            .sync_all()
            .await
            .map_err(|e| local(&temp.path, "writing", e))?;
        tokio::fs::rename(&temp.path, path)
            .await
            .map_err(|e| local(path, "renaming into", e))?;
        temp.keep();
        Ok(())
    }

    /// Steps 1–3: the grant, the request, and the verifying stream.
    async fn verified_chunks(self) -> Result<Chunks> {
        let grant = self.live_grant().await?;
        let response = self
            .loaded
            .transport
            .http
            .request(Method::GET, grant.url.clone())
            .header(header::ACCEPT_ENCODING, grant.provider.accept_encoding())
            .send()
            .await
            .map_err(transport::transport)?;
        match response.status() {
            StatusCode::OK => {}
            s if s.is_redirection() => {
                return Err(integrity(format!(
                    "the download answered HTTP {} (a redirect, refused)",
                    s.as_u16()
                )))
            }
            s => {
                return Err(integrity(format!(
                    "the download answered HTTP {} instead of 200",
                    s.as_u16()
                )))
            }
        }
        let verify = Verify {
            body: response.bytes_stream().boxed(),
            hasher: Sha256::new(),
            received: 0,
            expected_size: self.doc.size_bytes,
            expected_sha256: self.doc.sha256.clone(),
            held: None,
            done: false,
        };
        Ok(stream::try_unfold(verify, Verify::next).boxed())
    }
}

/// The verifying state of one download.
struct Verify {
    body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    hasher: Sha256,
    received: u64,
    expected_size: u64,
    expected_sha256: String,
    /// The chunk held back until the next arrives (or verification passes).
    held: Option<Bytes>,
    done: bool,
}

impl Verify {
    async fn next(mut self) -> Result<Option<(Bytes, Self)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    self.received += chunk.len() as u64;
                    if self.received > self.expected_size {
                        return Err(integrity(format!(
                            "the download is longer than the manifest's {} bytes",
                            self.expected_size
                        )));
                    }
                    self.hasher.update(&chunk);
                    if chunk.is_empty() {
                        continue;
                    }
                    if let Some(previous) = self.held.replace(chunk) {
                        return Ok(Some((previous, self)));
                    }
                }
                Some(Err(_)) => {
                    return Err(integrity(format!(
                        "the download was cut short after {} of {} bytes",
                        self.received, self.expected_size
                    )))
                }
                None => {
                    self.done = true;
                    if self.received != self.expected_size {
                        return Err(integrity(format!(
                            "the download has {} bytes, the manifest says {}",
                            self.received, self.expected_size
                        )));
                    }
                    let digest = std::mem::take(&mut self.hasher).finalize();
                    if crate::digest::hex(&digest) != self.expected_sha256 {
                        return Err(integrity(
                            "the download's SHA-256 does not match the manifest",
                        ));
                    }
                    return Ok(self.held.take().map(|last| (last, self)));
                }
            }
        }
    }
}

/// A local file error, naming the file (never a URL).
fn local(path: &Path, doing: &str, e: std::io::Error) -> crate::Error {
    crate::Error::InvalidArgument {
        message: format!("{doing} {}: {e}", path.display()),
    }
}

/// A temporary file beside the target, removed on drop unless kept.
struct TempFile {
    path: PathBuf,
    file: tokio::fs::File,
    keep: bool,
}

impl TempFile {
    async fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .ok_or_else(|| crate::Error::InvalidArgument {
                message: format!("{} does not name a file", target.display()),
            })?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        for _ in 0..8 {
            let mut temp = std::ffi::OsString::from(".");
            temp.push(name);
            temp.push(format!(".{:016x}.avala-part", fastrand::u64(..)));
            let path = dir.join(temp);
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file,
                        keep: false,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(local(&path, "creating", e)),
            }
        }
        Err(crate::Error::InvalidArgument {
            message: format!("could not create a temporary file in {}", dir.display()),
        })
    }

    fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
