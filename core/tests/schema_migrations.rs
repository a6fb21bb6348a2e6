//! Rules for the files in `migrations/` (see its README): numbered
//! uniquely, all embedded in the build, and — after the baseline — touching
//! only rboinc's own `rb_` tables, never BOINC's.

use std::path::Path;

use rboinc_core::db::migrate::{BASELINE_VERSION, migrator};

fn migration_files() -> Vec<(i64, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.ends_with(".sql") {
            continue;
        }
        let (number, rest) = name
            .split_once('_')
            .unwrap_or_else(|| panic!("{name}: no NNNN_ prefix"));
        assert!(
            number.len() == 4 && number.bytes().all(|b| b.is_ascii_digit()),
            "{name}: not NNNN_<what>.sql"
        );
        assert!(
            rest.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'),
            "{name}"
        );
        let sql = std::fs::read_to_string(dir.join(&name)).unwrap();
        out.push((number.parse().unwrap(), name, sql));
    }
    out.sort();
    out
}

/// Names of the tables a migration creates, changes or writes, lowercased,
/// with comments and quotes removed. Deliberately simple: it looks for the
/// table name after the statements that change a table's shape or rows.
fn touched_tables(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
        .replace(['`', '"'], " ")
        .replace(['(', ')', ',', ';'], " $0 ");
    let words: Vec<&str> = text.split_whitespace().collect();
    let starts: &[&[&str]] = &[
        &["create", "table"],
        &["create", "temporary", "table"],
        &["alter", "table"],
        &["alter", "ignore", "table"],
        &["drop", "table"],
        &["drop", "temporary", "table"],
        &["rename", "table"],
        &["truncate", "table"],
        &["insert", "into"],
        &["insert", "ignore", "into"],
        &["replace", "into"],
        &["delete", "from"],
        &["update"],
    ];
    // The name after position `j`, past IF [NOT] EXISTS.
    let name_at = |mut j: usize| {
        while words
            .get(j)
            .is_some_and(|w| ["if", "not", "exists"].contains(w))
        {
            j += 1;
        }
        words
            .get(j)
            .map(|w| w.rsplit('.').next().unwrap().to_string())
    };
    let mut out = Vec::new();
    for i in 0..words.len() {
        let before = if i > 0 { words[i - 1] } else { "" };
        for start in starts {
            // `ON UPDATE CURRENT_TIMESTAMP`, `ON DUPLICATE KEY UPDATE` are not statements.
            if words[i..].starts_with(start)
                && !(start[0] == "update" && (before == "on" || before == "key"))
            {
                out.extend(name_at(i + start.len()));
            }
        }
        // CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name ON table
        if words[i] == "index"
            && ["create", "unique", "fulltext", "spatial"].contains(&before)
            && words.get(i + 2) == Some(&"on")
        {
            out.extend(name_at(i + 3));
        }
    }
    out
}

#[test]
fn versions_are_unique_and_all_embedded() {
    let files = migration_files();
    assert_eq!(files[0].0, BASELINE_VERSION);
    assert_eq!(files[0].1, "0001_boinc_baseline.sql");
    let numbers: Vec<i64> = files.iter().map(|f| f.0).collect();
    let mut unique = numbers.clone();
    unique.dedup();
    assert_eq!(numbers, unique, "two migrations share a number");
    // A file added without rebuilding (or a build.rs that stopped tracking
    // the folder) would show up here.
    let embedded: Vec<i64> = migrator().iter().map(|m| m.version).collect();
    assert_eq!(embedded, numbers);
}

#[test]
fn later_migrations_touch_only_rb_tables() {
    for (version, name, sql) in migration_files() {
        let touched = touched_tables(&sql);
        if version == BASELINE_VERSION {
            assert_eq!(touched.len(), 17, "{touched:?}");
            continue;
        }
        let foreign: Vec<&String> = touched.iter().filter(|t| !t.starts_with("rb_")).collect();
        assert!(
            foreign.is_empty(),
            "{name} touches BOINC tables {foreign:?}; see migrations/README.md"
        );
    }
}

/// The checker itself, on statements it must catch and must let through.
#[test]
fn the_table_scanner_sees_what_it_should() {
    let ok = "-- series of jobs\nCREATE TABLE IF NOT EXISTS rb_series (\n  id INTEGER NOT NULL AUTO_INCREMENT,\n  \
              mod_time TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,\n  PRIMARY KEY (id)\n);\n\
              CREATE INDEX rb_series_t ON rb_series (mod_time);\nINSERT INTO `rb_series` (id) VALUES (1);";
    assert_eq!(touched_tables(ok), ["rb_series", "rb_series", "rb_series"]);
    for bad in [
        "ALTER TABLE workunit ADD COLUMN x INT",
        "alter table `result` add index (x)",
        "DROP TABLE IF EXISTS host",
        "RENAME TABLE user TO rb_user",
        "CREATE INDEX rb_i ON workunit (appid)",
        "UPDATE app SET weight = 2",
        "DELETE FROM result WHERE id = 1",
        "INSERT INTO platform (name) VALUES ('x')",
        "TRUNCATE TABLE credited_job",
        "CREATE TABLE batch2 (id INT)",
    ] {
        let foreign: Vec<String> = touched_tables(bad)
            .into_iter()
            .filter(|t| !t.starts_with("rb_"))
            .collect();
        assert!(!foreign.is_empty(), "not caught: {bad}");
    }
}
