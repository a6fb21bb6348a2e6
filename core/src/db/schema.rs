//! The BOINC tables we rely on, as expected and as found.
//!
//! The expected schema of the 17 BOINC tables is data, not code:
//! `baseline/*.tsv` are the rows `information_schema` shows for them in a
//! database made by stock BOINC's make_project (taken from the fixture dumps
//! in `fixtures/stock-server/make_project/`; `indexes.tsv` adds each index
//! column's direction and the index type, which the dumps left out, from
//! BOINC's `db/constraints.sql`). The tests check that our migrations
//! produce exactly these rows, and the migration runner compares a database
//! it is asked to adopt against them with [`super::difference::compare`].

use std::collections::BTreeMap;
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
    /// The indexed columns, in order.
    pub fn columns(&self) -> Vec<&str> {
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
}
