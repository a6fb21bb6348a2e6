//! Back-end daemons (transitioner, validator, assimilators, file deleter, db purge).

pub mod app_names;
pub mod assimilator;
pub mod bulk;
pub mod credit;
pub mod db_purge;
pub mod file_deleter;
pub mod transitioner;
pub mod validator;
