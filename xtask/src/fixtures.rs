//! `openapi/examples.json`: every operation has the fixtures the mock and the
//! tests need. Shape: an object keyed by operationId, each value
//! `{"requests": [{"name", "body"}], "responses": [{"name", "status", "body"}]}`.
//! An operation whose success response has a JSON body needs a 2xx response
//! example; one that takes a request body needs a request example.

use serde_json::Value;

use crate::lint::{operations, resolve};

/// Problems, one a line; empty when the fixtures are complete.
pub fn check(doc: &Value, examples: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(examples) = examples.as_object() else {
        return vec!["the examples file is not a JSON object keyed by operationId".into()];
    };
    let ops = operations(doc);
    for op in &ops {
        let Some(id) = op.id() else { continue };
        let entry = examples.get(id);
        let list = |key: &str| -> Vec<&Value> {
            entry
                .and_then(|e| e.get(key))
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default()
        };
        let (requests, responses) = (list("requests"), list("responses"));
        for (kind, items) in [("requests", &requests), ("responses", &responses)] {
            for (i, ex) in items.iter().enumerate() {
                if ex
                    .get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    problems.push(format!("examples for `{id}`: {kind}[{i}] has no `name`"));
                }
                if kind == "responses" && ex.get("status").and_then(Value::as_u64).is_none() {
                    problems.push(format!(
                        "examples for `{id}`: responses[{i}] has no numeric `status`"
                    ));
                }
            }
        }
        if op.op.get("requestBody").is_some() && requests.is_empty() {
            problems.push(format!(
                "{}: takes a request body but has no request example",
                op.subject()
            ));
        }
        if json_success(doc, op.op)
            && !responses.iter().any(|r| {
                r.get("status")
                    .and_then(Value::as_u64)
                    .is_some_and(|s| (200..300).contains(&s))
            })
        {
            problems.push(format!(
                "{}: returns a JSON body but has no 2xx response example",
                op.subject()
            ));
        }
    }
    for id in examples.keys() {
        if !id.starts_with('$') && !ops.iter().any(|o| o.id() == Some(id.as_str())) {
            problems.push(format!("examples for `{id}`: no such operation"));
        }
    }
    problems
}

fn json_success(doc: &Value, op: &Value) -> bool {
    op.get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(s, _)| s.as_str() == "2XX" || s.starts_with('2'))
        .any(|(_, r)| {
            resolve(doc, r)
                .get("content")
                .and_then(Value::as_object)
                .is_some_and(|c| c.keys().any(|k| k.starts_with("application/json")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requires_examples_where_bodies_exist() {
        let doc = json!({"paths": {
            "/a/": {"post": {"operationId": "make_a",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"2XX": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/b/": {"delete": {"operationId": "delete_b", "responses": {"2XX": {"description": "ok"}}}}
        }});
        let missing = check(&doc, &json!({}));
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("`make_a`") && missing[0].contains("request example"));
        assert!(missing[1].contains("2xx response example"));

        let only_error = json!({"make_a": {"requests": [{"name": "r", "body": {}}],
                                           "responses": [{"name": "e", "status": 404, "body": {}}]}});
        assert_eq!(check(&doc, &only_error).len(), 1);

        let complete = json!({"make_a": {"requests": [{"name": "r", "body": {}}],
                                         "responses": [{"name": "ok", "status": 200, "body": {}}]}});
        assert_eq!(check(&doc, &complete), Vec::<String>::new());

        let stale =
            json!({"gone": {"requests": [], "responses": []}, "make_a": complete["make_a"]});
        assert_eq!(
            check(&doc, &stale),
            vec!["examples for `gone`: no such operation".to_owned()]
        );
    }
}
