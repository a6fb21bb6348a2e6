//! Bulk writes: one statement for many rows where BOINC's daemons send one per row.
//!
//! Every C++ daemon waits on the database, one statement per round trip. Most of our speed comes
//! from writing a whole batch of workunits with a handful of statements inside one transaction.
//! [`BulkUpdate`] gives each row its own values in one `UPDATE`: the values travel as a derived
//! table (`SELECT … UNION ALL SELECT …`) joined to the target on its key, so the server does one
//! key lookup per row (a `CASE id WHEN …` list would cost rows × cases comparisons).
//!
//! Values are numbers only (states, ids, times, credit), written as SQL literals: integers in
//! decimal, doubles in Rust's shortest round-trip exponent form (`7.233796296296297e-1`), which
//! MySQL reads back to the same double. Non-finite numbers are refused, so a NaN never reaches a
//! credit column. Text columns go through bound parameters elsewhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sqlx::{AssertSqlSafe, MySqlConnection};

/// A number written into a statement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lit {
    Int(i64),
    Float(f64),
}

impl From<i64> for Lit {
    fn from(v: i64) -> Self {
        Lit::Int(v)
    }
}

impl From<i32> for Lit {
    fn from(v: i32) -> Self {
        Lit::Int(v.into())
    }
}

impl From<f64> for Lit {
    fn from(v: f64) -> Self {
        Lit::Float(v)
    }
}

/// A value that cannot be written (NaN or infinite).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{table}.{column}: {value} is not a finite number")]
pub struct NonFinite {
    pub table: &'static str,
    pub column: &'static str,
    pub value: f64,
}

impl Lit {
    fn write(self, out: &mut String) -> Result<(), f64> {
        match self {
            Lit::Int(v) => write!(out, "{v}").expect("writing to a String"),
            Lit::Float(v) if v.is_finite() => write!(out, "{v:e}").expect("writing to a String"),
            Lit::Float(v) => return Err(v),
        }
        Ok(())
    }
}

/// How a column changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Assign {
    /// `col = v`
    Set(Lit),
    /// `col = col + v` (credit totals: concurrent grants add up)
    Add(Lit),
    /// `col = IF(col = expected, then, otherwise)`: the transitioner's conditional write, which
    /// never overwrites a value another process changed since it was read.
    IfEquals {
        expected: Lit,
        then: Lit,
        otherwise: Lit,
    },
    /// `col = LEAST(col, v)`
    Least(Lit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    Add,
    IfEquals,
    Least,
}

impl Assign {
    fn kind(&self) -> Kind {
        match self {
            Assign::Set(_) => Kind::Set,
            Assign::Add(_) => Kind::Add,
            Assign::IfEquals { .. } => Kind::IfEquals,
            Assign::Least(_) => Kind::Least,
        }
    }

    fn lits(&self) -> Vec<Lit> {
        match *self {
            Assign::Set(v) | Assign::Add(v) | Assign::Least(v) => vec![v],
            Assign::IfEquals {
                expected,
                then,
                otherwise,
            } => vec![expected, then, otherwise],
        }
    }
}

/// An `UPDATE` giving each row (by key) its own column values. Columns a row does not set keep
/// their value for that row.
#[derive(Debug, Clone)]
pub struct BulkUpdate {
    table: &'static str,
    keys: &'static [&'static str],
    columns: Vec<(&'static str, Kind)>,
    rows: BTreeMap<Vec<i64>, Vec<Option<Assign>>>,
}

impl BulkUpdate {
    /// An update of `table` whose rows are found by the columns `keys` (usually `["id"]`).
    pub fn new(table: &'static str, keys: &'static [&'static str]) -> Self {
        assert!(!keys.is_empty(), "a bulk update needs a key");
        BulkUpdate {
            table,
            keys,
            columns: Vec::new(),
            rows: BTreeMap::new(),
        }
    }

    /// Sets `column` of the row with key `key`. A column is always assigned the same way (all
    /// `Set`, or all `Add`, ...); mixing kinds in one statement is a programming error.
    pub fn set(&mut self, key: &[i64], column: &'static str, assign: Assign) {
        assert_eq!(key.len(), self.keys.len(), "key arity of {}", self.table);
        let index = match self.columns.iter().position(|(c, _)| *c == column) {
            Some(i) => {
                assert_eq!(
                    self.columns[i].1,
                    assign.kind(),
                    "{}.{column} assigned two ways",
                    self.table
                );
                i
            }
            None => {
                self.columns.push((column, assign.kind()));
                for values in self.rows.values_mut() {
                    values.push(None);
                }
                self.columns.len() - 1
            }
        };
        let width = self.columns.len();
        let values = self
            .rows
            .entry(key.to_vec())
            .or_insert_with(|| vec![None; width]);
        values[index] = Some(assign);
    }

    /// Number of rows with at least one assignment.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The statements, each covering at most `max_rows` rows (in key order, so concurrent writers
    /// lock rows in the same order).
    pub fn statements(&self, max_rows: usize) -> Result<Vec<String>, NonFinite> {
        let rows: Vec<_> = self.rows.iter().collect();
        rows.chunks(max_rows.max(1))
            .map(|chunk| self.statement(chunk))
            .collect()
    }

    fn statement(&self, rows: &[(&Vec<i64>, &Vec<Option<Assign>>)]) -> Result<String, NonFinite> {
        let mut sql = format!("UPDATE `{}` AS t JOIN (", self.table);
        for (n, (key, values)) in rows.iter().enumerate() {
            sql.push_str(if n == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            let mut first = true;
            let mut item = |sql: &mut String, lit: Option<Lit>, alias: &str, column| {
                if !first {
                    sql.push_str(", ");
                }
                first = false;
                match lit {
                    Some(lit) => lit.write(sql).map_err(|value| NonFinite {
                        table: self.table,
                        column,
                        value,
                    })?,
                    None => sql.push_str("NULL"),
                }
                if n == 0 {
                    sql.push_str(" AS ");
                    sql.push_str(alias);
                }
                Ok(())
            };
            for (k, v) in key.iter().enumerate() {
                item(&mut sql, Some(Lit::Int(*v)), &format!("k{k}"), self.keys[k])?;
            }
            for (c, value) in values.iter().enumerate() {
                let (column, kind) = self.columns[c];
                let lits = match value {
                    Some(assign) => assign.lits().into_iter().map(Some).collect(),
                    None => vec![None; arity(kind)],
                };
                for (i, lit) in lits.into_iter().enumerate() {
                    item(&mut sql, lit, &format!("c{c}_{i}"), column)?;
                }
            }
        }
        sql.push_str(") AS v ON ");
        for (k, key) in self.keys.iter().enumerate() {
            if k > 0 {
                sql.push_str(" AND ");
            }
            write!(sql, "t.`{key}` = v.k{k}").expect("writing to a String");
        }
        sql.push_str(" SET ");
        for (c, (column, kind)) in self.columns.iter().enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            let col = format!("t.`{column}`");
            let expr = match kind {
                Kind::Set => format!("COALESCE(v.c{c}_0, {col})"),
                Kind::Add => format!("{col} + COALESCE(v.c{c}_0, 0)"),
                Kind::Least => format!("LEAST({col}, COALESCE(v.c{c}_0, {col}))"),
                Kind::IfEquals => {
                    format!("IF(v.c{c}_0 IS NULL, {col}, IF({col} = v.c{c}_0, v.c{c}_1, v.c{c}_2))")
                }
            };
            write!(sql, "{col} = {expr}").expect("writing to a String");
        }
        Ok(sql)
    }

    /// Runs the statements on `conn` (normally inside the caller's transaction); returns the
    /// number of rows matched.
    pub async fn execute(&self, conn: &mut MySqlConnection) -> Result<u64, BulkError> {
        let mut matched = 0;
        for sql in self.statements(MAX_ROWS_PER_STATEMENT)? {
            let done = sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await?;
            matched += done.rows_affected();
        }
        Ok(matched)
    }
}

/// Rows per bulk statement: large enough that the round trip is noise, small enough that a
/// statement stays far below `max_allowed_packet` (16 MiB by default on MariaDB).
pub const MAX_ROWS_PER_STATEMENT: usize = 2000;

fn arity(kind: Kind) -> usize {
    match kind {
        Kind::IfEquals => 3,
        _ => 1,
    }
}

/// A bulk write failed.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

/// Comma-separated integer list for an `IN (...)` clause (ids come from our own queries).
pub fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    let mut out = String::new();
    for (i, id) in ids.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write!(out, "{id}").expect("writing to a String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_written_in_round_trip_exponent_form() {
        for x in [
            0.7233796296296297,
            1e-10,
            2e15,
            0.0,
            -3.5,
            231.48148148148147,
        ] {
            let mut s = String::new();
            Lit::Float(x).write(&mut s).unwrap();
            assert_eq!(s.parse::<f64>().unwrap(), x, "{s}");
            assert!(s.contains('e'), "{s} is a double literal, not DECIMAL");
        }
        let mut s = String::new();
        assert!(Lit::Float(f64::NAN).write(&mut s).is_err());
    }

    #[test]
    fn statement_shape() {
        let mut u = BulkUpdate::new("workunit", &["id"]);
        u.set(&[7], "need_validate", Assign::Set(Lit::Int(1)));
        u.set(
            &[3],
            "transition_time",
            Assign::IfEquals {
                expected: 10.into(),
                then: 20.into(),
                otherwise: 15.into(),
            },
        );
        let sql = u.statements(100).unwrap();
        assert_eq!(sql.len(), 1);
        assert_eq!(
            sql[0],
            "UPDATE `workunit` AS t JOIN (SELECT 3 AS k0, NULL AS c0_0, 10 AS c1_0, 20 AS c1_1, 15 AS c1_2 \
             UNION ALL SELECT 7, 1, NULL, NULL, NULL) AS v ON t.`id` = v.k0 \
             SET t.`need_validate` = COALESCE(v.c0_0, t.`need_validate`), \
             t.`transition_time` = IF(v.c1_0 IS NULL, t.`transition_time`, IF(t.`transition_time` = v.c1_0, v.c1_1, v.c1_2))"
        );
    }

    #[test]
    fn chunks_and_composite_keys() {
        let mut u = BulkUpdate::new("host_app_version", &["host_id", "app_version_id"]);
        for h in 1..=5 {
            u.set(&[h, 1], "consecutive_valid", Assign::Add(Lit::Int(1)));
        }
        let sql = u.statements(2).unwrap();
        assert_eq!(sql.len(), 3);
        assert!(sql[0].contains("t.`host_id` = v.k0 AND t.`app_version_id` = v.k1"));
        assert!(sql[0].contains("t.`consecutive_valid` + COALESCE(v.c0_0, 0)"));
    }

    #[test]
    fn non_finite_values_are_refused_with_their_column() {
        let mut u = BulkUpdate::new("user", &["id"]);
        u.set(&[1], "total_credit", Assign::Add(Lit::Float(f64::INFINITY)));
        let e = u.statements(10).unwrap_err();
        assert_eq!(e.column, "total_credit");
    }

    #[test]
    #[should_panic(expected = "assigned two ways")]
    fn one_column_one_kind() {
        let mut u = BulkUpdate::new("user", &["id"]);
        u.set(&[1], "total_credit", Assign::Add(Lit::Int(1)));
        u.set(&[2], "total_credit", Assign::Set(Lit::Int(1)));
    }
}
