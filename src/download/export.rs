//! An export's file to disk ([`Client::download_export`]).
//!
//! 1. The target is looked at before any request: a file there is kept
//!    unless `overwrite(true)`; a link or a directory is never replaced.
//! 2. `GET /exports/{uid}/` (or the wait of [`crate::wait`]): the export
//!    must have finished (`exported` or `completed`) with a `download_url`.
//! 3. The URL passes the one host policy (the storage hosts of
//!    `hosts.rs`; plain `http` only to loopback for a loopback client)
//!    before a byte is sent; the request carries no key and follows no
//!    redirect.
//! 4. The bytes stream into a temporary file beside the target, counted
//!    against the size the answer announced and hashed for its checksum;
//!    the file gets the target's name only once both hold.
//! 5. A failed attempt is repeated on the download plane of
//!    [`crate::retry`]; an attempt continues a resumable temporary file
//!    with `Range` and `If-Range` (see [`ExportDownload`]).

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use futures::StreamExt;
use md5::{Digest, Md5};
use reqwest::{header, StatusCode};

use super::file::{self, blocking, conflict, local, Part, Place};
use crate::{
    retry,
    upload::transfer::{DataPlane, Timeouts},
    wait::{self, Verdict},
    Callback, Client, Error, Result,
};

/// The longest validator kept in a resumable file's name (hex doubles it).
const MAX_VALIDATOR: usize = 96;

impl Client {
    /// Downloads the file of the finished export `uid` to `path` (the
    /// caller's path: nothing from the server chooses where it goes). See
    /// [`ExportDownload`] for the checks, the atomic write and resuming.
    ///
    /// ```no_run
    /// # async fn demo(client: avala::Client) -> avala::Result<()> {
    /// use std::time::Duration;
    /// let file = client
    ///     .download_export("exp_123", "export.zip")
    ///     .wait(Duration::from_secs(600))
    ///     .on_progress(|p| eprintln!("{} of {} bytes", p.received, p.total))
    ///     .send()
    ///     .await?;
    /// println!("{} bytes in {}", file.size, file.path.display());
    /// # Ok(()) }
    /// ```
    pub fn download_export(
        &self,
        uid: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> ExportDownload<'_> {
        ExportDownload {
            client: self,
            uid: uid.into(),
            path: path.as_ref().to_owned(),
            overwrite: false,
            wait: None,
            on_progress: None,
        }
    }
}

/// A download of an export's file; made by [`Client::download_export`],
/// run by [`send`](Self::send) (or `send_blocking` with the `blocking`
/// feature).
///
/// - **Not ready**: without [`wait`](Self::wait), an export that has not
///   finished is [`Error::ExportNotReady`] (also when it finished without a
///   `download_url`); a `failed` one is [`Error::JobFailed`].
/// - **Where bytes come from**: only a storage host of the SDK's host
///   policy (the Avala edge, S3, R2, GCS, Azure Blob) over `https`; any
///   other URL, and any redirect, is [`Error::Integrity`] and nothing is
///   sent to it. The API key is never sent.
/// - **Size**: the answer must announce it (`Content-Length`, or the total
///   of `Content-Range`); fewer or more bytes fail the download.
/// - **Checksum**: when the `ETag` is a strong 32-hex-digit value, it is
///   taken as the MD5 of the file (what S3, R2 and GCS give for an object
///   stored in one part) and checked, unless the answer says the object is
///   encrypted with a KMS or customer key (`x-amz-server-side-encryption:
///   aws:kms…` or a customer algorithm header), whose ETag is not an MD5.
///   A multipart ETag (`"…-N"`) or any other form is not checked. The
///   checksum only ever fails a download; it chooses nothing.
/// - **Writing**: into a temporary file beside `path`, fsynced, then given
///   the name `path` without replacing anything (a file there is
///   [`Error::FileConflict`], before any request, unless
///   [`overwrite(true)`](Self::overwrite)).
/// - **Resuming**: when the answer has a validator (a strong `ETag`, else
///   `Last-Modified`), the temporary file is `.<name>.<size>-<validator>.avala-resume`
///   and is kept when a download fails. The next attempt (or run) sends
///   `Range: bytes=<have>-` with `If-Range: <validator>`, and continues only
///   on a `206` whose `Content-Range` starts there and whose size and
///   validator are the kept ones; a `200` (the file changed, or the server
///   ignores ranges) starts again from zero.
#[must_use = "nothing is downloaded until `.send().await` (or `.send_blocking()`)"]
pub struct ExportDownload<'a> {
    client: &'a Client,
    uid: String,
    path: PathBuf,
    overwrite: bool,
    wait: Option<Duration>,
    on_progress: Option<Callback<DownloadProgress>>,
}

/// How far a download is, passed to
/// [`on_progress`](ExportDownload::on_progress).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadProgress {
    /// Bytes of the file on disk so far (a resumed part included).
    pub received: u64,
    /// The file's size.
    pub total: u64,
}

/// A finished export download.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportFile {
    /// Where the file is (the path given).
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes that an earlier attempt had already written and that were
    /// kept (0 when the download started from zero).
    pub resumed_from: u64,
    /// Whether the file's MD5 was checked against the `ETag`.
    pub md5_checked: bool,
}

impl ExportDownload<'_> {
    /// Replace a regular file at the path (default `false`: such a file is
    /// [`Error::FileConflict`] before any request). Links and directories
    /// are never replaced.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Wait up to `timeout` for the export to finish first (the export wait
    /// of [`crate::wait`]); not called: the export must already be
    /// finished.
    pub fn wait(mut self, timeout: Duration) -> Self {
        self.wait = Some(timeout);
        self
    }

    /// Calls `f` after every chunk written.
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: Fn(&DownloadProgress) + Send + Sync + 'static,
    {
        self.on_progress = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs the download.
    pub async fn send(self) -> Result<ExportFile> {
        if self.uid.trim().is_empty() {
            return Err(Error::InvalidArgument {
                message: "the export uid is empty".into(),
            });
        }
        let place = Place::file(&self.path)?;
        let replace = {
            let (place, overwrite) = (place.clone(), self.overwrite);
            blocking(move || target_free(&place, overwrite)).await?
        };
        let url = self.download_url().await?;
        let plane = DataPlane::new(self.client, Timeouts::default())?;
        let url = plane.check(&url).map_err(|e| refused(&self.uid, e))?;
        let fetch = Fetch {
            plane,
            url,
            place,
            key: crate::client::api_key(self.client).to_owned(),
            on_progress: self.on_progress,
        };
        let policy = self.client.retry_policy();
        let done = retry::run(&policy, retry::Plane::Download, |_| async {
            let result = fetch.attempt().await;
            let verdict = retry::download(&result);
            (result, verdict)
        })
        .await?;
        done.part.commit(&fetch.place, replace).await?;
        Ok(ExportFile {
            path: self.path,
            size: done.size,
            resumed_from: done.resumed_from,
            md5_checked: done.md5_checked,
        })
    }

    /// [`send`](Self::send), blocking the thread until the download ends
    /// (see [`crate::blocking`]); progress callbacks run on this thread.
    #[cfg(feature = "blocking")]
    pub fn send_blocking(self) -> Result<ExportFile> {
        crate::blocking::engine(self.client).run(self.send())
    }

    /// The finished export's `download_url` (steps 2).
    async fn download_url(&self) -> Result<String> {
        let export = match self.wait {
            Some(timeout) => {
                let wait = self.client.wait_for_export(self.uid.as_str());
                wait.timeout(timeout).send().await?
            }
            None => {
                let export = self.client.get_export().uid(self.uid.as_str()).send();
                export.await?.into_inner()
            }
        };
        let key = crate::client::api_key(self.client);
        let not_ready = |status: Option<String>| Error::ExportNotReady {
            uid: self.uid.clone(),
            status: status.map(|s| crate::scrub::scrub(&s, key).chars().take(128).collect()),
        };
        match wait::export_verdict(&export) {
            Verdict::Succeeded => {}
            Verdict::Failed(status) => {
                return Err(Error::JobFailed {
                    job: format!("export {}", self.uid),
                    status,
                })
            }
            Verdict::Running(status) => return Err(not_ready(status)),
        }
        match export.download_url {
            Some(url) if !url.trim().is_empty() => Ok(url),
            _ => Err(not_ready(export.status.map(|s| s.as_str().to_owned()))),
        }
    }
}

/// Step 1: whether a regular file at the target may be replaced (`true`:
/// there is one and `overwrite`); refuses one without `overwrite`, and
/// links and anything else always. Blocking.
fn target_free(place: &Place, overwrite: bool) -> Result<bool> {
    let path = place.path();
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(local(&path, "reading", e)),
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(conflict(&path, "it is a symbolic link", false))
        }
        Ok(meta) if !meta.is_file() => Err(conflict(&path, "it is not a regular file", false)),
        Ok(_) if overwrite => Ok(true),
        Ok(_) => Err(conflict(&path, "a file is already there", true)),
    }
}

/// What every attempt shares.
struct Fetch {
    plane: DataPlane,
    url: url::Url,
    place: Place,
    key: String,
    on_progress: Option<Callback<DownloadProgress>>,
}

/// The bytes of a finished attempt, in their temporary file.
struct Fetched {
    part: Part,
    size: u64,
    resumed_from: u64,
    md5_checked: bool,
}

/// What a remote file is, from an answer's headers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Remote {
    total: u64,
    /// A strong `ETag` (`e…`) or `Last-Modified` (`m…`), as sent back in
    /// `If-Range`; `None`: nothing to resume against.
    validator: Option<String>,
    md5: Option<[u8; 16]>,
}

impl Remote {
    /// The resumable part's tag: `<size>-<hex of the validator>`.
    fn tag(&self) -> Option<String> {
        let v = self.validator.as_ref()?;
        Some(format!(
            "{}-{}",
            self.total,
            crate::digest::hex(v.as_bytes())
        ))
    }
}

/// A kept part: its tag read back as what it holds, and its length.
struct Kept {
    tag: String,
    total: u64,
    validator: String,
    len: u64,
}

impl Kept {
    fn parse(tag: &str, len: u64) -> Option<Self> {
        let (total, hex) = tag.split_once('-')?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Self {
            tag: tag.to_owned(),
            total: total.parse().ok()?,
            validator: String::from_utf8(bytes).ok()?,
            len,
        })
    }
}

impl Fetch {
    /// One attempt: continue a kept part when the server allows, else
    /// start from zero.
    async fn attempt(&self) -> Result<Fetched> {
        let kept = self.kept().await?;
        let mut headers = header::HeaderMap::new();
        if let Some(k) = &kept {
            headers.insert(header::RANGE, value(&format!("bytes={}-", k.len))?);
            headers.insert(header::IF_RANGE, value(&k.validator)?);
        }
        let response = self.plane.get(self.url.clone(), headers).await?;
        let status = response.status();
        if status.is_redirection() {
            return Err(integrity(format!(
                "the export's storage answered HTTP {} (a redirect, refused)",
                status.as_u16()
            )));
        }
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            // The kept part does not fit the file: start again.
            self.drop_kept().await?;
            return Err(integrity("the kept part did not fit the file (HTTP 416)"));
        }
        if !status.is_success() {
            let captured = crate::capture::error_response(
                response,
                &self.key,
                crate::capture::MAX_ERROR_BODY as u64,
            )
            .await;
            return Err(progenitor_client::Error::<()>::UnexpectedResponse(captured).into());
        }
        let remote = remote(&response)?;
        let (part, from) = match (status, &kept) {
            (StatusCode::PARTIAL_CONTENT, Some(k)) => {
                if let Err(e) = self.resume_matches(&response, &remote, k) {
                    // Not the kept bytes' continuation: start again from
                    // zero, once (with no part left, no range is asked).
                    tracing::debug!("export download: {e}; starting again");
                    drop(response);
                    self.drop_kept().await?;
                    return Box::pin(self.attempt()).await;
                }
                let (part, have) = Part::resumable(&self.place, &k.tag).await?;
                if have != k.len {
                    return Err(integrity("the kept part changed during the download"));
                }
                (part, k.len)
            }
            (StatusCode::PARTIAL_CONTENT, None) => {
                return Err(integrity("HTTP 206 to a request without a range"))
            }
            _ => {
                // A 200: the whole file, from zero.
                self.drop_kept().await?;
                (self.fresh_part(&remote).await?, 0)
            }
        };
        self.receive(response, part, from, &remote).await
    }

    /// The longest kept part, if any.
    async fn kept(&self) -> Result<Option<Kept>> {
        let place = self.place.clone();
        let parts = blocking(move || file::resumable_parts(&place)).await?;
        Ok(parts
            .into_iter()
            .filter_map(|(tag, len)| Kept::parse(&tag, len))
            .filter(|k| k.len > 0 && k.len < k.total)
            .max_by_key(|k| k.len))
    }

    /// Removes every kept part of the target (a new file is starting).
    async fn drop_kept(&self) -> Result<()> {
        let place = self.place.clone();
        blocking(move || {
            for (tag, _) in file::resumable_parts(&place)? {
                file::remove_resumable(&place, &tag)?;
            }
            Ok(())
        })
        .await
    }

    /// A part for a download from zero: resumable when the answer has a
    /// validator (emptied if a stale one has its name), else one removed on
    /// failure.
    async fn fresh_part(&self, remote: &Remote) -> Result<Part> {
        match remote.tag() {
            Some(tag) => Ok(Part::resumable(&self.place, &tag).await?.0),
            None => Part::create(&self.place).await,
        }
    }

    /// A 206 continues the kept part only at its length, for its size and
    /// validator.
    fn resume_matches(
        &self,
        response: &reqwest::Response,
        remote: &Remote,
        k: &Kept,
    ) -> Result<()> {
        let start = content_range(response).map(|(start, _)| start);
        if start != Some(k.len) || remote.total != k.total {
            return Err(integrity(
                "the storage's partial answer does not continue the kept part",
            ));
        }
        if remote.validator.as_deref() != Some(k.validator.as_str()) {
            return Err(integrity(
                "the storage's partial answer is for another version of the file",
            ));
        }
        Ok(())
    }

    /// Streams the body into `part` after its first `from` bytes, checking
    /// the size and the MD5.
    async fn receive(
        &self,
        response: reqwest::Response,
        mut part: Part,
        from: u64,
        remote: &Remote,
    ) -> Result<Fetched> {
        let mut md5 = Md5::new();
        if remote.md5.is_some() && from > 0 {
            let path = part.path().to_owned();
            md5 = blocking(move || {
                let mut md5 = Md5::new();
                let file = std::fs::File::open(&path).map_err(|e| local(&path, "reading", e))?;
                let read = std::io::Read::take(file, from);
                crate::digest::update_from(&mut md5, read)
                    .map_err(|e| local(&path, "reading", e))?;
                Ok(md5)
            })
            .await?;
        }
        let mut received = from;
        let mut body = response.bytes_stream();
        loop {
            let next = tokio::time::timeout(self.plane.stall(), body.next()).await;
            let chunk = match next {
                Err(_) => return Err(integrity("the export's storage stopped sending")),
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(progenitor_client::Error::<()>::CommunicationError(e).into())
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            received += chunk.len() as u64;
            if received > remote.total {
                part.discard();
                return Err(integrity(format!(
                    "the export's file is longer than the {} bytes announced",
                    remote.total
                )));
            }
            md5.update(&chunk);
            part.write(&chunk).await?;
            if let Some(f) = &self.on_progress {
                f(&DownloadProgress {
                    received,
                    total: remote.total,
                });
            }
        }
        if received != remote.total {
            return Err(integrity(format!(
                "the export's file has {received} bytes, {} were announced",
                remote.total
            )));
        }
        let md5_checked = match remote.md5 {
            Some(expected) if md5.finalize()[..] != expected[..] => {
                part.discard();
                return Err(integrity(
                    "the export's file does not match its checksum (the ETag's MD5)",
                ));
            }
            Some(_) => true,
            None => false,
        };
        Ok(Fetched {
            part,
            size: received,
            resumed_from: from,
            md5_checked,
        })
    }
}

/// The size, validator and MD5 an answer announces; an answer that does
/// not say the file's size is refused.
fn remote(response: &reqwest::Response) -> Result<Remote> {
    let headers = response.headers();
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let total = match response.status() {
        StatusCode::PARTIAL_CONTENT => content_range(response).map(|(_, total)| total),
        _ => text(header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
    }
    .ok_or_else(|| integrity("the export's storage did not announce the file's size"))?;
    let etag = text(header::ETAG).filter(|e| e.starts_with('"') && e.len() <= MAX_VALIDATOR);
    let validator = etag.map(str::to_owned).or_else(|| {
        text(header::LAST_MODIFIED)
            .filter(|m| m.len() <= MAX_VALIDATOR)
            .map(str::to_owned)
    });
    let encrypted = text(header::HeaderName::from_static(
        "x-amz-server-side-encryption",
    ))
    .is_some_and(|v| v.starts_with("aws:kms"))
        || headers.contains_key("x-amz-server-side-encryption-customer-algorithm");
    let md5 = etag.filter(|_| !encrypted).and_then(md5_of_etag);
    Ok(Remote {
        total,
        validator,
        md5,
    })
}

/// The MD5 in a strong ETag of 32 hex digits (`"…"`); `None` otherwise.
fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
    let hex = etag.strip_prefix('"')?.strip_suffix('"')?;
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `(start, total)` of a `Content-Range: bytes start-end/total` whose end
/// is the file's last byte.
fn content_range(response: &reqwest::Response) -> Option<(u64, u64)> {
    let range = response
        .headers()
        .get(header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (span, total) = range.strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end, total): (u64, u64, u64) =
        (start.parse().ok()?, end.parse().ok()?, total.parse().ok()?);
    (start <= end && end.checked_add(1) == Some(total)).then_some((start, total))
}

fn value(text: &str) -> Result<header::HeaderValue> {
    header::HeaderValue::from_str(text)
        .map_err(|_| integrity("a kept part's validator is not a header value"))
}

/// The host policy's refusal, as a download's.
fn refused(uid: &str, e: crate::upload::UploadError) -> Error {
    let why = match e {
        crate::upload::UploadError::DisallowedUrl { host, reason } => {
            format!("host `{host}`: {reason}")
        }
        other => other.to_string(),
    };
    integrity(format!(
        "refused to download export {uid} from {why}; nothing was sent"
    ))
}

fn integrity(message: impl Into<String>) -> Error {
    Error::Integrity {
        message: message.into(),
    }
}

impl fmt::Debug for ExportDownload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportDownload")
            .field("uid", &self.uid)
            .field("path", &self.path)
            .field("overwrite", &self.overwrite)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_strong_32_hex_etag_is_an_md5() {
        assert!(md5_of_etag("\"9e107d9d372bb6826bd81d3542a419d6\"").is_some());
        for other in [
            "\"9e107d9d372bb6826bd81d3542a419d6-2\"",
            "W/\"9e107d9d372bb6826bd81d3542a419d6\"",
            "9e107d9d372bb6826bd81d3542a419d6",
            "\"0x8D9F0C3A5B1E2F7\"",
            "\"zz107d9d372bb6826bd81d3542a419d6\"",
        ] {
            assert!(md5_of_etag(other).is_none(), "{other}");
        }
    }

    #[test]
    fn a_kept_tag_reads_back_its_size_and_validator() {
        let remote = Remote {
            total: 10,
            validator: Some("\"abc\"".into()),
            md5: None,
        };
        let kept = Kept::parse(&remote.tag().unwrap(), 4).unwrap();
        assert_eq!((kept.total, kept.validator.as_str()), (10, "\"abc\""));
        assert!(Kept::parse("x-22", 1).is_none());
        assert!(Kept::parse("10-2", 1).is_none());
    }
}
