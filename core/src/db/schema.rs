//! The BOINC tables we rely on, as expected and as found.
//!
//! The expected schema of the 17 BOINC tables is data, not code:
//! `baseline/*.tsv` are the rows `information_schema` shows for them in a
//! database made by stock BOINC's make_project (taken from the fixture dumps
//! in `fixtures/stock-server/make_project/`; `indexes.tsv` adds each index
//! column's direction and the index type, which the dumps left out, from
//! BOINC's `db/constraints.sql`). The tests check that our migrations
//! produce exactly these rows, and the migration runner compares a database
//! it is asked to adopt against them with [`compare`].
//!
//! The comparison separates what would break us from what would not.
//! *Fatal*: a missing table or column, a column of another kind (number vs
//! text vs blob, signed vs unsigned), a missing unique index, a non-InnoDB
//! table (we need transactions and row locks), or an extra column we could
//! not insert rows without. *Tolerated* (reported, not refused): sizes
//! (`varchar(191)` vs `varchar(254)`), nullability, defaults, collations,
//! index direction or type, and missing non-unique indexes (slower, not
//! wrong) — older BOINC projects differ from today's make_project in
//! exactly such ways.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use sqlx::mysql::MySqlConnection;

/// The BOINC tables rboinc reads or writes, which the baseline migration
/// creates and the runner verifies before adopting a stock database.
pub const BOINC_TABLES: [&str; 17] = [
    "platform",
    "app",
    "app_version",
    "user",
    "team",
    "host",
    "host_app_version",
    "workunit",
    "result",
    "batch",
    "user_submit",
    "user_submit_app",
    "job_file",
    "msg_from_host",
    "msg_to_host",
    "assignment",
    "credited_job",
];

const BASELINE_TABLES: &str = include_str!("baseline/tables.tsv");
const BASELINE_COLUMNS: &str = include_str!("baseline/columns.tsv");
const BASELINE_INDEXES: &str = include_str!("baseline/indexes.tsv");

/// One column, as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// 1-based position in the table.
    pub position: u32,
    pub name: String,
    /// `COLUMN_TYPE`, e.g. `int(11)`, `varchar(191)`, `bigint(20) unsigned`.
    pub column_type: String,
    pub nullable: bool,
    /// `COLUMN_DEFAULT` as MariaDB spells it (`0`, `''`, `current_timestamp()`);
    /// `None` for no default or a NULL default.
    pub default: Option<String>,
    /// `COLUMN_KEY`: `PRI`, `UNI`, `MUL` or empty.
    pub key: String,
    /// `EXTRA`, e.g. `auto_increment`.
    pub extra: String,
}

/// One column of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexPart {
    pub column: String,
    /// Prefix length, if only a prefix is indexed.
    pub sub_part: Option<u32>,
    pub descending: bool,
}

/// One index, as `information_schema.STATISTICS` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    pub fulltext: bool,
    pub parts: Vec<IndexPart>,
}

impl Index {
    fn columns(&self) -> Vec<&str> {
        self.parts.iter().map(|p| p.column.as_str()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub engine: String,
    pub collation: String,
    pub columns: Vec<Column>,
    pub indexes: Vec<Index>,
}

/// A set of tables, keyed by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

/// Raw `information_schema` rows, before grouping.
type ColumnRow = (
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
);
type IndexRow = (
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    String,
);

impl Schema {
    /// The 17 BOINC tables as stock make_project creates them.
    pub fn baseline() -> &'static Schema {
        static BASELINE: LazyLock<Schema> = LazyLock::new(|| {
            Schema::from_tsv(BASELINE_TABLES, BASELINE_COLUMNS, BASELINE_INDEXES)
                .unwrap_or_else(|e| panic!("core/src/db/baseline/*.tsv: {e}"))
        });
        &BASELINE
    }

    /// Parses the three TSV files (with header lines) of `baseline/`.
    /// Public so tests can load the fixture dumps the same way.
    pub fn from_tsv(tables: &str, columns: &str, indexes: &str) -> Result<Schema, String> {
        fn rows(text: &str, min_fields: usize) -> Result<Vec<Vec<&str>>, String> {
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate().skip(1) {
                let fields: Vec<&str> = line.split('\t').collect();
                if fields.len() < min_fields {
                    return Err(format!(
                        "line {}: {} fields, expected {min_fields}",
                        i + 1,
                        fields.len()
                    ));
                }
                out.push(fields);
            }
            Ok(out)
        }
        fn null(s: &str) -> Option<String> {
            (s != "NULL").then(|| s.to_string())
        }
        fn num(s: &str) -> Result<i64, String> {
            s.parse().map_err(|_| format!("{s:?} is not a number"))
        }
        let mut schema = Schema::default();
        for f in rows(tables, 4)? {
            schema.tables.insert(
                f[0].to_string(),
                Table {
                    name: f[0].to_string(),
                    engine: f[2].to_string(),
                    collation: f[3].to_string(),
                    columns: Vec::new(),
                    indexes: Vec::new(),
                },
            );
        }
        let mut column_rows = Vec::new();
        for f in rows(columns, 8)? {
            column_rows.push((
                f[0].to_string(),
                num(f[1])?,
                f[2].to_string(),
                f[3].to_string(),
                f[4].to_string(),
                null(f[5]),
                f[6].to_string(),
                f[7].to_string(),
            ));
        }
        let mut index_rows = Vec::new();
        for f in rows(indexes, 6)? {
            index_rows.push((
                f[0].to_string(),
                f[1].to_string(),
                num(f[2])?,
                num(f[3])?,
                f[4].to_string(),
                null(f[5]).map(|s| num(&s)).transpose()?,
                f.get(6).and_then(|s| null(s)),
                f.get(7).map_or("BTREE", |s| s).to_string(),
            ));
        }
        schema.add_rows(column_rows, index_rows)?;
        Ok(schema)
    }

    /// Reads `tables` (those that exist) of the connection's current database.
    pub async fn read(conn: &mut MySqlConnection, tables: &[&str]) -> Result<Schema, sqlx::Error> {
        let wanted = |name: &str| tables.contains(&name);
        let table_rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
        )
        .fetch_all(&mut *conn)
        .await?;
        let column_rows: Vec<ColumnRow> = sqlx::query_as(
            "SELECT TABLE_NAME, CAST(ORDINAL_POSITION AS SIGNED), COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, \
             COLUMN_DEFAULT, COLUMN_KEY, EXTRA FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
        .fetch_all(&mut *conn)
        .await?;
        let index_rows: Vec<IndexRow> = sqlx::query_as(
            "SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS SIGNED), CAST(SEQ_IN_INDEX AS SIGNED), \
             COLUMN_NAME, CAST(SUB_PART AS SIGNED), COLLATION, INDEX_TYPE FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        )
        .fetch_all(&mut *conn)
        .await?;

        let mut schema = Schema::default();
        for (name, engine, collation) in table_rows.into_iter().filter(|t| wanted(&t.0)) {
            let table = Table {
                name: name.clone(),
                engine: engine.unwrap_or_default(),
                collation: collation.unwrap_or_default(),
                columns: Vec::new(),
                indexes: Vec::new(),
            };
            schema.tables.insert(name, table);
        }
        let column_rows = column_rows
            .into_iter()
            .filter(|r| schema.tables.contains_key(&r.0))
            .collect();
        let index_rows = index_rows
            .into_iter()
            .filter(|r| schema.tables.contains_key(&r.0))
            .collect();
        schema
            .add_rows(column_rows, index_rows)
            .map_err(sqlx::Error::Protocol)?;
        Ok(schema)
    }

    fn add_rows(&mut self, columns: Vec<ColumnRow>, indexes: Vec<IndexRow>) -> Result<(), String> {
        for (table, position, name, column_type, nullable, default, key, extra) in columns {
            let t = self
                .tables
                .get_mut(&table)
                .ok_or_else(|| format!("column of unknown table {table}"))?;
            t.columns.push(Column {
                position: u32::try_from(position)
                    .map_err(|_| format!("{table}.{name}: bad position"))?,
                name,
                column_type,
                nullable: nullable == "YES",
                // MariaDB writes a NULL default as the string NULL.
                default: default.filter(|d| d != "NULL"),
                key,
                extra,
            });
        }
        for t in self.tables.values_mut() {
            t.columns.sort_by_key(|c| c.position);
        }
        // (table, index) -> (seq_in_index, part, unique, fulltext)
        type Parts = Vec<(i64, IndexPart, bool, bool)>;
        let mut grouped: BTreeMap<(String, String), Parts> = BTreeMap::new();
        for (table, name, non_unique, seq, column, sub_part, collation, index_type) in indexes {
            if !self.tables.contains_key(&table) {
                return Err(format!("index of unknown table {table}"));
            }
            let part = IndexPart {
                column,
                sub_part: sub_part.map(|n| n as u32),
                descending: collation.as_deref() == Some("D"),
            };
            grouped.entry((table, name)).or_default().push((
                seq,
                part,
                non_unique == 0,
                index_type == "FULLTEXT",
            ));
        }
        for ((table, name), mut parts) in grouped {
            parts.sort_by_key(|p| p.0);
            let unique = parts[0].2;
            let fulltext = parts[0].3;
            let index = Index {
                name,
                unique,
                fulltext,
                parts: parts.into_iter().map(|p| p.1).collect(),
            };
            self.tables
                .get_mut(&table)
                .expect("checked above")
                .indexes
                .push(index);
        }
        Ok(())
    }

    /// `information_schema.COLUMNS` rows in the layout of `baseline/columns.tsv`
    /// (no header), for exact comparisons in tests.
    pub fn column_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.tables.values() {
            for c in &t.columns {
                out.push(format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    t.name,
                    c.position,
                    c.name,
                    c.column_type,
                    if c.nullable { "YES" } else { "NO" },
                    c.default.as_deref().unwrap_or("NULL"),
                    c.key,
                    c.extra
                ));
            }
        }
        out
    }

    /// `information_schema.STATISTICS` rows in the layout of
    /// `baseline/indexes.tsv` (no header).
    pub fn index_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.tables.values() {
            for i in &t.indexes {
                for (seq, p) in i.parts.iter().enumerate() {
                    out.push(format!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        t.name,
                        i.name,
                        if i.unique { 0 } else { 1 },
                        seq + 1,
                        p.column,
                        p.sub_part.map_or("NULL".to_string(), |n| n.to_string()),
                        match (i.fulltext, p.descending) {
                            (true, _) => "NULL",
                            (false, true) => "D",
                            (false, false) => "A",
                        },
                        if i.fulltext { "FULLTEXT" } else { "BTREE" },
                    ));
                }
            }
        }
        out
    }

    /// `information_schema.TABLES` rows in the layout of `baseline/tables.tsv`.
    pub fn table_lines(&self) -> Vec<String> {
        self.tables
            .values()
            .map(|t| format!("{}\tBASE TABLE\t{}\t{}", t.name, t.engine, t.collation))
            .collect()
    }
}

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

    #[test]
    fn baseline_has_the_17_tables_278_columns_58_indexes() {
        let b = Schema::baseline();
        let names: Vec<&str> = b.tables.keys().map(String::as_str).collect();
        let mut want = BOINC_TABLES.to_vec();
        want.sort();
        assert_eq!(names, want);
        assert_eq!(b.column_lines().len(), 278);
        assert_eq!(
            b.tables.values().map(|t| t.indexes.len()).sum::<usize>(),
            58
        );
        assert_eq!(b.index_lines().len(), 75);
        assert!(
            b.tables
                .values()
                .all(|t| t.engine == "InnoDB" && t.collation == "utf8mb4_unicode_ci")
        );
    }

    #[test]
    fn baseline_renders_back_to_its_files() {
        let b = Schema::baseline();
        let body = |s: &str| s.lines().skip(1).map(str::to_string).collect::<Vec<_>>();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(sorted(b.column_lines()), sorted(body(BASELINE_COLUMNS)));
        assert_eq!(sorted(b.index_lines()), sorted(body(BASELINE_INDEXES)));
        assert_eq!(sorted(b.table_lines()), sorted(body(BASELINE_TABLES)));
    }

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
