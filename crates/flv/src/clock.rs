//! Wall-clock text for the stamps media carries (`onFI`'s `sd`/`st`, HLS program date times,
//! the API's RFC 3339 times): a Unix time in milliseconds split into the proleptic Gregorian
//! date and time of day in UTC, without a date library (H. Hinnant's `civil_from_days`).

/// The UTC calendar date and time of a Unix time in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
    /// Millisecond, 0–999.
    pub milli: u32,
}

impl UtcTime {
    /// The UTC date and time of `unix_ms` milliseconds after 1970-01-01T00:00:00Z.
    pub fn from_unix_ms(unix_ms: u64) -> UtcTime {
        let days = (unix_ms / 86_400_000) as i64;
        let in_day = unix_ms % 86_400_000;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: month as u32,
            day: day as u32,
            hour: (in_day / 3_600_000) as u32,
            minute: (in_day / 60_000 % 60) as u32,
            second: (in_day / 1000 % 60) as u32,
            milli: (in_day % 1000) as u32,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `hh:mm:ss.sss`.
    pub fn time(&self) -> String {
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            self.hour, self.minute, self.second, self.milli
        )
    }

    /// RFC 3339 with milliseconds: `YYYY-MM-DDThh:mm:ss.sssZ`.
    pub fn rfc3339(&self) -> String {
        format!("{}T{}Z", self.date(), self.time())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(
            UtcTime::from_unix_ms(0).rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            UtcTime::from_unix_ms(1_700_000_000_123).rfc3339(),
            "2023-11-14T22:13:20.123Z"
        );
        // A leap day and the last millisecond of a year.
        assert_eq!(
            UtcTime::from_unix_ms(951_782_400_000).rfc3339(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            UtcTime::from_unix_ms(1_704_067_199_999).rfc3339(),
            "2023-12-31T23:59:59.999Z"
        );
    }
}
