//! What a command prints on stdout: JSON for scripts, a table or key/value
//! view for people. Every text passes through [`Redactor`] on its way out,
//! which also escapes control characters (see [`Redactor::clean`]).

use std::{
    io::{IsTerminal, Write},
    sync::Mutex,
};

use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use serde_json::Value;

use crate::columns::IDENTIFIERS;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The API's JSON, pretty-printed: stable field names for scripts.
    Json,
    /// A table for lists, key/value lines for one object.
    Table,
}

impl Format {
    /// `--output`, or by default a table on a terminal and JSON otherwise.
    pub fn pick(flag: Option<&str>) -> Self {
        match flag {
            Some("json") => Self::Json,
            Some(_) => Self::Table,
            None if std::io::stdout().is_terminal() => Self::Table,
            None => Self::Json,
        }
    }
}

/// What a command produced.
#[derive(Debug)]
pub enum Outcome {
    /// One answer of the API (an object, a page, an array).
    Value(Value),
    /// Every item of every page (`--all`).
    Items(Vec<Value>),
    /// An answer without a body, with what was done.
    Done(String),
}

/// Takes the key (and anything the SDK's patterns recognise as a secret) out
/// of every text the command line prints, and escapes its control
/// characters.
#[derive(Debug, Default)]
pub struct Redactor {
    keys: Mutex<Vec<String>>,
}

impl Redactor {
    /// Redacts `key`, when there is one.
    pub fn new(key: Option<String>) -> Self {
        let r = Self::default();
        if let Some(key) = key {
            r.add(&key);
        }
        r
    }

    /// Also redacts `key` (one read later, e.g. by `configure`), when it is
    /// long enough not to hit ordinary words.
    pub fn add(&self, key: &str) {
        let key = key.trim();
        if key.len() >= 8 {
            self.keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(key.to_owned());
        }
    }

    /// `text` without the keys, and with every control character but the
    /// line feed escaped (`\u001b`), so that server text in it cannot drive
    /// the terminal. JSON stays valid JSON with the same values.
    pub fn clean(&self, text: &str) -> String {
        let mut text = avala::redact::redact_text(text);
        for key in self.keys.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            text = text.replace(key.as_str(), "[redacted]");
        }
        for_terminal(&text)
    }
}

/// `text` with its control characters escaped for a person's terminal (the
/// SDK's one rule, [`avala::redact::escape_controls`]).
pub fn for_terminal(text: &str) -> String {
    avala::redact::escape_controls(text).into_owned()
}

/// Prints `outcome` on stdout in `format`; a table shows the `chosen`
/// columns when the items have them (see `columns.rs`).
pub fn print(outcome: &Outcome, format: Format, redactor: &Redactor, chosen: &[&str]) {
    let text = match (outcome, format) {
        (Outcome::Done(what), Format::Json) => {
            serde_json::json!({ "ok": true, "done": what }).to_string()
        }
        (Outcome::Done(what), Format::Table) => what.clone(),
        (Outcome::Value(v), Format::Json) => pretty(v),
        (Outcome::Items(items), Format::Json) => pretty(&Value::Array(items.clone())),
        (Outcome::Value(v), Format::Table) => human(v, chosen),
        (Outcome::Items(items), Format::Table) => table(items, chosen),
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`avala … | head`) is not an error worth reporting.
    let _ = writeln!(out, "{}", redactor.clean(&text));
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A page as a table with a note about the next one, an array as a table,
/// an object as key/value lines.
fn human(v: &Value, chosen: &[&str]) -> String {
    match v {
        Value::Object(m) => match m.get("results") {
            Some(Value::Array(items)) => {
                let mut text = table(items, chosen);
                if m.get("next").is_some_and(|n| !n.is_null()) {
                    text.push_str("\n(more results: add --all, or pass the next page's --cursor)");
                }
                text
            }
            _ => key_values(m),
        },
        Value::Array(items) => table(items, chosen),
        other => scalar(other),
    }
}

/// A table of `items`, with [`columns`].
fn table(items: &[Value], chosen: &[&str]) -> String {
    if items.is_empty() {
        return "(no results)".into();
    }
    let columns = columns(items, chosen);
    if columns.is_empty() {
        return items.iter().map(pretty).collect::<Vec<_>>().join("\n");
    }
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_header(columns.iter().map(|c| for_terminal(c)));
    for item in items {
        t.add_row(
            columns
                .iter()
                .map(|c| cell(item.get(*c).unwrap_or(&Value::Null))),
        );
    }
    format!(
        "{t}\n{} result{}",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    )
}

/// Columns: the `chosen` ones the first items have; without them, the
/// identifiers (`uid`, `owner`, `slug`, `name`), then the other scalar fields,
/// at most eight.
fn columns<'a>(items: &'a [Value], chosen: &[&'a str]) -> Vec<&'a str> {
    let sample = || items.iter().take(20).filter_map(Value::as_object);
    let shown = |k: &str| sample().any(|m| m.get(k).is_some_and(|v| !v.is_null()));
    let columns: Vec<&str> = chosen.iter().copied().filter(|k| shown(k)).collect();
    if !columns.is_empty() {
        return columns;
    }
    let scalar = |v: &Value| !v.is_object() && !v.is_array();
    let mut columns: Vec<&str> = IDENTIFIERS
        .iter()
        .copied()
        .filter(|k| sample().any(|m| m.get(*k).is_some_and(scalar)))
        .collect();
    for (k, v) in sample().flatten() {
        if scalar(v) && !columns.contains(&k.as_str()) && columns.len() < 8 {
            columns.push(k);
        }
    }
    columns
}

/// One object as `key  value` lines, its identifiers first.
fn key_values(m: &serde_json::Map<String, Value>) -> String {
    let width = m.keys().map(String::len).max().unwrap_or(0);
    let first = IDENTIFIERS.iter().filter_map(|k| m.get_key_value(*k));
    let rest = m.iter().filter(|(k, _)| !IDENTIFIERS.contains(&k.as_str()));
    first
        .chain(rest)
        .map(|(k, v)| format!("{:<width$}  {}", for_terminal(k), cell(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A value on one line, cut at 60 characters.
fn cell(v: &Value) -> String {
    cut(&scalar(v), 60)
}

/// `text` with at most `max` characters, then `…` when there were more.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A value as text, escaped here already so that a table is laid out on
/// what is shown.
fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => for_terminal(&s.replace('\n', " ")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_is_a_table_of_its_results_with_a_note_when_more_follow() {
        let page = json!({"next": "https://x/?cursor=a", "previous": null,
            "results": [{"uid": "ds_1", "name": "One", "meta": {"a": 1}}, {"uid": "ds_2", "name": "Two"}]});
        let text = human(&page, &[]);
        assert!(
            text.contains("uid") && text.contains("ds_2") && text.contains("Two"),
            "{text}"
        );
        assert!(
            !text.contains("meta"),
            "nested fields stay out of the table: {text}"
        );
        assert!(
            text.contains("2 results") && text.contains("--all"),
            "{text}"
        );
    }

    #[test]
    fn an_object_is_key_values_and_long_values_are_cut() {
        let text = human(&json!({"uid": "ds_1", "description": "x".repeat(100)}), &[]);
        assert!(
            text.lines()
                .any(|l| l.starts_with("uid") && l.ends_with("  ds_1")),
            "{text}"
        );
        assert!(text.contains(&format!("{}…", "x".repeat(60))), "{text}");
    }

    #[test]
    fn control_characters_are_escaped_in_cells_keys_and_any_text() {
        let text = human(&json!({"na\u{1b}me": "x\u{1b}[2J\u{9b}\ry"}), &[]);
        assert_eq!(text, "na\\u001bme  x\\u001b[2J\\u009b\\u000dy");
        let r = Redactor::new(None);
        assert_eq!(r.clean("a\u{7}\nb"), "a\\u0007\nb");
        // JSON keeps its meaning: DEL and C1 become JSON escapes.
        let json = pretty(&json!({"n": "a\u{7f}\u{85}\u{1b}"}));
        let shown = r.clean(&json);
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&shown).unwrap(),
            json!({"n": "a\u{7f}\u{85}\u{1b}"})
        );
    }

    /// The header row of a table, as its cells.
    fn header(text: &str) -> Vec<String> {
        let line = text.lines().nth(1).unwrap();
        line.split(|c: char| c == '│' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_listing_shows_its_chosen_columns_in_their_order() {
        let items = [
            json!({"created_at": "t", "data_type": "image", "item_count": 3,
            "name": "One", "slug": "one", "uid": "ds_1", "visibility": "private"}),
        ];
        let text = table(
            &items,
            &["uid", "name", "slug", "item_count", "data_type", "absent"],
        );
        assert_eq!(
            header(&text),
            ["uid", "name", "slug", "item_count", "data_type"]
        );
    }

    #[test]
    fn without_chosen_columns_the_identifiers_come_first() {
        // Alphabetically `uid` would be past the eighth column.
        let mut item = serde_json::Map::new();
        for k in [
            "a", "b", "c", "d", "e", "f", "g", "h", "name", "slug", "uid",
        ] {
            item.insert(k.into(), json!("v"));
        }
        let text = table(&[Value::Object(item)], &[]);
        let header = header(&text);
        assert_eq!(header[..3], ["uid", "slug", "name"]);
        assert_eq!(header.len(), 8);
        let one = human(&json!({"a": 1, "uid": "x", "name": "n"}), &[]);
        assert!(one.starts_with("uid "), "{one}");
    }

    #[test]
    fn the_key_is_redacted_from_any_text() {
        let r = Redactor::new(Some("Zq7-distinctive-key-123".into()));
        assert_eq!(r.clean("a Zq7-distinctive-key-123 b"), "a [redacted] b");
    }
}
