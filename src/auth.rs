//! The API key: held as a sensitive header value, never printed.

use std::fmt;

use reqwest::header::{HeaderName, HeaderValue};

/// The `X-Avala-Api-Key` header name.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-avala-api-key");

/// An API key. `Debug` and `Display` print `[redacted]`.
#[derive(Clone)]
pub(crate) struct ApiKey {
    header: HeaderValue,
    text: String,
    /// `false` for a client of anonymous operations only, whose "key" is a
    /// secret to scrub (a signup's password) and never a header.
    sendable: bool,
}

impl ApiKey {
    /// Wraps a key; refuses one that is empty or cannot be an HTTP header.
    pub(crate) fn new(key: &str) -> crate::Result<Self> {
        let key = key.trim();
        if key.is_empty() {
            return Err(crate::Error::config(
                "no API key: set AVALA_API_KEY or pass one with Client::builder().api_key(..)",
            ));
        }
        let mut header = HeaderValue::from_str(key).map_err(|_| {
            crate::Error::config("the API key (AVALA_API_KEY) contains characters that cannot be sent in an HTTP header")
        })?;
        header.set_sensitive(true);
        Ok(Self {
            header,
            text: key.to_owned(),
            sendable: true,
        })
    }

    /// No key, for a client of anonymous operations only: `secret` (a
    /// signup's password) is never sent but is scrubbed from everything a
    /// server sends back, by the same scrub as a key.
    pub(crate) fn scrub_only(secret: &str) -> Self {
        Self {
            header: HeaderValue::from_static(""),
            text: secret.to_owned(),
            sendable: false,
        }
    }

    /// Whether this is a key to send (not [`Self::scrub_only`]).
    pub(crate) fn sendable(&self) -> bool {
        self.sendable
    }

    pub(crate) fn header(&self) -> &HeaderValue {
        &self.header
    }

    /// The key itself, only for scrubbing it out of error bodies.
    pub(crate) fn expose_for_scrubbing(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
