//! The typed decode of a successful answer, which `build.rs` puts in place of
//! progenitor's own in every generated `send`. It gives the same values and
//! the same errors, for less work a page (docs/profile.md, "Decode"):
//!
//! - [`response`]: the body is checked as UTF-8 once and parsed as `&str`,
//!   where parsing bytes checks each string on its own (about 12% of a
//!   page's decode); the headers are moved into the answer, not copied;
//!   the body is the one the `exec` hook already read
//!   ([`crate::body::Buffered`]), taken without another read.
//! - [`timestamp`] and [`optional_timestamp`], on every `DateTime<Utc>`
//!   field of the generated types: the strict RFC 3339 parser first, which
//!   is what the API sends, and chrono's lenient one only when it refuses
//!   (chrono's serde path always takes the lenient one, four times dearer).

use chrono::{DateTime, FixedOffset, Utc};
use progenitor_client::{Error, ResponseValue};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// progenitor's `ResponseValue::from_response`, with the same errors.
pub(crate) async fn response<T: DeserializeOwned, E>(
    mut response: reqwest::Response,
) -> Result<ResponseValue<T>, Error<E>> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let full = match response.extensions_mut().remove::<crate::body::Buffered>() {
        Some(crate::body::Buffered(bytes)) => bytes,
        // Not read by the `exec` hook: over the limit, whose body's read
        // fails with the error that says so.
        None => response.bytes().await.map_err(Error::ResponseBodyError)?,
    };
    let inner = json(&full).map_err(|e| Error::InvalidResponsePayload(full, e))?;
    Ok(ResponseValue::new(inner, status, headers))
}

/// `serde_json::from_slice`, faster on UTF-8: a body that is not UTF-8 goes
/// to `from_slice`, so that its error is the one it always was.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    }
}

/// A `DateTime<Utc>` field: chrono's own value and error, parsed strictly
/// first.
pub(crate) fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    d.deserialize_str(Timestamp)
}

/// An `Option<DateTime<Utc>>` field: `null` is `None`, as serde's `Option`.
pub(crate) fn optional_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    d.deserialize_option(OptionalTimestamp)
}

/// Strict RFC 3339, else chrono's lenient `FromStr` (what its `Deserialize`
/// uses): a string both accept is the same instant, so only the cost
/// changes.
fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| text.parse::<DateTime<FixedOffset>>())
        .map(|t| t.with_timezone(&Utc))
}

struct Timestamp;

impl Visitor<'_> for Timestamp {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // chrono's words, so that an error reads as it did.
        f.write_str("an RFC 3339 formatted date and time string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse(v).map_err(E::custom)
    }
}

struct OptionalTimestamp;

impl<'de> Visitor<'de> for OptionalTimestamp {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        timestamp(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `text` with chrono's own serde path and with ours.
    fn both(text: &str) -> (Result<DateTime<Utc>, String>, Result<DateTime<Utc>, String>) {
        let json = serde_json::to_string(text).unwrap();
        let theirs = serde_json::from_str::<DateTime<Utc>>(&json).map_err(|e| e.to_string());
        let mut de = serde_json::Deserializer::from_str(&json);
        let ours = timestamp(&mut de).map_err(|e| e.to_string());
        (theirs, ours)
    }

    #[test]
    fn every_timestamp_decodes_as_chrono_decodes_it() {
        let cases = [
            "2024-05-01T12:00:00Z",
            "2024-06-01T08:30:00.123456Z",
            "2024-06-01T08:30:00.123456789Z",
            "2024-06-01T08:30:00.1234567891234Z",
            "2024-06-01t08:30:00z",
            "2024-06-01 08:30:00Z",
            "2024-06-01T08:30:00+05:30",
            "2024-06-01T08:30:00-00:00",
            "2024-06-01T08:30:00+0530",
            "2016-12-31T23:59:60Z",
            "2024-02-30T00:00:00Z",
            "2024-06-01T08:30:00",
            "2024-06-01",
            " 2024-06-01T08:30:00Z",
            "+12024-06-01T08:30:00Z",
            "",
            "yesterday",
        ];
        let (mut strict, mut lenient_only) = (0, 0);
        for text in cases {
            let (theirs, ours) = both(text);
            assert_eq!(ours, theirs, "{text:?}");
            let strict_ok = DateTime::parse_from_rfc3339(text).is_ok();
            strict += usize::from(strict_ok);
            lenient_only += usize::from(!strict_ok && theirs.is_ok());
        }
        // Both paths of `parse` are taken by the cases above.
        assert!(strict >= 5 && lenient_only >= 1, "{strict} {lenient_only}");
    }

    #[test]
    fn an_optional_timestamp_is_none_for_null_and_a_value_otherwise() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Row {
            #[serde(default, deserialize_with = "optional_timestamp")]
            at: Option<DateTime<Utc>>,
        }
        let row = |json: &str| serde_json::from_str::<Row>(json).map_err(|e| e.to_string());
        assert_eq!(row(r#"{"at":null}"#), Ok(Row { at: None }));
        assert_eq!(row("{}"), Ok(Row { at: None }));
        let at = "2024-05-01T12:00:00Z".parse().ok();
        assert_eq!(row(r#"{"at":"2024-05-01T12:00:00Z"}"#), Ok(Row { at }));
        let err = row(r#"{"at":12}"#).unwrap_err();
        assert!(
            err.contains("an RFC 3339 formatted date and time string"),
            "{err}"
        );
    }

    #[test]
    fn a_body_that_is_not_utf8_fails_as_from_slice_fails() {
        let body = b"{\"uid\":\"\xff\"}";
        let ours = json::<serde_json::Value>(body).unwrap_err().to_string();
        let theirs = serde_json::from_slice::<serde_json::Value>(body)
            .unwrap_err()
            .to_string();
        assert_eq!(ours, theirs);
        assert_eq!(json::<u32>(b"7").unwrap(), 7);
    }
}
