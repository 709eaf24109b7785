//! Calendar functions over Unix-second values, in UTC.

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// `day_of_month`, `day_of_week`, ... of the Unix time `v` (seconds, truncated).
pub(crate) fn date_fn(name: &str, v: f64) -> f64 {
    if v.is_nan() || v.is_infinite() {
        return v;
    }
    let secs = v as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let r = match name {
        "day_of_month" => i64::from(d),
        "day_of_week" => (days + 4).rem_euclid(7),
        "day_of_year" => {
            let before: u32 = (1..m).map(|mm| days_in_month(y, mm)).sum();
            i64::from(before + d)
        }
        "days_in_month" => i64::from(days_in_month(y, m)),
        "hour" => sod / 3600,
        "minute" => (sod % 3600) / 60,
        "month" => i64::from(m),
        _ => y,
    };
    r as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300.0;
        assert_eq!(date_fn("year", t), 2024.0);
        assert_eq!(date_fn("month", t), 2.0);
        assert_eq!(date_fn("day_of_month", t), 29.0);
        assert_eq!(date_fn("days_in_month", t), 29.0);
        assert_eq!(date_fn("day_of_year", t), 60.0);
        assert_eq!(date_fn("day_of_week", t), 4.0);
        assert_eq!(date_fn("hour", t), 13.0);
        assert_eq!(date_fn("minute", t), 45.0);
    }
}
