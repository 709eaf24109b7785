//! Alertmanager's named time intervals (`time_intervals:` / `mute_time_intervals:`).
//!
//! A named interval holds a list of specs; it contains an instant when any spec does. A
//! spec contains an instant when every field it sets matches (unset fields match
//! everything), evaluated in the spec's `location`:
//! - `times`: `start_time`/`end_time` as `HH:MM`, start inclusive, end exclusive, `24:00`
//!   allowed as end;
//! - `weekdays`: names or inclusive ranges `monday:friday` (Sunday first, as in
//!   Alertmanager, so `saturday:sunday` is rejected: list both days);
//! - `days_of_month`: `1`..`31`, negative counts from the month's end (`-1` = last day),
//!   ranges `1:5`, `-3:-1`; days beyond a short month are clamped to its end;
//! - `months`: names or numbers `1`..`12`, ranges `january:march`;
//! - `years`: numbers, ranges `2024:2026`;
//! - `location`: an IANA zone (`Europe/Berlin`) via `chrono-tz`, default `UTC`.
//!   `Local` is treated as UTC: the server's own zone would make routing depend on the
//!   host, which is never what a pasted config means in Strix' container deployments.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use strix_core::Timestamp;

use super::config::ConfigError;

/// A named time interval as written in YAML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSpecConfig>,
}

/// One spec of a named interval as written in YAML.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpecConfig {
    #[serde(default)]
    pub times: Vec<TimeRangeConfig>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeConfig {
    pub start_time: String,
    pub end_time: String,
}

/// A compiled named interval.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    pub specs: Vec<TimeIntervalSpec>,
}

/// A compiled spec; ranges are inclusive except `times` (end exclusive, in minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeIntervalSpec {
    pub times: Vec<(u32, u32)>,
    /// 0 = Sunday.
    pub weekdays: Vec<(u32, u32)>,
    pub days_of_month: Vec<(i32, i32)>,
    pub months: Vec<(u32, u32)>,
    pub years: Vec<(i32, i32)>,
    pub location: Tz,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TimeInterval {
    /// Compiles; `path` names the `time_intervals` list of this entry.
    pub fn compile(c: &TimeIntervalConfig, path: &str) -> Result<Self, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let mut specs = Vec::new();
        for (i, s) in c.time_intervals.iter().enumerate() {
            let p = format!("{path}[{i}]");
            match TimeIntervalSpec::compile(s, &p) {
                Ok(spec) => specs.push(spec),
                Err(e) => errs.extend(e),
            }
        }
        if errs.is_empty() {
            Ok(TimeInterval { specs })
        } else {
            Err(errs)
        }
    }

    /// Whether the instant `ts` (milliseconds since the epoch) lies in this interval.
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.specs.iter().any(|s| s.contains(ts))
    }
}

/// Whether `ts` lies in `interval` (free-function form).
pub fn contains(interval: &TimeInterval, ts: Timestamp) -> bool {
    interval.contains(ts)
}

fn err(path: String, message: String) -> ConfigError {
    ConfigError { path, message }
}

impl TimeIntervalSpec {
    pub fn compile(c: &TimeIntervalSpecConfig, path: &str) -> Result<Self, Vec<ConfigError>> {
        let mut errs = Vec::new();
        let mut times = Vec::new();
        for (i, t) in c.times.iter().enumerate() {
            let p = format!("{path}.times[{i}]");
            match (
                parse_clock(&t.start_time, false),
                parse_clock(&t.end_time, true),
            ) {
                (Ok(a), Ok(b)) if a < b => times.push((a, b)),
                (Ok(_), Ok(_)) => errs.push(err(p, "start_time must be before end_time".into())),
                (Err(e), _) => errs.push(err(format!("{p}.start_time"), e)),
                (_, Err(e)) => errs.push(err(format!("{p}.end_time"), e)),
            }
        }
        let weekdays = ranges(&c.weekdays, &format!("{path}.weekdays"), &mut errs, |s| {
            WEEKDAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(s.trim()))
                .map(|i| i as i64)
                .ok_or_else(|| format!("invalid weekday {s:?}"))
        })
        .into_iter()
        .map(|(a, b)| (a as u32, b as u32))
        .collect();
        let months = ranges(&c.months, &format!("{path}.months"), &mut errs, |s| {
            let s = s.trim();
            if let Some(i) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)) {
                return Ok(i as i64 + 1);
            }
            match s.parse::<i64>() {
                Ok(n) if (1..=12).contains(&n) => Ok(n),
                _ => Err(format!("invalid month {s:?}: expected a name or 1-12")),
            }
        })
        .into_iter()
        .map(|(a, b)| (a as u32, b as u32))
        .collect();
        let years = ranges(&c.years, &format!("{path}.years"), &mut errs, |s| {
            match s.trim().parse::<i64>() {
                Ok(n) if (1..=9999).contains(&n) => Ok(n),
                _ => Err(format!("invalid year {s:?}")),
            }
        })
        .into_iter()
        .map(|(a, b)| (a as i32, b as i32))
        .collect();
        let mut days_of_month = Vec::new();
        for (i, s) in c.days_of_month.iter().enumerate() {
            let p = format!("{path}.days_of_month[{i}]");
            let day = |x: &str| match x.trim().parse::<i32>() {
                Ok(n) if (1..=31).contains(&n) || (-31..=-1).contains(&n) => Ok(n),
                _ => Err(format!(
                    "invalid day of month {x:?}: expected 1..31 or -31..-1"
                )),
            };
            let r = match s.split_once(':') {
                Some((a, b)) => day(a).and_then(|a| day(b).map(|b| (a, b))),
                None => day(s).map(|d| (d, d)),
            };
            match r {
                Ok((a, b)) if a.signum() == b.signum() && a > b => errs.push(err(
                    p,
                    format!("start day cannot be after end day in {s:?}"),
                )),
                Ok(r) => days_of_month.push(r),
                Err(e) => errs.push(err(p, e)),
            }
        }
        let location = match c.location.as_deref() {
            None | Some("") | Some("UTC") | Some("Local") => Tz::UTC,
            Some(name) => match name.parse::<Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    errs.push(err(
                        format!("{path}.location"),
                        format!("unknown time zone {name:?}: expected an IANA name such as Europe/Berlin"),
                    ));
                    Tz::UTC
                }
            },
        };
        if errs.is_empty() {
            Ok(TimeIntervalSpec {
                times,
                weekdays,
                days_of_month,
                months,
                years,
                location,
            })
        } else {
            Err(errs)
        }
    }

    /// Whether the instant `ts` (milliseconds since the epoch) matches every set field.
    pub fn contains(&self, ts: Timestamp) -> bool {
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(ts) else {
            return false;
        };
        let t = self.location.from_utc_datetime(&utc.naive_utc());
        let minute = t.hour() * 60 + t.minute();
        if !self.times.is_empty() && !self.times.iter().any(|&(a, b)| a <= minute && minute < b) {
            return false;
        }
        let wd = t.weekday().num_days_from_sunday();
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|&(a, b)| a <= wd && wd <= b) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let dim = days_in_month(t.year(), t.month());
            let day = t.day() as i32;
            let resolve = |d: i32| {
                if d < 0 {
                    (dim + 1 + d).max(1)
                } else {
                    d.min(dim)
                }
            };
            let hit = self.days_of_month.iter().any(|&(a, b)| {
                let (a, b) = (resolve(a), resolve(b));
                a <= day && day <= b
            });
            if !hit {
                return false;
            }
        }
        let m = t.month();
        if !self.months.is_empty() && !self.months.iter().any(|&(a, b)| a <= m && m <= b) {
            return false;
        }
        let y = t.year();
        if !self.years.is_empty() && !self.years.iter().any(|&(a, b)| a <= y && y <= b) {
            return false;
        }
        true
    }
}

fn days_in_month(year: i32, month: u32) -> i32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => (b - a).num_days() as i32,
        _ => 31,
    }
}

/// Parses `HH:MM` into minutes since midnight; `24:00` only when `end`.
fn parse_clock(s: &str, end: bool) -> Result<u32, String> {
    let bad = || format!("invalid time {s:?}: expected HH:MM");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
        return Err(format!("invalid time {s:?}: out of range (00:00 to 24:00)"));
    }
    Ok(h * 60 + m)
}

/// Parses a list of `x` or `x:y` items with `one`, checking start ≤ end.
fn ranges(
    items: &[String],
    path: &str,
    errs: &mut Vec<ConfigError>,
    one: impl Fn(&str) -> Result<i64, String>,
) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let r = match s.split_once(':') {
            Some((a, b)) => one(a).and_then(|a| one(b).map(|b| (a, b))),
            None => one(s).map(|x| (x, x)),
        };
        match r {
            Ok((a, b)) if a > b => {
                errs.push(err(p, format!("start of range {s:?} is after its end")))
            }
            Ok(r) => out.push(r),
            Err(e) => errs.push(err(p, e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TimeIntervalSpec {
        let c: TimeIntervalSpecConfig = serde_yaml::from_str(yaml).unwrap();
        TimeIntervalSpec::compile(&c, "t").unwrap()
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn times_are_start_inclusive_end_exclusive() {
        let s = spec("times: [{start_time: '09:00', end_time: '17:00'}, {start_time: '22:00', end_time: '24:00'}]");
        assert!(!s.contains(at(2024, 5, 6, 8, 59)));
        assert!(s.contains(at(2024, 5, 6, 9, 0)));
        assert!(s.contains(at(2024, 5, 6, 16, 59)));
        assert!(!s.contains(at(2024, 5, 6, 17, 0)));
        assert!(s.contains(at(2024, 5, 6, 23, 59)));
    }

    #[test]
    fn weekday_ranges() {
        // 2024-05-06 is a Monday.
        let s = spec("weekdays: ['monday:friday']");
        assert!(s.contains(at(2024, 5, 6, 12, 0)));
        assert!(s.contains(at(2024, 5, 10, 12, 0)));
        assert!(!s.contains(at(2024, 5, 11, 12, 0)));
        assert!(!s.contains(at(2024, 5, 12, 12, 0)));
        let s = spec("weekdays: [Saturday, sunday]");
        assert!(s.contains(at(2024, 5, 12, 0, 0)));
        assert!(!s.contains(at(2024, 5, 13, 0, 0)));
    }

    #[test]
    fn negative_days_of_month() {
        let s = spec("days_of_month: ['-3:-1']");
        assert!(s.contains(at(2024, 2, 27, 0, 0))); // leap year: Feb has 29 days
        assert!(s.contains(at(2024, 2, 29, 0, 0)));
        assert!(!s.contains(at(2024, 2, 26, 0, 0)));
        assert!(s.contains(at(2023, 4, 28, 0, 0)));
        assert!(!s.contains(at(2023, 4, 27, 0, 0)));
        let s = spec("days_of_month: ['1:5', '-1']");
        assert!(s.contains(at(2024, 1, 5, 0, 0)));
        assert!(!s.contains(at(2024, 1, 6, 0, 0)));
        assert!(s.contains(at(2024, 1, 31, 0, 0)));
        // Mixed signs: the 25th to the last day.
        let s = spec("days_of_month: ['25:-1']");
        assert!(s.contains(at(2024, 6, 30, 0, 0)));
        assert!(!s.contains(at(2024, 6, 24, 0, 0)));
        // 31 in a 30-day month clamps to its end.
        let s = spec("days_of_month: ['31']");
        assert!(s.contains(at(2024, 6, 30, 0, 0)));
    }

    #[test]
    fn months_and_years() {
        let s = spec("months: ['january:march', '12']\nyears: ['2024:2025']");
        assert!(s.contains(at(2024, 2, 1, 0, 0)));
        assert!(s.contains(at(2025, 12, 1, 0, 0)));
        assert!(!s.contains(at(2024, 4, 1, 0, 0)));
        assert!(!s.contains(at(2026, 1, 1, 0, 0)));
    }

    #[test]
    fn location_shifts_the_clock() {
        let s = spec("times: [{start_time: '09:00', end_time: '17:00'}]\nlocation: Europe/Berlin");
        // 07:30 UTC = 09:30 CEST in summer.
        assert!(s.contains(at(2024, 7, 1, 7, 30)));
        assert!(!s.contains(at(2024, 7, 1, 15, 30)));
        // Weekday evaluated locally: Sunday 23:30 UTC is Monday in Tokyo.
        let s = spec("weekdays: [monday]\nlocation: Asia/Tokyo");
        assert!(s.contains(at(2024, 5, 5, 23, 30)));
    }

    #[test]
    fn any_spec_matches() {
        let c: TimeIntervalConfig = serde_yaml::from_str(
            "name: x\ntime_intervals:\n- weekdays: [saturday]\n- weekdays: [sunday]\n",
        )
        .unwrap();
        let ti = TimeInterval::compile(&c, "p").unwrap();
        assert!(contains(&ti, at(2024, 5, 11, 1, 0)));
        assert!(contains(&ti, at(2024, 5, 12, 1, 0)));
        assert!(!contains(&ti, at(2024, 5, 13, 1, 0)));
    }

    #[test]
    fn rejects_bad_specs_with_paths() {
        let cases = [
            (
                "times: [{start_time: '17:00', end_time: '09:00'}]",
                "t.times[0]",
            ),
            (
                "times: [{start_time: '24:00', end_time: '24:00'}]",
                "t.times[0].start_time",
            ),
            (
                "times: [{start_time: '9:60', end_time: '10:00'}]",
                "t.times[0].start_time",
            ),
            ("weekdays: ['friday:monday']", "t.weekdays[0]"),
            ("weekdays: ['funday']", "t.weekdays[0]"),
            ("days_of_month: ['0']", "t.days_of_month[0]"),
            ("days_of_month: ['-1:-3']", "t.days_of_month[0]"),
            ("days_of_month: ['32']", "t.days_of_month[0]"),
            ("months: ['13']", "t.months[0]"),
            ("months: ['march:january']", "t.months[0]"),
            ("years: ['2025:2024']", "t.years[0]"),
            ("location: Mars/Olympus", "t.location"),
        ];
        for (yaml, path) in cases {
            let c: TimeIntervalSpecConfig = serde_yaml::from_str(yaml).unwrap();
            let e = TimeIntervalSpec::compile(&c, "t").unwrap_err();
            assert_eq!(e[0].path, path, "{yaml}: {e:?}");
        }
    }
}
