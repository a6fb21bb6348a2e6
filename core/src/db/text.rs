//! Reading BOINC's nullable text and `BLOB` columns as plain `String`s.
//!
//! BOINC keeps XML in `BLOB` columns (`workunit.xml_doc`, `result.xml_doc_in`,
//! ...) and leaves many `VARCHAR` columns nullable; its C++ code reads both
//! as C strings, NULL becoming "". sqlx refuses to decode a binary-collated
//! column into `String`, and a NULL into anything but `Option`. Row structs
//! therefore decode such columns through [`NullableText`] with
//! `#[sqlx(try_from = "NullableText")]`, which gives BOINC's reading: NULL is
//! empty, bytes are UTF-8 (invalid sequences, e.g. a client's raw stderr, are
//! replaced rather than failing the whole row).
//!
//! Writing needs nothing special: bind a `&str` and MySQL stores its bytes.

use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlTypeInfo, MySqlValueRef};
use sqlx::{Decode, Type, ValueRef};

/// The value of a text or blob column that may be NULL; see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NullableText(pub String);

impl Type<MySql> for NullableText {
    fn type_info() -> MySqlTypeInfo {
        <Vec<u8> as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <Vec<u8> as Type<MySql>>::compatible(ty) || <String as Type<MySql>>::compatible(ty)
    }
}

impl<'r> Decode<'r, MySql> for NullableText {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.is_null() {
            return Ok(NullableText(String::new()));
        }
        let bytes = <&[u8] as Decode<'r, MySql>>::decode(value)?;
        Ok(NullableText(String::from_utf8_lossy(bytes).into_owned()))
    }
}

impl From<NullableText> for String {
    fn from(t: NullableText) -> String {
        t.0
    }
}
