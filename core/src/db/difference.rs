//! How a live BOINC table differs from the expected one, and which
//! differences rboinc cannot work with.
//!
//! *Fatal*: a missing table or column, a column of another kind (number vs
//! text vs blob, signed vs unsigned), a missing unique index, a non-InnoDB
//! table (we need transactions and row locks), or an extra column we could
//! not insert rows without. *Tolerated* (reported, not refused): sizes
//! (`varchar(191)` vs `varchar(254)`), nullability, defaults, collations,
//! index direction or type, and missing non-unique indexes (slower, not
//! wrong) — older BOINC projects differ from today's make_project in
//! exactly such ways.

use std::fmt;

use super::schema::Schema;

/// One way a live table differs from the expected one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub table: String,
    pub detail: String,
    /// True if rboinc cannot work on the table as it is.
    pub fatal: bool,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.table, self.detail)
    }
}

/// The kind of a column type for compatibility: integer types of any width
/// are one kind (but signedness matters), as are the string types, the
/// text types and the blob types.
fn type_kind(column_type: &str) -> (&'static str, bool) {
    let t = column_type.to_ascii_lowercase();
    let base = t.split(['(', ' ']).next().unwrap_or("");
    let unsigned = t.contains("unsigned");
    let kind = match base {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => "integer",
        "double" | "float" | "real" | "decimal" => "number",
        "char" | "varchar" => "string",
        "tinytext" | "text" | "mediumtext" | "longtext" => "text",
        "tinyblob" | "blob" | "mediumblob" | "longblob" | "binary" | "varbinary" => "blob",
        "timestamp" | "datetime" => "time",
        _ => "other",
    };
    (kind, unsigned)
}

/// `int(11)` and `int` are the same type (MySQL 8 stopped showing widths).
fn normalized_type(column_type: &str) -> String {
    let t = column_type.to_ascii_lowercase();
    let (kind, _) = type_kind(&t);
    if kind == "integer" {
        match (t.find('('), t.find(')')) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &t[..a], &t[b + 1..]),
            _ => t,
        }
    } else {
        t
    }
}

/// Differences between `expected` and `live`, fatal ones first. Tables and
/// columns only `live` has are fine, unless they would stop our inserts.
pub fn compare(expected: &Schema, live: &Schema) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut diff = |table: &str, fatal: bool, detail: String| {
        out.push(Difference {
            table: table.to_string(),
            detail,
            fatal,
        });
    };
    for (name, want) in &expected.tables {
        let Some(have) = live.tables.get(name) else {
            diff(name, true, "table is missing".into());
            continue;
        };
        if !have.engine.eq_ignore_ascii_case(&want.engine) {
            diff(
                name,
                true,
                format!("engine is {}, expected {}", have.engine, want.engine),
            );
        }
        if have.collation != want.collation {
            diff(
                name,
                false,
                format!(
                    "collation is {}, expected {}",
                    have.collation, want.collation
                ),
            );
        }
        for wc in &want.columns {
            let Some(hc) = have.columns.iter().find(|c| c.name == wc.name) else {
                diff(
                    name,
                    true,
                    format!("column `{}` ({}) is missing", wc.name, wc.column_type),
                );
                continue;
            };
            if type_kind(&hc.column_type) != type_kind(&wc.column_type) {
                diff(
                    name,
                    true,
                    format!(
                        "column `{}` is {}, expected {}",
                        wc.name, hc.column_type, wc.column_type
                    ),
                );
            } else if normalized_type(&hc.column_type) != normalized_type(&wc.column_type) {
                diff(
                    name,
                    false,
                    format!(
                        "column `{}` is {}, expected {}",
                        wc.name, hc.column_type, wc.column_type
                    ),
                );
            }
            if hc.nullable != wc.nullable {
                let (h, w) = if hc.nullable {
                    ("NULL", "NOT NULL")
                } else {
                    ("NOT NULL", "NULL")
                };
                diff(
                    name,
                    false,
                    format!("column `{}` is {h}, expected {w}", wc.name),
                );
            }
            if hc.default != wc.default {
                let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
                diff(
                    name,
                    false,
                    format!(
                        "column `{}` defaults to {}, expected {}",
                        wc.name,
                        show(&hc.default),
                        show(&wc.default)
                    ),
                );
            }
        }
        for hc in &have.columns {
            let ours = want.columns.iter().any(|c| c.name == hc.name);
            let fillable =
                hc.nullable || hc.default.is_some() || hc.extra.contains("auto_increment");
            if !ours && !fillable {
                diff(
                    name,
                    true,
                    format!(
                        "extra column `{}` ({}) is NOT NULL without a default",
                        hc.name, hc.column_type
                    ),
                );
            }
        }
        for wi in &want.indexes {
            let cols = wi.columns();
            // Any index on the same columns will do, whatever its name,
            // direction or type; a unique one also serves a non-unique need.
            let found = have
                .indexes
                .iter()
                .find(|hi| hi.columns() == cols && (hi.unique || !wi.unique));
            match found {
                None => {
                    let kind = if wi.unique { "unique index" } else { "index" };
                    diff(
                        name,
                        wi.unique,
                        format!("{kind} `{}` ({}) is missing", wi.name, cols.join(", ")),
                    );
                }
                Some(hi) if hi.fulltext != wi.fulltext || hi.parts != wi.parts => {
                    diff(
                        name,
                        false,
                        format!(
                            "index `{}` ({}) differs in type or direction",
                            wi.name,
                            cols.join(", ")
                        ),
                    );
                }
                Some(_) => {}
            }
        }
    }
    out.sort_by_key(|d| !d.fatal);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::schema::Column;

    #[test]
    fn identical_schemas_have_no_differences() {
        assert_eq!(compare(Schema::baseline(), Schema::baseline()), vec![]);
    }

    fn altered(f: impl FnOnce(&mut Schema)) -> Vec<String> {
        let mut live = Schema::baseline().clone();
        f(&mut live);
        compare(Schema::baseline(), &live)
            .iter()
            .map(|d| format!("{}{d}", if d.fatal { "FATAL " } else { "" }))
            .collect()
    }

    #[test]
    fn fatal_and_tolerated_differences() {
        assert_eq!(
            altered(|s| {
                s.tables.remove("credited_job");
            }),
            ["FATAL credited_job: table is missing"]
        );
        assert_eq!(
            altered(|s| {
                let t = s.tables.get_mut("workunit").unwrap();
                t.columns.retain(|c| c.name != "keywords");
                t.columns
                    .iter_mut()
                    .find(|c| c.name == "name")
                    .unwrap()
                    .column_type = "int(11)".into();
                t.columns
                    .iter_mut()
                    .find(|c| c.name == "appid")
                    .unwrap()
                    .column_type = "int".into();
                t.columns
                    .iter_mut()
                    .find(|c| c.name == "result_template_file")
                    .unwrap()
                    .column_type = "varchar(254)".into();
                t.engine = "MyISAM".into();
            }),
            [
                "FATAL workunit: engine is MyISAM, expected InnoDB",
                "FATAL workunit: column `name` is int(11), expected varchar(191)",
                "FATAL workunit: column `keywords` (varchar(254)) is missing",
                "workunit: column `result_template_file` is varchar(254), expected varchar(63)",
            ]
        );
        assert_eq!(
            altered(|s| {
                let t = s.tables.get_mut("user").unwrap();
                t.indexes
                    .retain(|i| i.name != "email_addr" && i.name != "user_tot");
                t.columns.push(Column {
                    position: 33,
                    name: "nickname".into(),
                    column_type: "varchar(20)".into(),
                    nullable: false,
                    default: None,
                    key: String::new(),
                    extra: String::new(),
                });
                t.columns.push(Column {
                    position: 34,
                    name: "fine_extra".into(),
                    column_type: "int(11)".into(),
                    nullable: false,
                    default: Some("0".into()),
                    key: String::new(),
                    extra: String::new(),
                });
            }),
            [
                "FATAL user: extra column `nickname` (varchar(20)) is NOT NULL without a default",
                "FATAL user: unique index `email_addr` (email_addr) is missing",
                "user: index `user_tot` (total_credit) is missing",
            ]
        );
        assert_eq!(
            altered(|s| {
                let t = s.tables.get_mut("team").unwrap();
                for i in &mut t.indexes {
                    i.fulltext = false;
                    i.parts.iter_mut().for_each(|p| p.descending = false);
                }
                let ping = t
                    .columns
                    .iter_mut()
                    .find(|c| c.name == "ping_time")
                    .unwrap();
                ping.nullable = true;
                ping.default = None;
                t.collation = "latin1_swedish_ci".into();
            }),
            [
                "team: collation is latin1_swedish_ci, expected utf8mb4_unicode_ci",
                "team: column `ping_time` is NULL, expected NOT NULL",
                "team: column `ping_time` defaults to none, expected 0",
                "team: index `team_avg` (expavg_credit) differs in type or direction",
                "team: index `team_name_desc` (name, description) differs in type or direction",
                "team: index `team_tot` (total_credit) differs in type or direction",
            ]
        );
    }

    #[test]
    fn signedness_is_part_of_the_kind() {
        assert_ne!(type_kind("int(10) unsigned"), type_kind("int(11)"));
        assert_eq!(type_kind("bigint(20)"), type_kind("int"));
        assert_eq!(normalized_type("bigint(20) unsigned"), "bigint unsigned");
        assert_eq!(normalized_type("varchar(191)"), "varchar(191)");
    }
}
