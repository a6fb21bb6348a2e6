//! The scheduler and data server.
