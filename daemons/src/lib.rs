//! Back-end daemons (transitioner, validator, assimilators, file deleter, db purge).

pub mod assimilator;
