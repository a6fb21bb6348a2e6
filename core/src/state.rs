//! BOINC's state constants, as enums carrying BOINC's numeric values.
//!
//! The numbers are part of the database format shared with the stock C++
//! daemons and web code, so they must never change: every enum is `#[repr(i32)]`
//! with the exact value, converts with `as i32` / [`i32::from`] and
//! `TryFrom<i32>`, and is read from and written to MySQL as a plain integer
//! (an unknown number in a row is a decode error naming the column type, not a
//! silent default). `Display` prints BOINC's name for logs.
//!
//! Bit fields (`workunit.error_mask`) are a newtype over the integer, because
//! several bits can be set at once.

use std::fmt;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlTypeInfo, MySqlValueRef};
use sqlx::{Decode, Encode, Type};

/// A number that is not one of an enum's BOINC values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a valid BOINC {kind}")]
pub struct UnknownValue {
    /// Which constant family was being decoded, e.g. `result.server_state`.
    pub kind: &'static str,
    pub value: i32,
}

/// Declares a BOINC constant family: the enum, its conversions, `Display`
/// with BOINC's names, and MySQL encode/decode as an integer.
macro_rules! boinc_enum {
    (
        $(#[$meta:meta])*
        $name:ident as $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $boinc:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every value, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// BOINC's name of the constant (from its C headers).
            pub const fn boinc_name(self) -> &'static str {
                match self {
                    $( $name::$variant => $boinc, )+
                }
            }
        }

        impl From<$name> for i32 {
            fn from(v: $name) -> i32 {
                v as i32
            }
        }

        impl TryFrom<i32> for $name {
            type Error = UnknownValue;
            fn try_from(value: i32) -> Result<Self, UnknownValue> {
                match value {
                    $( $value => Ok($name::$variant), )+
                    _ => Err(UnknownValue { kind: $kind, value }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.boinc_name())
            }
        }

        impl Type<MySql> for $name {
            fn type_info() -> MySqlTypeInfo {
                <i32 as Type<MySql>>::type_info()
            }
            fn compatible(ty: &MySqlTypeInfo) -> bool {
                <i32 as Type<MySql>>::compatible(ty)
            }
        }

        impl Encode<'_, MySql> for $name {
            fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
                <i32 as Encode<'_, MySql>>::encode_by_ref(&(*self as i32), buf)
            }
        }

        impl<'r> Decode<'r, MySql> for $name {
            fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
                let n = <i32 as Decode<'r, MySql>>::decode(value)?;
                Ok($name::try_from(n)?)
            }
        }
    };
}

boinc_enum! {
    /// `result.server_state`: where a replica is in its life on the server.
    /// (3 is unused.)
    ServerState as "result.server_state" {
        /// Created but held back (multi-size apps); the feeder ignores it.
        Inactive = 1 => "INACTIVE",
        /// Ready to send; what the feeder loads.
        Unsent = 2 => "UNSENT",
        /// Sent to a host, awaiting its report.
        InProgress = 4 => "IN_PROGRESS",
        /// Finished one way or another: see [`Outcome`].
        Over = 5 => "OVER",
    }
}

boinc_enum! {
    /// `result.outcome`: how a replica ended (meaningful when `Over`).
    Outcome as "result.outcome" {
        Init = 0 => "INIT",
        /// Reported with FILES_UPLOADED and exit status 0.
        Success = 1 => "SUCCESS",
        CouldntSend = 2 => "COULDNT_SEND",
        /// Any other report: compute error, upload failure, abort.
        ClientError = 3 => "CLIENT_ERROR",
        /// The report deadline passed.
        NoReply = 4 => "NO_REPLY",
        /// Never sent because the job no longer needed it.
        DidntNeed = 5 => "DIDNT_NEED",
        /// The validator could not read the output.
        ValidateError = 6 => "VALIDATE_ERROR",
        /// The host detached; its in-progress replicas are abandoned.
        ClientDetached = 7 => "CLIENT_DETACHED",
    }
}

boinc_enum! {
    /// `result.client_state`: the client's state of the task when it reported.
    ClientState as "result.client_state" {
        New = 0 => "NEW",
        FilesDownloading = 1 => "FILES_DOWNLOADING",
        FilesDownloaded = 2 => "FILES_DOWNLOADED",
        ComputeError = 3 => "COMPUTE_ERROR",
        FilesUploading = 4 => "FILES_UPLOADING",
        /// The only good end state.
        FilesUploaded = 5 => "FILES_UPLOADED",
        Aborted = 6 => "ABORTED",
        UploadFailed = 7 => "UPLOAD_FAILED",
    }
}

boinc_enum! {
    /// `result.validate_state`.
    ValidateState as "result.validate_state" {
        /// Not yet examined.
        Init = 0 => "INIT",
        Valid = 1 => "VALID",
        Invalid = 2 => "INVALID",
        /// The job failed before this result was checked; it never will be.
        NoCheck = 3 => "NO_CHECK",
        /// Compared, but no consensus yet.
        Inconclusive = 4 => "INCONCLUSIVE",
        /// Arrived after the canonical result's files were deleted.
        TooLate = 5 => "TOO_LATE",
    }
}

boinc_enum! {
    /// `workunit.file_delete_state` and `result.file_delete_state`.
    FileDeleteState as "file_delete_state" {
        /// Files still needed.
        Init = 0 => "INIT",
        /// The file deleter may delete them.
        Ready = 1 => "READY",
        Done = 2 => "DONE",
        /// Deletion failed; retried later.
        Error = 3 => "ERROR",
    }
}

boinc_enum! {
    /// `workunit.assimilate_state`.
    AssimilateState as "workunit.assimilate_state" {
        Init = 0 => "INIT",
        /// Canonical result found (or the job failed): assimilator's turn.
        Ready = 1 => "READY",
        Done = 2 => "DONE",
    }
}

boinc_enum! {
    /// `workunit.transitioner_flags`.
    TransitionerFlags as "workunit.transitioner_flags" {
        Normal = 0 => "normal",
        /// Never transitioned (broadcast jobs); transition_time is INT_MAX.
        TransitionNone = 1 => "TRANSITION_NONE",
        /// Transitioned, but the scheduler (not the transitioner) creates
        /// replicas (targeted jobs).
        TransitionNoNewResults = 2 => "TRANSITION_NO_NEW_RESULTS",
    }
}

boinc_enum! {
    /// `batch.state`.
    BatchState as "batch.state" {
        Init = 0 => "INIT",
        InProgress = 1 => "IN_PROGRESS",
        Complete = 2 => "COMPLETE",
        Aborted = 3 => "ABORTED",
        /// db_purge may delete the batch's jobs.
        Retired = 4 => "RETIRED",
    }
}

boinc_enum! {
    /// `assignment.target_type`.
    AssignTarget as "assignment.target_type" {
        None = 0 => "ASSIGN_NONE",
        Host = 1 => "ASSIGN_HOST",
        User = 2 => "ASSIGN_USER",
        Team = 3 => "ASSIGN_TEAM",
    }
}

boinc_enum! {
    /// `result.app_version_id` values that mean "anonymous platform": the
    /// client brought its own app version of this processor type.
    AnonymousPlatform as "anonymous-platform app_version_id" {
        /// Left over from old schedulers.
        Unknown = -1 => "ANON_PLATFORM_UNKNOWN",
        Cpu = -2 => "ANON_PLATFORM_CPU",
        Nvidia = -3 => "ANON_PLATFORM_NVIDIA",
        Ati = -4 => "ANON_PLATFORM_ATI",
        IntelGpu = -5 => "ANON_PLATFORM_INTEL_GPU",
        AppleGpu = -6 => "ANON_PLATFORM_APPLE_GPU",
    }
}

/// `workunit.error_mask`: why a job failed, as OR-ed bits (0 = no error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ErrorMask(pub i32);

impl ErrorMask {
    pub const NONE: ErrorMask = ErrorMask(0);
    /// A replica had outcome COULDNT_SEND (transitioner).
    pub const COULDNT_SEND_RESULT: ErrorMask = ErrorMask(1);
    /// More error replicas than `max_error_results` (transitioner).
    pub const TOO_MANY_ERROR_RESULTS: ErrorMask = ErrorMask(2);
    /// More successful replicas than `max_success_results` without consensus (validator).
    pub const TOO_MANY_SUCCESS_RESULTS: ErrorMask = ErrorMask(4);
    /// More replicas needed but `max_total_results` reached (transitioner).
    pub const TOO_MANY_TOTAL_RESULTS: ErrorMask = ErrorMask(8);
    /// Cancelled by an administrator or the submitter.
    pub const CANCELLED: ErrorMask = ErrorMask(16);
    /// Ready to assimilate but the canonical replica is missing (assimilator;
    /// assigned, not OR-ed, and only when the mask was 0).
    pub const NO_CANONICAL_RESULT: ErrorMask = ErrorMask(32);

    const NAMES: [(ErrorMask, &'static str); 6] = [
        (Self::COULDNT_SEND_RESULT, "COULDNT_SEND_RESULT"),
        (Self::TOO_MANY_ERROR_RESULTS, "TOO_MANY_ERROR_RESULTS"),
        (Self::TOO_MANY_SUCCESS_RESULTS, "TOO_MANY_SUCCESS_RESULTS"),
        (Self::TOO_MANY_TOTAL_RESULTS, "TOO_MANY_TOTAL_RESULTS"),
        (Self::CANCELLED, "CANCELLED"),
        (Self::NO_CANONICAL_RESULT, "NO_CANONICAL_RESULT"),
    ];

    pub const fn bits(self) -> i32 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True if every bit of `other` is set here.
    pub const fn contains(self, other: ErrorMask) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for ErrorMask {
    type Output = ErrorMask;
    fn bitor(self, rhs: ErrorMask) -> ErrorMask {
        ErrorMask(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for ErrorMask {
    fn bitor_assign(&mut self, rhs: ErrorMask) {
        self.0 |= rhs.0;
    }
}

impl From<ErrorMask> for i32 {
    fn from(m: ErrorMask) -> i32 {
        m.0
    }
}

impl From<i32> for ErrorMask {
    fn from(bits: i32) -> ErrorMask {
        ErrorMask(bits)
    }
}

/// `COULDNT_SEND_RESULT|CANCELLED`, or `0`; unknown bits are shown in hex.
impl fmt::Display for ErrorMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let mut rest = self.0;
        let mut first = true;
        for (bit, name) in Self::NAMES {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !bit.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

impl Type<MySql> for ErrorMask {
    fn type_info() -> MySqlTypeInfo {
        <i32 as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <i32 as Type<MySql>>::compatible(ty)
    }
}

impl Encode<'_, MySql> for ErrorMask {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        <i32 as Encode<'_, MySql>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, MySql> for ErrorMask {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(ErrorMask(<i32 as Decode<'r, MySql>>::decode(value)?))
    }
}

/// `workunit.transition_time` value meaning "never" (C's `INT_MAX`).
pub const TRANSITION_TIME_NEVER: i32 = i32::MAX;

/// Exit status of a task aborted by the project (the host's quota is not reduced).
pub const EXIT_ABORTED_BY_PROJECT: i32 = 202;
/// Exit status of a task the volunteer aborted in the client's GUI (the
/// transitioner counts such errors as "no reply").
pub const EXIT_ABORTED_VIA_GUI: i32 = 203;

/// BOINC error numbers the server writes into replies or compares with.
pub mod error_code {
    pub const ERR_FOPEN: i32 = -108;
    pub const ERR_OPENDIR: i32 = -111;
    pub const ERR_XML_PARSE: i32 = -112;
    /// Lookup found nothing (also: an UPDATE matched no row).
    pub const ERR_DB_NOT_FOUND: i32 = -136;
    /// Lookup not unique (account RPCs: the email address is taken).
    pub const ERR_DB_NOT_UNIQUE: i32 = -137;
    /// Account RPCs: wrong password.
    pub const ERR_BAD_PASSWD: i32 = -206;
}

/// Credit per FLOP: 200 credits per day of a 1 GFLOPS machine.
pub const COBBLESTONE_SCALE: f64 = 200.0 / 86400e9;
/// Half-life of the exponentially averaged ("recent") credit, in seconds (7 days).
pub const CREDIT_HALF_LIFE: f64 = 7.0 * 86400.0;

/// The id BOINC uses in `host_app_version` for an app version: the id itself,
/// or for anonymous-platform versions (negative ids) `appid * 1000000 - avid`.
pub fn generalized_app_version_id(app_version_id: i64, appid: i64) -> i64 {
    if app_version_id < 0 {
        appid * 1_000_000 - app_version_id
    } else {
        app_version_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each family round-trips through i32 for every value, and the numbers
    /// are BOINC's (spelled out here independently of the macro input).
    #[test]
    fn values_round_trip_and_match_boinc() {
        fn check<T>(all: &[T], expected: &[(i32, &str)])
        where
            T: Copy
                + Into<i32>
                + TryFrom<i32, Error = UnknownValue>
                + fmt::Display
                + PartialEq
                + fmt::Debug,
        {
            let got: Vec<(i32, String)> =
                all.iter().map(|v| ((*v).into(), v.to_string())).collect();
            let want: Vec<(i32, String)> =
                expected.iter().map(|(n, s)| (*n, s.to_string())).collect();
            assert_eq!(got, want);
            for v in all {
                assert_eq!(T::try_from((*v).into()), Ok(*v));
            }
        }
        check(
            ServerState::ALL,
            &[
                (1, "INACTIVE"),
                (2, "UNSENT"),
                (4, "IN_PROGRESS"),
                (5, "OVER"),
            ],
        );
        check(
            Outcome::ALL,
            &[
                (0, "INIT"),
                (1, "SUCCESS"),
                (2, "COULDNT_SEND"),
                (3, "CLIENT_ERROR"),
                (4, "NO_REPLY"),
                (5, "DIDNT_NEED"),
                (6, "VALIDATE_ERROR"),
                (7, "CLIENT_DETACHED"),
            ],
        );
        check(
            ClientState::ALL,
            &[
                (0, "NEW"),
                (1, "FILES_DOWNLOADING"),
                (2, "FILES_DOWNLOADED"),
                (3, "COMPUTE_ERROR"),
                (4, "FILES_UPLOADING"),
                (5, "FILES_UPLOADED"),
                (6, "ABORTED"),
                (7, "UPLOAD_FAILED"),
            ],
        );
        check(
            ValidateState::ALL,
            &[
                (0, "INIT"),
                (1, "VALID"),
                (2, "INVALID"),
                (3, "NO_CHECK"),
                (4, "INCONCLUSIVE"),
                (5, "TOO_LATE"),
            ],
        );
        check(
            FileDeleteState::ALL,
            &[(0, "INIT"), (1, "READY"), (2, "DONE"), (3, "ERROR")],
        );
        check(
            AssimilateState::ALL,
            &[(0, "INIT"), (1, "READY"), (2, "DONE")],
        );
        check(
            TransitionerFlags::ALL,
            &[
                (0, "normal"),
                (1, "TRANSITION_NONE"),
                (2, "TRANSITION_NO_NEW_RESULTS"),
            ],
        );
        check(
            BatchState::ALL,
            &[
                (0, "INIT"),
                (1, "IN_PROGRESS"),
                (2, "COMPLETE"),
                (3, "ABORTED"),
                (4, "RETIRED"),
            ],
        );
        check(
            AssignTarget::ALL,
            &[
                (0, "ASSIGN_NONE"),
                (1, "ASSIGN_HOST"),
                (2, "ASSIGN_USER"),
                (3, "ASSIGN_TEAM"),
            ],
        );
        check(
            AnonymousPlatform::ALL,
            &[
                (-1, "ANON_PLATFORM_UNKNOWN"),
                (-2, "ANON_PLATFORM_CPU"),
                (-3, "ANON_PLATFORM_NVIDIA"),
                (-4, "ANON_PLATFORM_ATI"),
                (-5, "ANON_PLATFORM_INTEL_GPU"),
                (-6, "ANON_PLATFORM_APPLE_GPU"),
            ],
        );
    }

    #[test]
    fn unknown_values_are_errors_naming_the_column() {
        assert_eq!(
            ServerState::try_from(3).unwrap_err().to_string(),
            "3 is not a valid BOINC result.server_state"
        );
        assert!(Outcome::try_from(8).is_err());
        assert!(ValidateState::try_from(-1).is_err());
        assert!(BatchState::try_from(5).is_err());
    }

    #[test]
    fn error_mask_bits() {
        let mut m = ErrorMask::NONE;
        assert!(m.is_empty());
        m |= ErrorMask::TOO_MANY_ERROR_RESULTS;
        m |= ErrorMask::CANCELLED;
        assert_eq!(i32::from(m), 18);
        assert!(m.contains(ErrorMask::CANCELLED));
        assert!(!m.contains(ErrorMask::COULDNT_SEND_RESULT));
        assert_eq!(m.to_string(), "TOO_MANY_ERROR_RESULTS|CANCELLED");
        assert_eq!(
            ErrorMask(1 | 4 | 8 | 32).to_string(),
            "COULDNT_SEND_RESULT|TOO_MANY_SUCCESS_RESULTS|TOO_MANY_TOTAL_RESULTS|NO_CANONICAL_RESULT"
        );
        assert_eq!(ErrorMask(64 | 2).to_string(), "TOO_MANY_ERROR_RESULTS|0x40");
        assert_eq!(ErrorMask(0).to_string(), "0");
    }

    #[test]
    fn generalized_ids_follow_boinc() {
        assert_eq!(generalized_app_version_id(-2, 3), 3_000_002);
        assert_eq!(generalized_app_version_id(-6, 1), 1_000_006);
        assert_eq!(generalized_app_version_id(17, 3), 17);
    }

    #[test]
    fn constants() {
        assert_eq!(TRANSITION_TIME_NEVER, 2_147_483_647);
        assert_eq!(COBBLESTONE_SCALE, 200.0 / 86_400_000_000_000.0);
        assert_eq!(CREDIT_HALF_LIFE, 604_800.0);
    }
}
