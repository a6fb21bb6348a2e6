//! The mnist app.
