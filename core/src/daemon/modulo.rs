//! `--mod N I`: split the work among N instances of the same daemon.

use std::fmt;

/// The slice of ids one daemon instance handles: those with `id % n == i`.
///
/// Run `N` copies with `--mod N 0` … `--mod N N-1` and every row is handled
/// by exactly one of them. [`ModSlice::ALL`] (no `--mod`) takes every id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModSlice {
    n: u32,
    i: u32,
}

/// A `--mod N I` pair that cannot select anything sensible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModError {
    #[error("--mod {n} {i}: N must be at least 1")]
    ZeroN { n: u32, i: u32 },
    #[error("--mod {n} {i}: I must be less than N (0..={max})", max = n - 1)]
    IndexTooLarge { n: u32, i: u32 },
}

impl ModSlice {
    /// Every id (no `--mod` given).
    pub const ALL: ModSlice = ModSlice { n: 1, i: 0 };

    pub fn new(n: u32, i: u32) -> Result<Self, ModError> {
        if n == 0 {
            return Err(ModError::ZeroN { n, i });
        }
        if i >= n {
            return Err(ModError::IndexTooLarge { n, i });
        }
        Ok(ModSlice { n, i })
    }

    pub fn n(&self) -> u32 {
        self.n
    }

    pub fn i(&self) -> u32 {
        self.i
    }

    /// True for [`ModSlice::ALL`] (and any `--mod 1 0`).
    pub fn is_all(&self) -> bool {
        self.n == 1
    }

    /// Whether this instance handles `id`. Uses the same remainder as
    /// MySQL's `%` (sign of the dividend), so it agrees with
    /// [`ModSlice::sql_predicate`] for every id, negative ones included.
    pub fn contains(&self, id: impl Into<i128>) -> bool {
        id.into() % i128::from(self.n) == i128::from(self.i)
    }

    /// The SQL condition selecting this slice: `column % N = I`, or `TRUE`
    /// when every id is selected. `column` is inserted verbatim and must be
    /// a column name from the code, never user input.
    pub fn sql_predicate(&self, column: &str) -> String {
        if self.is_all() {
            "TRUE".to_string()
        } else {
            format!("{column} % {} = {}", self.n, self.i)
        }
    }
}

impl Default for ModSlice {
    fn default() -> Self {
        ModSlice::ALL
    }
}

impl fmt::Display for ModSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("all")
        } else {
            write!(f, "id % {} = {}", self.n, self.i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_n_and_i() {
        assert_eq!(
            ModSlice::new(0, 0).unwrap_err().to_string(),
            "--mod 0 0: N must be at least 1"
        );
        assert_eq!(
            ModSlice::new(2, 2).unwrap_err().to_string(),
            "--mod 2 2: I must be less than N (0..=1)"
        );
        assert!(ModSlice::new(2, 1).is_ok());
    }

    #[test]
    fn slices_partition_the_ids() {
        for n in 1..=5u32 {
            let slices: Vec<_> = (0..n).map(|i| ModSlice::new(n, i).unwrap()).collect();
            for id in 0..100u64 {
                let owners = slices.iter().filter(|s| s.contains(id)).count();
                assert_eq!(owners, 1, "id {id} with n {n}");
            }
        }
    }

    #[test]
    fn sql_rendering() {
        assert_eq!(
            ModSlice::new(2, 0).unwrap().sql_predicate("id"),
            "id % 2 = 0"
        );
        assert_eq!(
            ModSlice::new(3, 2).unwrap().sql_predicate("wu.id"),
            "wu.id % 3 = 2"
        );
        assert_eq!(ModSlice::ALL.sql_predicate("id"), "TRUE");
        assert_eq!(ModSlice::new(1, 0).unwrap(), ModSlice::ALL);
        assert_eq!(ModSlice::new(4, 1).unwrap().to_string(), "id % 4 = 1");
    }

    #[test]
    fn contains_accepts_any_integer_id() {
        let s = ModSlice::new(2, 1).unwrap();
        assert!(s.contains(7u32));
        assert!(s.contains(7i64));
        assert!(!s.contains(8u64));
        // MySQL: -3 % 2 = -1, so no slice takes negative odd ids; same here.
        assert!(!s.contains(-3i64));
    }
}
