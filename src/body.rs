//! Bounded reads of response bodies: no server chooses how much memory a
//! response takes.

use bytes::{Bytes, BytesMut};

/// The default of [`crate::ClientBuilder::max_response_bytes`]: far above any
/// page or document of the API, far below what would hurt a process.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// The most of an error body (API, storage or resolver) that is read and
/// kept.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// What a bounded read got.
pub(crate) struct Bounded {
    /// At most the cap's worth of the body.
    pub(crate) bytes: Bytes,
    /// The body had more than the cap (or announced more).
    pub(crate) over: bool,
    /// The body failed before its end (what arrived is in `bytes`).
    pub(crate) failed: Option<reqwest::Error>,
}

/// Reads at most `cap` bytes of `response`'s body, stopping as soon as the
/// body proves longer: memory never exceeds the cap plus one chunk, whatever
/// the server sends.
pub(crate) async fn read_at_most(response: &mut reqwest::Response, cap: u64) -> Bounded {
    let expected = response.content_length().unwrap_or(0).min(cap);
    let mut kept = Kept::default();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return kept.into_bounded(false, None),
            Err(e) => return kept.into_bounded(false, Some(e)),
        };
        let room = cap - kept.len;
        if chunk.len() as u64 > room {
            kept.push(chunk.slice(..room as usize), expected);
            return kept.into_bounded(true, None);
        }
        kept.push(chunk, expected);
    }
}

/// The chunks read so far: the usual body is one chunk, kept without a copy.
#[derive(Default)]
struct Kept {
    first: Option<Bytes>,
    joined: BytesMut,
    len: u64,
}

impl Kept {
    fn push(&mut self, chunk: Bytes, expected: u64) {
        self.len += chunk.len() as u64;
        if self.first.is_none() && self.joined.is_empty() {
            self.first = Some(chunk);
            return;
        }
        if let Some(head) = self.first.take() {
            self.joined
                .reserve((expected as usize).max(head.len() + chunk.len()));
            self.joined.extend_from_slice(&head);
        }
        self.joined.extend_from_slice(&chunk);
    }

    fn into_bounded(self, over: bool, failed: Option<reqwest::Error>) -> Bounded {
        Bounded {
            bytes: self.first.unwrap_or_else(|| self.joined.freeze()),
            over,
            failed,
        }
    }
}

/// The error a buffered 2xx response's body yields when the real body was
/// over the limit; `From<progenitor_client::Error>` turns it into
/// [`crate::Error::ResponseTooLarge`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TooLarge {
    pub(crate) limit: u64,
    pub(crate) status: u16,
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the HTTP {} response body is over the {}-byte limit",
            self.status, self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

/// A 2xx body that the `exec` hook read (within the limit), carried to the
/// typed decode ([`crate::decode::response`]) in the response's extensions.
/// The response itself travels on with its body spent: handing the bytes
/// over this way costs one map entry, where a response rebuilt around them
/// copied the URL and boxed a new body on every call.
#[derive(Clone)]
pub(crate) struct Buffered(pub(crate) Bytes);

/// `response` with its body replaced: by `bytes`, or when `too_large` by a
/// body whose read fails with [`TooLarge`]. Status, version, headers,
/// extensions and URL move over without a copy or a parse.
pub(crate) fn rebuilt(
    mut response: reqwest::Response,
    bytes: Bytes,
    too_large: Option<TooLarge>,
) -> reqwest::Response {
    use reqwest::ResponseBuilderExt;
    let body = match too_large {
        None => reqwest::Body::from(bytes),
        Some(e) => {
            reqwest::Body::wrap_stream(futures::stream::once(async move { Err::<Bytes, _>(e) }))
        }
    };
    let mut rebuilt = http::Response::new(body);
    // Without reqwest's URL extension (settable only through a builder), the
    // conversion below would parse a placeholder URL.
    let mut url = http::Response::builder().url(response.url().clone());
    if let Some(ext) = url.extensions_mut() {
        rebuilt.extensions_mut().extend(std::mem::take(ext));
    }
    *rebuilt.status_mut() = response.status();
    *rebuilt.version_mut() = response.version();
    *rebuilt.headers_mut() = std::mem::take(response.headers_mut());
    rebuilt
        .extensions_mut()
        .extend(std::mem::take(response.extensions_mut()));
    reqwest::Response::from(rebuilt)
}
