//! JSON helpers shared by the `metrics` and `tolerance` modes: a canonical text form (so key
//! order and formatting never matter) and the first place two documents differ (for the
//! `results disagree` log line).

use std::collections::BTreeMap;

use serde_json::Value;

/// JSON text with object keys sorted at every level, independent of the file's formatting and
/// key order (and of serde_json's `preserve_order` feature).
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let sorted: BTreeMap<&String, &Value> = map.iter().collect();
                out.push('{');
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// Shortens a value for a log line.
pub fn short(v: &Value) -> String {
    let mut s = canonical_json(v);
    if s.len() > 120 {
        let mut cut = 117;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// The first place two JSON values differ: (path, left, right).
pub fn first_json_difference(a: &Value, b: &Value) -> Option<(String, String, String)> {
    fn walk(a: &Value, b: &Value, path: &mut String) -> Option<(String, String, String)> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    let found = match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => walk(v, w, path),
                        (v, w) => Some((
                            path.clone(),
                            v.map_or("(missing)".into(), short),
                            w.map_or("(missing)".into(), short),
                        )),
                    };
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    let found = walk(v, w, path);
                    path.truncate(len);
                    if found.is_some() {
                        return found;
                    }
                }
                None
            }
            _ if a == b => None,
            _ => Some((path.clone(), short(a), short(b))),
        }
    }
    walk(a, b, &mut String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, {"y": 2, "x": 3}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[1,{"x":3,"y":2}],"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":[1,{"x":3,"y":2}],"b":1}"#);
    }

    #[test]
    fn the_first_difference_is_named_by_its_path() {
        let a = json!({"val_acc": 0.9, "history": [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.7}]});
        let b = json!({"val_acc": 0.9, "history": [{"epoch": 1, "val_acc": 0.5}, {"epoch": 2, "val_acc": 0.71}]});
        assert_eq!(
            first_json_difference(&a, &b),
            Some(("history[1].val_acc".into(), "0.7".into(), "0.71".into()))
        );
        let c = json!({"x": 1});
        assert_eq!(
            first_json_difference(&c, &json!({})),
            Some(("x".into(), "1".into(), "(missing)".into()))
        );
        assert_eq!(first_json_difference(&a, &a.clone()), None);
    }
}
