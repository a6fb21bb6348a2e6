//! The JSON log line: one object per event with every field at the top level — the event's
//! own and those of the spans it happened in.
//!
//! `tracing-subscriber`'s JSON format nests span fields under `"span"`/`"spans"`, so a log
//! shipper (or `jq 'select(.wu_id == 42)'`) would have to know which span carries `wu_id`.
//! Here the spans' fields are merged into the object, outermost span first, and the event's
//! fields last, so the innermost value of a name wins. The spans' fields are the JSON text
//! `JsonFields` keeps in each span's extensions (including fields recorded after the span was
//! created, such as the scheduler's `host_id`); the event's are visited directly.
//!
//! Keys always present: `timestamp` (RFC 3339, UTC), `level`, `target`, `message`; `span`
//! names the innermost span, if any.
//!
//! Ids are numbers: a field named `*_id` whose value is written with `%` (the id newtypes'
//! `Display`) is a string to `tracing`; when it reads as an integer it is written as one, so
//! `jq 'select(.wu_id == 42)'` matches every line whichever way the call site recorded it.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter (use with `fmt_fields(JsonFields::new())`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        let mut stamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut stamp))?;
        line.insert("timestamp".into(), Value::String(stamp));
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("target".into(), Value::String(meta.target().to_string()));
        if let Some(scope) = ctx.event_scope() {
            let mut innermost = None;
            for span in scope.from_root() {
                innermost = Some(span.name());
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields) {
                    line.extend(map.into_iter().map(|(k, v)| {
                        let v = id_as_number(&k, v);
                        (k, v)
                    }));
                }
            }
            if let Some(name) = innermost {
                line.insert("span".into(), Value::String(name.to_string()));
            }
        }
        event.record(&mut Fields(&mut line));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// `"42"` as `42` for a `*_id` field (see the module docs).
fn id_as_number(name: &str, value: Value) -> Value {
    match &value {
        Value::String(text) if name.ends_with("_id") => {
            text.parse::<i64>().map_or(value, Value::from)
        }
        _ => value,
    }
}

/// Puts an event's fields into the object.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number);
        self.0.insert(field.name().into(), v);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = Value::String(format!("{value:?}"));
        self.0
            .insert(field.name().into(), id_as_number(field.name(), text));
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Log lines written to memory.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn lines(buffer: &Buffer) -> Vec<Value> {
        String::from_utf8(buffer.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[test]
    fn span_fields_reach_the_top_level_and_the_event_wins() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let outer =
                tracing::info_span!("request", path = "/cgi", host_id = tracing::field::Empty);
            let _o = outer.enter();
            outer.record("host_id", 7);
            let inner = tracing::info_span!("job", wu_id = %42, app = "mnist");
            let _i = inner.enter();
            tracing::info!(
                result_id = %3,
                app = "other",
                ok = true,
                ms = 1.5,
                name = %"e2e_1_0",
                "sent"
            );
        });
        let lines = lines(&buffer);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "sent");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["path"], "/cgi");
        assert_eq!(line["host_id"], 7);
        assert_eq!(line["wu_id"], 42);
        assert_eq!(line["result_id"], 3);
        assert_eq!(line["app"], "other", "the event's own field wins");
        assert_eq!(line["ok"], true);
        assert_eq!(line["ms"], 1.5);
        assert_eq!(line["span"], "job");
        assert_eq!(line["name"], "e2e_1_0", "only ids become numbers");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
