//! Newtypes for row ids, so a result id cannot be passed where a workunit id
//! is expected.
//!
//! BOINC's id columns are 32-bit `INTEGER` (except `batch.id`, a `BIGINT
//! UNSIGNED`), while its C++ code holds them in 64-bit `DB_ID_TYPE`; we hold
//! them as `i64` too. `0` means "none" in BOINC's foreign-key columns
//! (`workunit.canonical_resultid = 0`, `user.teamid = 0`, ...).

use std::fmt;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlTypeInfo, MySqlValueRef};
use sqlx::{Decode, Encode, Type, ValueRef};

macro_rules! id_type {
    ($( $(#[$meta:meta])* $name:ident; )+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The id as stored.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                $name(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    )+};
}

id_type! {
    /// `platform.id`.
    PlatformId;
    /// `app.id` (`workunit.appid`, `result.appid`, `app_version.appid`).
    AppId;
    /// `app_version.id`; negative in `result.app_version_id` for
    /// anonymous-platform versions (see [`crate::state::AnonymousPlatform`]).
    AppVersionId;
    /// `user.id`.
    UserId;
    /// `team.id`; 0 = no team.
    TeamId;
    /// `host.id`.
    HostId;
    /// `workunit.id`.
    WorkunitId;
    /// `result.id`; 0 = none (e.g. no canonical result yet).
    ResultId;
}

/// `batch.id` (`BIGINT UNSIGNED`), also stored in the signed `INTEGER`
/// columns `workunit.batch` and `result.batch`; 0 = no batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct BatchId(pub i64);

impl BatchId {
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<i64> for BatchId {
    fn from(id: i64) -> Self {
        BatchId(id)
    }
}

impl From<BatchId> for i64 {
    fn from(id: BatchId) -> i64 {
        id.0
    }
}

impl Type<MySql> for BatchId {
    fn type_info() -> MySqlTypeInfo {
        <i64 as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <i64 as Type<MySql>>::compatible(ty) || <u64 as Type<MySql>>::compatible(ty)
    }
}

impl Encode<'_, MySql> for BatchId {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'_, MySql>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, MySql> for BatchId {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        // Which of the two column kinds this is decides how the bytes read.
        let unsigned = <u64 as Type<MySql>>::compatible(&value.type_info());
        if unsigned {
            Ok(BatchId(i64::try_from(<u64 as Decode<'r, MySql>>::decode(
                value,
            )?)?))
        } else {
            Ok(BatchId(<i64 as Decode<'r, MySql>>::decode(value)?))
        }
    }
}
