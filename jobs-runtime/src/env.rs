//! Interval overrides read from the environment.

use std::time::Duration;

use crate::Error;

/// The interval in `variable`, when it is set.
///
/// An unset variable means "no override"; a set one must hold a valid,
/// non-zero interval, or start-up stops with an error naming the job, the
/// variable and the value.
pub(crate) fn interval_override(job: &str, variable: &str) -> Result<Option<Duration>, Error> {
    let Some(raw) = std::env::var_os(variable) else {
        return Ok(None);
    };
    let invalid = |value: String, reason: &str| Error::InvalidEnv {
        job: job.to_owned(),
        variable: variable.to_owned(),
        value,
        reason: reason.to_owned(),
    };
    let value = raw
        .into_string()
        .map_err(|raw| invalid(raw.to_string_lossy().into_owned(), "not valid UTF-8"))?;
    parse_interval(&value)
        .map(Some)
        .map_err(|reason| invalid(value, &reason))
}

/// Parses an interval: a humantime duration (`"90s"`, `"5m"`, `"1h 30m"`) or
/// a bare whole number of milliseconds (`"300000"`). Zero is refused.
pub(crate) fn parse_interval(value: &str) -> Result<Duration, String> {
    let trimmed = value.trim();
    let interval = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let millis: u64 = trimmed
            .parse()
            .map_err(|_| "too many milliseconds".to_owned())?;
        Duration::from_millis(millis)
    } else {
        humantime::parse_duration(trimmed).map_err(|error| error.to_string())?
    };
    if interval.is_zero() {
        return Err("zero".to_owned());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_and_milliseconds() {
        assert_eq!(parse_interval("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_interval("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("300000"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_interval(" 5m "), Ok(Duration::from_secs(300)));
    }

    #[test]
    fn refusals() {
        assert_eq!(parse_interval("0"), Err("zero".to_owned()));
        assert_eq!(parse_interval("0s"), Err("zero".to_owned()));
        assert!(parse_interval("2x").is_err());
        assert!(parse_interval("").is_err());
        assert!(parse_interval("-5").is_err());
        assert!(parse_interval("99999999999999999999999").is_err());
    }
}
