//! The errors around a daemon's loop: what ends a pass ([`InfraError`]) and what stops the
//! daemon ([`DaemonError`]).

use std::error::Error as StdError;
use std::fmt;

use super::modulo::ModError;
use crate::config::ConfigError;
use crate::project::ProjectError;

/// A boxed error from a pass (any error type a daemon uses).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A failure that ends a pass: the database or the file system is not
/// usable. (An error about one workunit or result is not one of these: log
/// it with the item's id and go on with the next item.)
///
/// Any `std::error::Error` converts with `?`; use [`InfraError::new`] for
/// `anyhow::Error` or to add context.
pub struct InfraError {
    context: Option<String>,
    source: BoxError,
}

impl InfraError {
    /// Wraps an error with a description of what was being done.
    pub fn new(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        InfraError {
            context: Some(context.into()),
            source: source.into(),
        }
    }

    /// The underlying error.
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for InfraError {
    fn from(e: E) -> Self {
        InfraError {
            context: None,
            source: Box::new(e),
        }
    }
}

/// Shows the context and the whole cause chain: `ctx: outer: inner`.
impl fmt::Display for InfraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(context) = &self.context {
            write!(f, "{context}: ")?;
        }
        write!(f, "{}", self.source)?;
        let mut cause = self.source.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl fmt::Debug for InfraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfraError({self})")
    }
}

/// Why a daemon could not start, or (with `--one_pass`) why its pass failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Mod(#[from] ModError),
    #[error("this daemon needs --app NAME")]
    MissingApp,
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error("the pass failed: {0}")]
    PassFailed(String),
}
