//! The typed decode alone, without HTTP, for a profiler:
//! `--profile sdk decode <n>` decodes one 100-item page `n` times, and
//! `--profile sdk timestamps <n>` parses that page's 200 timestamps `n`
//! times with each candidate parser, so that their instruction counts can be
//! compared (`bench/callgrind_lines.py --sum OUT N <function>`).

use std::hint::black_box;

use avala::types::DatasetPage;
use chrono::{DateTime, NaiveDate, Utc};

use crate::server::{dataset_json, PAGE_SIZE};

/// One page body as the server sends it (without links).
fn page_body() -> Vec<u8> {
    let results: Vec<_> = (0..PAGE_SIZE).map(dataset_json).collect();
    serde_json::to_vec(&serde_json::json!({"next": null, "previous": null, "results": results}))
        .expect("a page serializes")
}

/// Decodes the page `n` times into the generated types.
pub fn decode(n: usize) -> Result<(), String> {
    let body = page_body();
    let mut items = 0;
    for _ in 0..n {
        items += decode_page(&body)?;
    }
    eprintln!("{n} x decode of a {}-byte page: {items} items", body.len());
    Ok(())
}

#[inline(never)]
fn decode_page(body: &[u8]) -> Result<usize, String> {
    let page: DatasetPage = serde_json::from_slice(black_box(body)).map_err(|e| e.to_string())?;
    Ok(black_box(page).results.len())
}

/// Parses the page's timestamps `n` times with each parser, and checks that
/// they agree.
pub fn timestamps(n: usize) -> Result<(), String> {
    let stamps: Vec<String> = (0..PAGE_SIZE)
        .map(dataset_json)
        .flat_map(|d| {
            ["created_at", "updated_at"].map(|k| d[k].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    for s in &stamps {
        let chrono = s
            .parse::<DateTime<Utc>>()
            .map_err(|e| format!("{s}: {e}"))?;
        if fixed_layout(s) != Some(chrono) {
            return Err(format!(
                "{s}: the fixed-layout parser disagrees with chrono"
            ));
        }
    }
    for _ in 0..n {
        ts_chrono_serde(&stamps);
        ts_chrono_rfc3339(&stamps);
        ts_fixed_layout(&stamps);
    }
    eprintln!("{n} x {} timestamps with each parser", stamps.len());
    Ok(())
}

/// What `chrono`'s `Deserialize` for `DateTime<Utc>` runs (relaxed RFC 3339).
#[inline(never)]
fn ts_chrono_serde(stamps: &[String]) {
    for s in stamps {
        black_box(black_box(s.as_str()).parse::<DateTime<Utc>>().ok());
    }
}

/// `chrono`'s strict RFC 3339 parser.
#[inline(never)]
fn ts_chrono_rfc3339(stamps: &[String]) {
    for s in stamps {
        black_box(DateTime::parse_from_rfc3339(black_box(s.as_str())).ok());
    }
}

/// A parser of the one layout the API sends, building the same chrono value.
#[inline(never)]
fn ts_fixed_layout(stamps: &[String]) {
    for s in stamps {
        black_box(fixed_layout(black_box(s.as_str())));
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, or `None` for anything else (a real
/// parser would then fall back to chrono's).
fn fixed_layout(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let digits = |at: usize, len: usize| -> Option<u32> {
        b.get(at..at + len)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 2)?, digits(8, 2)?)?;
    let mut nanos = 0;
    let fraction = &b[19..b.len() - 1];
    if let Some((b'.', f)) = fraction.split_first() {
        if f.is_empty() || f.len() > 9 {
            return None;
        }
        nanos = digits(20, f.len())? * 10u32.pow(9 - f.len() as u32);
    } else if !fraction.is_empty() {
        return None;
    }
    let time = date.and_hms_nano_opt(digits(11, 2)?, digits(14, 2)?, digits(17, 2)?, nanos)?;
    Some(time.and_utc())
}
