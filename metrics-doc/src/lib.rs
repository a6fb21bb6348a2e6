//! The metrics document (`metrics.json`): the part of it that must be identical on every host.
//!
//! An app's result file is one JSON object. Every top-level field except [`HOST_FIELD`] is a
//! deterministic function of the job, the dataset and the app version, so two hosts running the
//! same job write identical values there; `host` holds the facts of one particular run (times,
//! CPU, how it was run). The app writes the document (`mnist_app::metrics`), the validator
//! compares results on their deterministic part, and reports read both halves: they all take
//! the rule from here, so it cannot drift between the writer and its readers. This crate
//! depends on `serde_json` only, so the daemons need not depend on the app.

use serde_json::Value;

/// The top-level field that is not deterministic: the run's own facts.
pub const HOST_FIELD: &str = "host";

/// Whether a top-level field of the document takes part in result comparison.
pub fn is_deterministic(field: &str) -> bool {
    field != HOST_FIELD
}

/// Removes the non-deterministic fields from `doc`, in place (a document that is not an object
/// is left as it is: it has no such fields).
pub fn strip_nondeterministic(doc: &mut Value) {
    if let Value::Object(map) = doc {
        map.retain(|field, _| is_deterministic(field));
    }
}

/// The deterministic part of a document: everything except `host`.
pub fn deterministic_part(doc: &Value) -> Value {
    let mut v = doc.clone();
    strip_nondeterministic(&mut v);
    v
}

/// The run's own facts (`host`), if the document has them.
pub fn host_part(doc: &Value) -> Option<&Value> {
    doc.get(HOST_FIELD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_host_is_left_out() {
        let doc = json!({"schema": "s", "val_acc": 0.9, "host": {"runtime_s": 1.5}, "history": []});
        assert_eq!(
            deterministic_part(&doc),
            json!({"schema": "s", "val_acc": 0.9, "history": []})
        );
        assert_eq!(host_part(&doc), Some(&json!({"runtime_s": 1.5})));
        assert!(is_deterministic("val_acc") && !is_deterministic("host"));
    }

    #[test]
    fn nested_host_fields_and_non_objects_are_kept() {
        let doc = json!({"job": {"host": 1}});
        assert_eq!(deterministic_part(&doc), doc);
        let mut list = json!([{"host": 1}]);
        strip_nondeterministic(&mut list);
        assert_eq!(list, json!([{"host": 1}]));
    }
}
