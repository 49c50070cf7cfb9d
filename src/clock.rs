//! Wall-clock time as the database stores it: UTC, microsecond precision
//! (the finest both SQLite and PostgreSQL keep, so a value read back equals
//! the value written).

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// RFC 3339 with a `Z`, the form every JSON response uses for times.
pub fn to_rfc3339(time: NaiveDateTime) -> String {
    DateTime::<Utc>::from_naive_utc_and_offset(time, Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Serde helpers so response structs can hold `NaiveDateTime` and still
/// print RFC 3339 with a `Z`.
pub mod rfc3339 {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(time: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::to_rfc3339(*time))
    }

    pub mod option {
        use chrono::NaiveDateTime;
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            time: &Option<NaiveDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, s),
                None => s.serialize_none(),
            }
        }
    }
}
