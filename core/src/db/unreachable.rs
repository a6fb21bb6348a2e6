//! Whether a database error means the server cannot be reached (an outage to wait out) rather
//! than a query it refused (a bug or a conflict to report). The scheduler marks the database
//! down on such errors; `series` waits them out with a "database unavailable, retrying" line.

/// MariaDB error numbers meaning the server or the session went away.
const ER_SERVER_SHUTDOWN: u16 = 1053;
const ER_CONNECTION_KILLED: u16 = 1927;
const CR_SERVER_GONE_ERROR: u16 = 2006;
const CR_SERVER_LOST: u16 = 2013;

/// Whether `e` says the database cannot be reached (as opposed to a query it refused).
pub fn is_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| {
                matches!(
                    m.number(),
                    ER_SERVER_SHUTDOWN
                        | ER_CONNECTION_KILLED
                        | CR_SERVER_GONE_ERROR
                        | CR_SERVER_LOST
                )
            }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_queries_are_not_an_outage() {
        assert!(is_unreachable(&sqlx::Error::PoolTimedOut));
        assert!(is_unreachable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unreachable(&sqlx::Error::RowNotFound));
        assert!(!is_unreachable(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
