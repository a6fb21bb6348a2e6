//! Project tooling.
