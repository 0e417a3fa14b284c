//! Query parameters: text to typed JSON by the parameter's schema, then
//! validation against that schema.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use serde_json::Value;

use super::schema::{Operation, ParameterLocation};

/// The violations of the query `pairs` (decoded) for `op`: missing required
/// parameters, values that are not of the parameter's type, values outside
/// its schema. Parameters the operation does not declare are ignored, as a
/// server ignores them.
pub(crate) fn check_query(op: &Operation, pairs: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for p in op
        .parameters
        .iter()
        .filter(|p| p.location == ParameterLocation::Query)
    {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| *k == p.name)
            .map(|(_, v)| v.as_str())
            .collect();
        let name = &p.name;
        if values.is_empty() {
            if p.required {
                out.push(format!("query parameter `{name}` is required"));
            }
            continue;
        }
        let typed = match shape(&p.schema, &p.schema) {
            Shape::Array(items) => values
                .iter()
                .map(|v| coerce(v, &items))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Shape::Scalar(_) if values.len() > 1 => {
                out.push(format!(
                    "query parameter `{name}`: given {} times, expected once",
                    values.len()
                ));
                continue;
            }
            scalar => coerce(values[0], &scalar),
        };
        match typed {
            Err(e) => out.push(format!("query parameter `{name}`: {e}")),
            Ok(value) => out.extend(
                validate(&p.schema, &value)
                    .into_iter()
                    .map(|e| format!("query parameter `{name}`: {e}")),
            ),
        }
    }
    out
}

/// The JSON type a parameter's text stands for.
#[derive(Debug, Clone)]
enum Shape {
    /// `type` and `format`.
    Scalar((String, String)),
    Array(Box<Shape>),
}

/// Reads `type`/`format` of `schema`, following `$ref` into the `$defs` of
/// `root` (the converted schemas carry the definitions they reach) and
/// through `anyOf`/`allOf`.
fn shape(schema: &Value, root: &Value) -> Shape {
    if let Some(name) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        if let Some(target) = root.get("$defs").and_then(|d| d.get(name)) {
            return shape(target, root);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(Value::as_array).and_then(|v| {
            v.iter()
                .find(|s| s.get("type") != Some(&Value::from("null")))
        }) {
            return shape(first, root);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        // `["integer", "null"]`: the first non-null type.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string")
            .to_owned(),
        _ => "string".to_owned(),
    };
    if ty == "array" {
        let items = schema.get("items").unwrap_or(&Value::Null);
        return Shape::Array(Box::new(shape(items, root)));
    }
    let format = schema
        .get("format")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Shape::Scalar((ty, format))
}

fn coerce(text: &str, shape: &Shape) -> Result<Value, String> {
    let Shape::Scalar((ty, format)) = shape else {
        return Ok(Value::from(text));
    };
    match ty.as_str() {
        "integer" => {
            let n: i64 = text
                .trim()
                .parse()
                .map_err(|_| format!("expected an integer, got {text:?}"))?;
            let range = match format.as_str() {
                "uint32" => Some((0, i64::from(u32::MAX))),
                "int32" => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
                "uint64" => Some((0, i64::MAX)),
                _ => None,
            };
            match range {
                Some((lo, hi)) if n < lo || n > hi => {
                    Err(format!("{n} is out of range for {format} ({lo}..={hi})"))
                }
                _ => Ok(Value::from(n)),
            }
        }
        "number" => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("expected a number, got {text:?}")),
        "boolean" => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected `true` or `false`, got {text:?}")),
        },
        _ => Ok(Value::from(text)),
    }
}

type Validators = Mutex<HashMap<String, Option<Arc<jsonschema::Validator>>>>;

/// Validates `value` against a parameter schema; compiled schemas are kept.
fn validate(schema: &Value, value: &Value) -> Vec<String> {
    static CACHE: LazyLock<Validators> = LazyLock::new(Default::default);
    let key = schema.to_string();
    let validator = {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| jsonschema::validator_for(schema).ok().map(Arc::new))
            .clone()
    };
    match validator {
        Some(v) => v.iter_errors(value).map(|e| e.to_string()).collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(op: &str, query: &str) -> Vec<String> {
        let op = super::super::schema::operation(op).unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        check_query(op, &pairs)
    }

    #[test]
    fn types_and_requirements() {
        assert!(check("list_datasets", "limit=5&cursor=abc&unknown=1").is_empty());
        let e = check("list_datasets", "limit=abc");
        assert!(
            e.len() == 1 && e[0].contains("`limit`") && e[0].contains("integer"),
            "{e:?}"
        );
        assert!(check("list_datasets", "limit=-1")[0].contains("out of range"));
        assert!(check("list_datasets", "limit=1&limit=2")[0].contains("2 times"));
        assert!(check("list_fleet_rules", "enabled=true").is_empty());
        assert!(check("list_fleet_rules", "enabled=yes")[0].contains("`enabled`"));
        let e = check("list_annotation_issue_tools", "");
        assert_eq!(e, ["query parameter `dataset_type` is required"]);
        assert!(check("list_resolver_objects", "ordinals=1&ordinals=2").is_empty());
        assert!(check("list_resolver_objects", "ordinals=1&ordinals=x")[0].contains("`ordinals`"));
    }
}
