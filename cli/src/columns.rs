//! Which fields a table shows for a person: per listing, the fields the
//! official Python CLI shows for the same command (identifier first); for
//! any other listing, the identifier (`uid`, or `owner` and `slug`), then
//! `name`, then other scalar fields.

use crate::catalog::{Operation, OPERATIONS};

/// The columns of a listing's table, by operation id.
const CHOSEN: &[(&str, &[&str])] = &[
    (
        "list_agents",
        &["uid", "name", "is_active", "events", "created_at"],
    ),
    (
        "list_agent_executions",
        &["uid", "event_type", "status", "action", "created_at"],
    ),
    (
        "list_auto_label_jobs",
        &["uid", "status", "model_type", "progress_pct", "created_at"],
    ),
    (
        "list_consensus_scores",
        &[
            "uid",
            "dataset_item_uid",
            "task_name",
            "score",
            "annotator_count",
            "created_at",
        ],
    ),
    (
        "list_datasets",
        &["uid", "name", "slug", "item_count", "data_type"],
    ),
    (
        "list_exports",
        &["uid", "status", "download_url", "created_at"],
    ),
    (
        "list_fleet_devices",
        &[
            "uid",
            "name",
            "type",
            "status",
            "firmware_version",
            "last_seen_at",
        ],
    ),
    (
        "list_fleet_recordings",
        &[
            "uid",
            "device",
            "status",
            "duration_seconds",
            "topic_count",
            "created_at",
        ],
    ),
    (
        "list_fleet_events",
        &[
            "uid",
            "type",
            "label",
            "severity",
            "timestamp",
            "created_at",
        ],
    ),
    (
        "list_fleet_rules",
        &["uid", "name", "enabled", "hit_count", "created_at"],
    ),
    (
        "list_fleet_alerts",
        &["uid", "severity", "status", "message", "triggered_at"],
    ),
    (
        "list_inference_providers",
        &["uid", "name", "provider_type", "is_active", "created_at"],
    ),
    ("list_projects", &["uid", "name", "status", "created_at"]),
    (
        "list_all_projects",
        &["uid", "name", "status", "created_at"],
    ),
    (
        "list_quality_targets",
        &[
            "uid",
            "name",
            "metric",
            "threshold",
            "is_breached",
            "created_at",
        ],
    ),
    (
        "evaluate_quality_targets",
        &[
            "uid",
            "name",
            "metric",
            "threshold",
            "current_value",
            "is_breached",
            "severity",
        ],
    ),
    (
        "list_storage_configs",
        &["uid", "name", "provider", "is_verified", "created_at"],
    ),
    (
        "list_tasks",
        &["uid", "name", "type", "status", "created_at"],
    ),
    (
        "list_webhooks",
        &["uid", "target_url", "events", "is_active", "created_at"],
    ),
    (
        "list_webhook_deliveries",
        &[
            "uid",
            "event_type",
            "status",
            "response_status",
            "attempts",
            "created_at",
        ],
    ),
];

/// Fields that name a thing, in the order a table starts with them when a
/// listing has no chosen columns.
pub const IDENTIFIERS: &[&str] = &["uid", "owner", "slug", "name"];

/// The chosen columns of the operation at `path` (a generated command or
/// one of its aliases), if it has any.
pub fn chosen(path: &[&str]) -> &'static [&'static str] {
    let Some(op) = operation_at(path) else {
        return &[];
    };
    CHOSEN
        .iter()
        .find(|(id, _)| *id == op.id)
        .map_or(&[], |(_, columns)| columns)
}

/// The generated operation at `path`: `group… verb`, or an alias path.
pub fn operation_at(path: &[&str]) -> Option<&'static Operation> {
    let (verb, group) = path.split_last()?;
    let id = crate::tree::ALIASES
        .iter()
        .find(|a| a.path == path)
        .map(|a| a.operation);
    OPERATIONS.iter().find(|op| match id {
        Some(id) => op.id == id,
        None => op.verb == *verb && op.group == group,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The document's item schema of a listing: the `results` of a page, or
    /// the items of an array.
    fn item_properties(doc: &Value, id: &str) -> Vec<String> {
        let deref = |s: &Value| {
            let mut s = s.clone();
            while let Some(r) = s.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap().to_owned();
                s = doc["components"]["schemas"][&name].clone();
            }
            s
        };
        let op = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .find(|op| op["operationId"] == id)
            .unwrap_or_else(|| panic!("{id} is not in the document"));
        let (_, answer) = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(code, _)| code.starts_with('2'))
            .unwrap();
        let mut schema = deref(&answer["content"]["application/json"]["schema"]);
        if schema["type"] == "array" {
            schema = deref(&schema["items"]);
        } else if let Some(results) = schema["properties"].get("results") {
            schema = deref(&results["items"]);
        }
        schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn every_chosen_column_is_a_field_of_the_listed_model() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/avala.json");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for (id, columns) in CHOSEN {
            assert!(OPERATIONS.iter().any(|op| op.id == *id), "{id}");
            let fields = item_properties(&doc, id);
            for column in *columns {
                assert!(
                    fields.iter().any(|f| f == column),
                    "{id}: no field {column}"
                );
            }
            assert_eq!(columns[0], "uid", "{id}: the identifier comes first");
        }
    }

    #[test]
    fn commands_and_their_aliases_find_their_columns() {
        assert_eq!(chosen(&["datasets", "list"])[..2], ["uid", "name"]);
        assert_eq!(chosen(&["webhooks", "deliveries"])[3], "response_status");
        assert!(chosen(&["datasets", "get"]).is_empty());
        assert!(chosen(&["no", "such"]).is_empty());
    }
}
