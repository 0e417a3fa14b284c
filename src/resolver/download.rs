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
    future::{Future, IntoFuture},
    path::{Path, PathBuf},
    pin::Pin,
};

use bytes::{Bytes, BytesMut};
use futures::{stream, Stream, StreamExt, TryStreamExt};
use reqwest::{header, Method, StatusCode};
use sha2::{Digest, Sha256};

use super::{
    documents::integrity,
    grant::{self, Grant, MIN_REMAINING},
    local::{self, Existing, Part, Place},
    transport, ResolvedObject,
};
use crate::Result;

/// What `transport=` asks for.
const TRANSPORT: &str = "avala-edge-v1";
/// The most `read()` reserves up front (it grows beyond as bytes arrive).
const READ_RESERVE: u64 = 8 * 1024 * 1024;
/// The limit of [`ResolvedObject::read`]: 64 MiB, as in the Python SDK.
pub const DEFAULT_READ_LIMIT: u64 = 64 * 1024 * 1024;

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

    /// The whole object in memory, verified, if it has at most
    /// [`DEFAULT_READ_LIMIT`] (64 MiB) bytes; see
    /// [`read_at_most`](Self::read_at_most).
    pub async fn read(&self) -> Result<Bytes> {
        self.read_at_most(DEFAULT_READ_LIMIT).await
    }

    /// The whole object in memory, verified, if its manifest size is at
    /// most `max_bytes`; else [`Error::ObjectTooLarge`](crate::Error::ObjectTooLarge)
    /// before any request. The download may not exceed the manifest size
    /// (that is an [`Integrity`](crate::Error::Integrity) failure at the
    /// first byte over), so no more than `max_bytes` are ever buffered.
    pub async fn read_at_most(&self, max_bytes: u64) -> Result<Bytes> {
        if self.doc.size_bytes > max_bytes {
            return Err(crate::Error::ObjectTooLarge {
                size_bytes: self.doc.size_bytes,
                max_bytes,
            });
        }
        let mut out = BytesMut::with_capacity(self.doc.size_bytes.min(READ_RESERVE) as usize);
        let mut chunks = self.stream();
        while let Some(chunk) = chunks.try_next().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }

    /// [`read`](Self::read), blocking the thread until the object is read
    /// and verified (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn read_blocking(&self) -> Result<Bytes> {
        self.loaded.transport.blocking.run(self.read())
    }

    /// [`stream`](Self::stream) as an iterator that blocks for each chunk
    /// (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn stream_blocking(&self) -> impl Iterator<Item = Result<Bytes>> + 'static {
        crate::blocking::iter(self.loaded.transport.blocking.clone(), self.stream())
    }

    /// Writes the object to `path`, verified; run it with `.await`. A file
    /// already there with the object's size and SHA-256 is kept (nothing is
    /// fetched); one that differs is replaced only with
    /// [`overwrite(true)`](ObjectDownload::overwrite), else the download
    /// fails with [`Error::FileConflict`](crate::Error::FileConflict) before
    /// fetching. A symbolic link at `path` is never written through.
    pub fn download_to(&self, path: impl AsRef<Path>) -> ObjectDownload {
        ObjectDownload {
            object: self.clone(),
            path: path.as_ref().to_owned(),
            overwrite: false,
        }
    }

    /// Fetches the object into a temporary file beside `place`, verified,
    /// and gives it the target's name (replacing a regular file there only
    /// when `replace`). `received` sees the length of each verified chunk.
    /// On any failure nothing is left behind.
    pub(crate) async fn fetch_to(
        &self,
        place: &Place,
        replace: bool,
        received: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<()> {
        let mut part = Part::create(place).await?;
        let mut chunks = self.stream();
        while let Some(chunk) = chunks.try_next().await? {
            part.write(&chunk).await?;
            received(chunk.len() as u64);
        }
        part.commit(place, replace).await
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

/// What a download did with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Downloaded {
    /// Its bytes were fetched, verified and written.
    Fetched,
    /// A file with its size and SHA-256 was already there: nothing was
    /// fetched.
    Kept,
}

/// A download of one object to a file; made by
/// [`ResolvedObject::download_to`], run by awaiting it.
#[derive(Debug)]
#[must_use = "nothing is downloaded until it is awaited"]
pub struct ObjectDownload {
    object: ResolvedObject,
    path: PathBuf,
    overwrite: bool,
}

impl ObjectDownload {
    /// Replace a file at the path that differs from the object (default
    /// `false`: such a file is an
    /// [`Error::FileConflict`](crate::Error::FileConflict)). Links and
    /// directories are never replaced.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Runs the download (what `.await` does).
    pub async fn send(self) -> Result<Downloaded> {
        let place = Place::file(&self.path)?;
        let existing = {
            let (place, size, sha256) = (
                place.clone(),
                self.object.size_bytes(),
                self.object.sha256().to_owned(),
            );
            local::blocking(move || local::inspect(&place, size, &sha256)).await?
        };
        match existing {
            Existing::Same => return Ok(Downloaded::Kept),
            Existing::Differs if !self.overwrite => {
                return Err(local::differs(&place.path(), &[]));
            }
            _ => {}
        }
        self.object
            .fetch_to(&place, existing == Existing::Differs, &|_| {})
            .await?;
        Ok(Downloaded::Fetched)
    }

    /// [`send`](Self::send), blocking the thread until the download ends
    /// (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<Downloaded> {
        let engine = self.object.loaded.transport.blocking.clone();
        engine.run(self.send())
    }
}

impl IntoFuture for ObjectDownload {
    type Output = Result<Downloaded>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Downloaded>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
