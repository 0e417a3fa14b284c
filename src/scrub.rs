//! The one scrub that every text leaving the SDK in an error goes through:
//! first the client's own key in every spelling a server can make of it, then
//! the protocol's secret patterns ([`crate::redact::redact_text`]).
//!
//! A server can echo the key literally, with JSON `\uXXXX` escapes (a
//! surrogate pair for a character beyond U+FFFF), or percent-encoded (each
//! UTF-8 byte of a non-ASCII character its own `%XX`), each character spelt
//! its own way; a body cut at a size limit can end in the middle of it. So
//! the text is read as a sequence of *decoded* characters, each remembering
//! the bytes it was spelt with, and every run of the key's characters long
//! enough to recognise is replaced:
//!
//! - anywhere, a run of [`MIN_RUN`] or more consecutive characters of the key
//!   (the whole key when it is shorter);
//! - at the very end of the text, where a cut may have split it, a start of
//!   the key or of its secret part (after the last `_`, as in `avk_…`) of
//!   [`MIN_CUT_RUN`] or more characters, with any incomplete escape after it.

use std::borrow::Cow;

/// What a secret is replaced by.
const REDACTED: &str = "[redacted]";

/// Shortest run of the key's characters that is removed anywhere.
const MIN_RUN: usize = 8;

/// Shortest start of the key, or of its secret part, removed at the end of a
/// text.
const MIN_CUT_RUN: usize = 4;

/// `text` with `key` removed in every spelling, then redacted by the
/// protocol's patterns. An empty `key` only applies the patterns.
pub(crate) fn scrub(text: &str, key: &str) -> String {
    crate::redact::redact_text(&without_key(text, key))
}

/// `text` with every recognisable part of `key` replaced by `[redacted]`, in
/// whatever mix of literal, JSON-escaped and percent-encoded characters.
pub(crate) fn without_key<'t>(text: &'t str, key: &str) -> Cow<'t, str> {
    let key: Vec<char> = key.chars().collect();
    if key.is_empty() || text.is_empty() {
        return Cow::Borrowed(text);
    }
    let spans = key_spans(text, &key);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// One decoded character of a text and the byte range it was spelt with.
#[derive(Clone, Copy)]
struct Unit {
    ch: char,
    start: usize,
    end: usize,
}

/// The byte ranges of `text` to replace, in order and not overlapping.
fn key_spans(text: &str, key: &[char]) -> Vec<(usize, usize)> {
    let units = decode(text);
    let min_run = MIN_RUN.min(key.len());
    // Where a secret may start: the key itself, and after its last `_`.
    let secret_starts = [0, key.iter().rposition(|&c| c == '_').map_or(0, |i| i + 1)];
    // Most characters of most texts are not in the key: a bit per ASCII
    // character skips them without a look at the key.
    let ascii: u128 = key
        .iter()
        .filter(|c| c.is_ascii())
        .fold(0, |mask, &c| mask | 1 << (c as u32));
    let in_key = |c: char| match u32::from(c) {
        n @ 0..128 => ascii & (1 << n) != 0,
        _ => key.contains(&c),
    };
    let mut spans = Vec::new();
    let mut i = 0;
    while i < units.len() {
        // A character outside the key starts no run (the mask answers
        // without a look at the key); `longest_run` is the exact answer.
        let (len, from) = if in_key(units[i].ch) {
            longest_run(&units[i..], key)
        } else {
            (0, 0)
        };
        if len == 0 {
            i += 1;
            continue;
        }
        let after = units[i + len - 1].end;
        let reaches_end = after == text.len() || incomplete_escape(&text[after..]);
        let cut_secret =
            reaches_end && len >= MIN_CUT_RUN.min(key.len()) && secret_starts.contains(&from);
        if len >= min_run || cut_secret {
            let end = if reaches_end {
                text.len()
            } else {
                units[i + len - 1].end
            };
            spans.push((units[i].start, end));
            i += len;
        } else {
            i += 1;
        }
    }
    spans
}

/// The longest prefix of `units` equal to a run of `key`, and where in the
/// key that run starts (`(0, 0)` when the first unit is not in the key).
fn longest_run(units: &[Unit], key: &[char]) -> (usize, usize) {
    let mut best = (0, 0);
    let first = units[0].ch;
    for from in (0..key.len()).filter(|&from| key[from] == first) {
        let len = key[from..]
            .iter()
            .zip(units)
            .take_while(|(k, u)| **k == u.ch)
            .count();
        if len > best.0 {
            best = (len, from);
        }
    }
    best
}

/// Reads `text` as characters, decoding `\uXXXX` (and surrogate pairs),
/// `\/`, `\"`, `\\` and `%XX` (and the `%XX` bytes of one UTF-8 character)
/// to the character they spell.
fn decode(text: &str) -> Vec<Unit> {
    let bytes = text.as_bytes();
    let mut units = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < bytes.len() {
        let (ch, len) = escaped(&bytes[at..]).unwrap_or_else(|| {
            let ch = text[at..].chars().next().unwrap_or('\u{fffd}');
            (ch, ch.len_utf8())
        });
        units.push(Unit {
            ch,
            start: at,
            end: at + len,
        });
        at += len;
    }
    units
}

/// The character an escape at the start of `bytes` spells, and its length.
fn escaped(bytes: &[u8]) -> Option<(char, usize)> {
    match bytes {
        [b'\\', b'u', ..] => json_escape(bytes),
        [b'\\', c @ (b'/' | b'"' | b'\\'), ..] => Some((*c as char, 2)),
        [b'%', ..] => percent_escape(bytes),
        _ => None,
    }
}

/// `\uXXXX`, or a surrogate pair `\uD8XX\uDCXX` read as the one character
/// beyond the Basic Multilingual Plane it spells (JSON's only way to escape
/// one, so a secret with such a character is found escaped too).
fn json_escape(bytes: &[u8]) -> Option<(char, usize)> {
    let high = hex(bytes.get(2..6)?)?;
    let low = match bytes.get(6..12) {
        Some([b'\\', b'u', digits @ ..]) => hex(digits).filter(|low| LOW.contains(low)),
        _ => None,
    };
    match low {
        Some(low) if HIGH.contains(&high) => {
            let code = 0x10000 + ((high - HIGH.start) << 10) + (low - LOW.start);
            Some((char::from_u32(code).unwrap_or('\u{fffd}'), 12))
        }
        _ => Some((char::from_u32(high).unwrap_or('\u{fffd}'), 6)),
    }
}

/// UTF-16's leading and trailing surrogates.
const HIGH: std::ops::Range<u32> = 0xD800..0xDC00;
const LOW: std::ops::Range<u32> = 0xDC00..0xE000;

/// `%XX`, or the `%XX` bytes of one UTF-8 character read as that character
/// (a percent-encoded non-ASCII secret, such as a signup's password, is
/// found like one written literally). A byte that starts no character it
/// completes reads as U+FFFD.
fn percent_escape(bytes: &[u8]) -> Option<(char, usize)> {
    let first = percent_byte(bytes)?;
    let width = utf8_width(first);
    let mut utf8 = [first, 0, 0, 0];
    for (k, byte) in utf8.iter_mut().enumerate().take(width).skip(1) {
        match bytes.get(3 * k..).and_then(percent_byte) {
            Some(b) => *byte = b,
            None => return Some(('\u{fffd}', 3)),
        }
    }
    // A `first` that starts no character (`width` 0) leaves nothing to read.
    let ch = std::str::from_utf8(&utf8[..width])
        .ok()
        .and_then(|s| s.chars().next());
    Some(ch.map_or(('\u{fffd}', 3), |c| (c, 3 * width)))
}

/// The byte a `%XX` at the start of `bytes` spells.
fn percent_byte(bytes: &[u8]) -> Option<u8> {
    match bytes {
        [b'%', digits @ ..] => hex(digits.get(..2)?).map(|n| n as u8),
        _ => None,
    }
}

/// How many bytes the UTF-8 character that starts with `first` has (0 when
/// `first` starts none).
fn utf8_width(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// The value of ASCII hex digits.
fn hex(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .filter(|_| digits.iter().all(u8::is_ascii_hexdigit))
}

/// Whether `rest` is only the beginning of an escape, as left by a cut: of
/// one `\uXXXX` or `%XX`, or of the rest of a surrogate pair or of a
/// percent-encoded UTF-8 character after its first part.
fn incomplete_escape(rest: &str) -> bool {
    let b = rest.as_bytes();
    match b {
        [b'\\'] => true,
        [b'\\', b'u', digits @ ..] if digits.len() < 4 => digits.iter().all(u8::is_ascii_hexdigit),
        [b'\\', b'u', ..] => {
            // A leading surrogate, then nothing or a start of its partner.
            let leading = hex(&b[2..6]).is_some_and(|high| HIGH.contains(&high));
            let partner = &b[6..];
            leading
                && partner.len() < 6
                && matches!(partner, [] | [b'\\'] | [b'\\', b'u', ..])
                && partner.iter().skip(2).all(u8::is_ascii_hexdigit)
        }
        [b'%', digits @ ..] if digits.len() < 2 => digits.iter().all(u8::is_ascii_hexdigit),
        [b'%', ..] => {
            let width = percent_byte(b).map_or(0, utf8_width);
            // Whole `%XX` bytes, then possibly a broken one, fewer than the
            // character needs (an ASCII `%XX` is whole: `b` has 3 bytes).
            b.len() < 3 * width
                && b.chunks(3)
                    .all(|chunk| chunk[0] == b'%' && chunk[1..].iter().all(u8::is_ascii_hexdigit))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "avk_0123456789abcdef0123456789abcdef01234567";

    fn json_escaped(s: &str, every: usize) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % every == 0 {
                    format!("\\u{:04X}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    fn percent(s: &str, every: usize) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % every == 1 {
                    format!("%{:02x}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    /// Each character in turn literal, JSON-escaped, percent-encoded.
    fn mixed(s: &str) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| match i % 3 {
                0 => c.to_string(),
                1 => format!("\\u{:04x}", c as u32),
                _ => format!("%{:02X}", c as u32),
            })
            .collect()
    }

    #[test]
    fn every_spelling_of_the_key_goes() {
        for spelt in [
            KEY.to_owned(),
            json_escaped(KEY, 1),
            json_escaped(KEY, 3),
            percent(KEY, 2),
            mixed(KEY),
        ] {
            let text = format!("{{\"detail\": \"bad key {spelt}!\"}}");
            assert_eq!(
                without_key(&text, KEY),
                "{\"detail\": \"bad key [redacted]!\"}",
                "{spelt}"
            );
        }
    }

    #[test]
    fn the_secret_part_alone_goes() {
        let tail = &KEY[4..];
        assert_eq!(without_key(&format!("x={tail};"), KEY), "x=[redacted];");
        assert_eq!(
            without_key(&format!("x={};", &tail[..20]), KEY),
            "x=[redacted];"
        );
    }

    #[test]
    fn a_key_cut_at_the_end_goes_with_its_broken_escape() {
        for cut in 4..KEY.len() {
            let text = format!("body {}", &KEY[..cut]);
            assert_eq!(without_key(&text, KEY), "body [redacted]", "cut {cut}");
        }
        let text = format!("body {}\\u00", json_escaped(&KEY[..10], 2));
        assert_eq!(without_key(&text, KEY), "body [redacted]");
        let text = format!("body {}%3", &KEY[4..12]);
        assert_eq!(without_key(&text, KEY), "body [redacted]");
    }

    #[test]
    fn ordinary_text_is_kept() {
        for text in [
            "a dataset named avk_ and 0123 and abcd",
            "ends with 0124",
            "\\u00zz %zz \\",
            "é ü \u{1F600} %C3%A9",
        ] {
            assert_eq!(without_key(text, KEY), text);
        }
        assert_eq!(without_key("anything", ""), "anything");
        // The price of catching cut keys: a text that ends like the secret
        // part of the key loses that end.
        assert_eq!(without_key("ends with 0123", KEY), "ends with [redacted]");
    }

    #[test]
    fn a_short_key_is_removed_only_whole() {
        assert_eq!(
            without_key("k1 k12 k123", "k12"),
            "k1 [redacted] [redacted]3"
        );
    }

    #[test]
    fn scrub_also_applies_the_patterns() {
        let text = format!("{KEY} and AKIAIOSFODNN7EXAMPLE");
        assert_eq!(scrub(&text, KEY), "[redacted] and [redacted]");
    }

    #[test]
    fn a_cut_key_takes_only_a_broken_escape_with_it() {
        // What a cut leaves of an escape goes with the key before it...
        for broken in ["\\", "\\u", "\\u0", "\\u00", "\\u004", "%", "%4"] {
            let text = format!("body {}{broken}", &KEY[..8]);
            assert_eq!(without_key(&text, KEY), "body [redacted]", "{broken:?}");
        }
        // ...but a whole escape of another character, or text that only
        // looks like the start of one, is kept.
        for kept in ["\\u0041", "%41", "\\uzz", "%z", "\\u00zz"] {
            let text = format!("body {}{kept}", &KEY[..8]);
            assert_eq!(
                without_key(&text, KEY),
                format!("body [redacted]{kept}"),
                "{kept:?}"
            );
        }
    }

    #[test]
    fn at_the_end_only_a_start_of_the_key_or_its_secret_goes() {
        // Four characters from inside the key are not a cut key.
        assert_eq!(without_key("ends with 4567", KEY), "ends with 4567");
        assert_eq!(without_key("ends with 012", KEY), "ends with 012");
        assert_eq!(without_key("ends with avk", KEY), "ends with avk");
        assert_eq!(without_key("ends with avk_", KEY), "ends with [redacted]");
    }

    #[test]
    fn a_secret_beyond_ascii_or_of_one_character_goes_too() {
        // A signup's password is scrubbed like a key: it need not be ASCII,
        // and may repeat one character.
        for secret in ["äöüßéèêëñ", "pässwörter-géheim", "aaaaaaaaaa"] {
            let text = format!("echo {secret}!");
            assert_eq!(without_key(&text, secret), "echo [redacted]!", "{secret}");
        }
        let secret = "pässwörter-géheim";
        let escaped: String = secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        assert_eq!(
            without_key(&format!("echo {escaped}!"), secret),
            "echo [redacted]!"
        );
    }

    /// Every UTF-8 byte of every non-ASCII character as `%XX`, as a form
    /// or a URL spells it.
    fn percent_utf8(s: &str) -> String {
        s.chars()
            .map(|c| match c.is_ascii() {
                true => c.to_string(),
                false => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
            })
            .collect()
    }

    #[test]
    fn a_percent_encoded_secret_beyond_ascii_goes() {
        // Each non-ASCII character is two to four `%XX`; read one byte at a
        // time they were U+FFFD and the secret's runs too short to find.
        let secret = "pässwörter-géheim-€-😀";
        let text = format!("echo {}!", percent_utf8(secret));
        assert_eq!(
            text,
            "echo p%C3%A4ssw%C3%B6rter-g%C3%A9heim-%E2%82%AC-%F0%9F%98%80!"
        );
        assert_eq!(without_key(&text, secret), "echo [redacted]!");
        // Lower-case hex digits too.
        let lower = text.replace("%C3%A4", "%c3%a4");
        assert_eq!(without_key(&lower, secret), "echo [redacted]!");
        // Cut inside a character's bytes at the end of a text.
        assert_eq!(without_key("echo p%C3%A4ss%C3", secret), "echo [redacted]");
        assert_eq!(
            without_key("echo p%C3%A4ss%C3%B", secret),
            "echo [redacted]"
        );
        // After a start of the secret, a whole character that is not its
        // next one is no cut: the start stays, and so does the character.
        for whole in ["echo p%C3%A4ss%C3%A4", "echo p%C3%A4ss%C3AB"] {
            assert_eq!(without_key(whole, secret), whole);
        }
        // Percent-encoded text that holds no secret is kept as it is.
        let kept = "caf%C3%A9 %E2%82%AC %FF%41 %C3 %C3%41 %F0%9F";
        assert_eq!(without_key(kept, secret), kept);
    }

    #[test]
    fn a_json_surrogate_pair_is_read_as_its_one_character() {
        // JSON escapes a character beyond U+FFFF as two `\uXXXX`.
        let secret = "🔑-geheim-🔒-passwort";
        let text = r#"{"detail": "\ud83d\udd11-geheim-\uD83D\uDD12-passwort"}"#;
        assert_eq!(without_key(text, secret), r#"{"detail": "[redacted]"}"#);
        // A leading surrogate alone, or cut before its partner ends.
        assert_eq!(
            without_key(r"x \ud83d\udd11-ge\ud83d", secret),
            "x [redacted]"
        );
        assert_eq!(
            without_key(r"x \ud83d\udd11-ge\ud83d\ud", secret),
            "x [redacted]"
        );
        // A trailing surrogate after a character that is not a leading one
        // is not a pair.
        let kept = r"\ud83d \udd11 \ud83d\u0041 \u0041\udd11 \ud83d";
        assert_eq!(without_key(kept, secret), kept);
        // A leading surrogate and then a whole escape of another character
        // after a start of the secret is no cut either.
        let whole = r"x \ud83d\udd11-ge\ud83d\u0041";
        assert_eq!(without_key(whole, secret), whole);
    }

    #[test]
    fn json_escapes_of_slash_quote_and_backslash_are_read() {
        let secret = r#"pass/word"with\slashes"#;
        let text = r#"{"detail": "pass\/word\"with\\slashes"}"#;
        assert_eq!(without_key(text, secret), r#"{"detail": "[redacted]"}"#);
    }

    #[test]
    fn a_secret_ending_in_the_replacement_character_is_found_without_a_panic() {
        // The decoder spells an unreadable byte U+FFFD: the end of the text
        // must not read as one more such character.
        let secret = "abcdefgh\u{fffd}";
        assert_eq!(without_key("x abcdefgh", secret), "x [redacted]");
    }
}
