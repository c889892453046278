//! UTC calendar time from the system clock, for log timestamps and snapshot names.
//!
//! A few lines of civil-calendar arithmetic instead of a date crate: Stratus only ever needs
//! "now, in UTC, as year-month-day hour:minute:second".

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
}

impl UtcTime {
    pub fn now() -> UtcTime {
        UtcTime::from_system_time(SystemTime::now())
    }

    /// Times before 1970 (a badly set clock) are shown as the epoch.
    pub fn from_system_time(time: SystemTime) -> UtcTime {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let seconds = since_epoch.as_secs();
        let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
        let second_of_day = (seconds % 86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            millisecond: since_epoch.subsec_millis(),
        }
    }

    /// `2026-11-27T00:07:09.123Z`
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millisecond
        )
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar, counting in
/// 400-year eras (146,097 days each) whose years start on March 1st, so leap days fall last.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const DAYS_PER_ERA: i64 = 146_097;
    // 1970-01-01 is day 719,468 counted from 0000-03-01.
    let days = days + 719_468;
    let era = days.div_euclid(DAYS_PER_ERA);
    let day_of_era = days.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64, millis: u64) -> UtcTime {
        UtcTime::from_system_time(UNIX_EPOCH + Duration::from_millis(seconds * 1000 + millis))
    }

    #[test]
    fn known_dates() {
        assert_eq!(at(0, 0).rfc3339_millis(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            at(951_782_400, 5).rfc3339_millis(),
            "2000-02-29T00:00:00.005Z"
        );
        assert_eq!(
            at(1_798_416_029, 123).rfc3339_millis(),
            "2026-12-28T00:00:29.123Z"
        );
        assert_eq!(
            at(4_107_542_399, 999).rfc3339_millis(),
            "2100-02-28T23:59:59.999Z"
        );
        assert_eq!(
            at(4_107_542_400, 0).rfc3339_millis(),
            "2100-03-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_day_follows_the_previous_one() {
        let mut previous = civil_from_days(-1);
        for day in 0..200_000 {
            let current = civil_from_days(day);
            let next_day = (previous.0, previous.1, previous.2 + 1);
            let next_month = (previous.0, previous.1 + 1, 1);
            let next_year = (previous.0 + 1, 1, 1);
            assert!(
                current == next_day || current == next_month || current == next_year,
                "{previous:?} -> {current:?}"
            );
            previous = current;
        }
    }
}
