//! Durations: a humantime duration (`"90s"`, `"5m"`, `"1h 30m"`) or a whole
//! number of milliseconds (`"300000"`), from [`MIN_DURATION`] to
//! [`MAX_DURATION`].

use std::fmt;
use std::time::Duration;

/// The shortest duration accepted: 1 ms, the resolution of tokio's timer.
pub const MIN_DURATION: Duration = Duration::from_millis(1);

/// The longest duration accepted: 100 years of 365.25 days (`"100y"`).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// How the bounds are written in messages and docs.
const MIN_TEXT: &str = "1ms";
const MAX_TEXT: &str = "100y";

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    text: String,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Invalid(String),
    TooShort,
    TooLong,
}

impl DurationError {
    /// The duration as written (or, for a value given in code, as printed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the text parsed but lies outside [`MIN_DURATION`] ..=
    /// [`MAX_DURATION`].
    pub fn is_out_of_range(&self) -> bool {
        !matches!(self.problem, Problem::Invalid(_))
    }
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.text;
        match &self.problem {
            Problem::Invalid(reason) => write!(
                f,
                "invalid duration {text:?}: {reason}; expected a duration such as \"30s\", \"2m\" or \"1h 30m\", or a whole number of milliseconds, from {MIN_TEXT} to {MAX_TEXT}"
            ),
            Problem::TooShort => write!(
                f,
                "duration {text:?} is shorter than the minimum of {MIN_TEXT} (the timer's resolution)"
            ),
            Problem::TooLong => write!(
                f,
                "duration {text:?} is longer than the maximum of {MAX_TEXT} (100 years)"
            ),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration: a humantime duration (`"90s"`, `"5m"`, `"1h 30m"`,
/// `"1500ms"`) or a whole number of milliseconds (`"300000"`), surrounding
/// whitespace ignored, from [`MIN_DURATION`] to [`MAX_DURATION`].
///
/// ```
/// use std::time::Duration;
/// use jobs_grammar::parse_duration;
///
/// assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("300000"), Ok(Duration::from_secs(300)));
/// assert!(parse_duration("0s").is_err());
/// assert!(parse_duration("1000y").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    in_range(parse_unbounded(text)?, text)
}

/// [`parse_duration`], with zero allowed too (`"0"`, `"0s"`, `"0ms"`): for
/// a setting where zero turns something off, not a timer's interval.
///
/// ```
/// use std::time::Duration;
/// use jobs_grammar::parse_duration_or_zero;
///
/// assert_eq!(parse_duration_or_zero("0ms"), Ok(Duration::ZERO));
/// assert_eq!(parse_duration_or_zero("50ms"), Ok(Duration::from_millis(50)));
/// assert!(parse_duration_or_zero("0x").is_err());
/// assert!(parse_duration_or_zero("1ns").is_err());
/// ```
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, DurationError> {
    match parse_unbounded(text)? {
        Duration::ZERO => Ok(Duration::ZERO),
        duration => in_range(duration, text),
    }
}

/// A duration as written, without its bounds checked.
fn parse_unbounded(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let invalid = |reason: String| DurationError {
        text: text.to_owned(),
        problem: Problem::Invalid(reason),
    };
    let duration = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        match trimmed.parse::<u64>() {
            Ok(millis) => Duration::from_millis(millis),
            // Digits only, so the one way to fail is to be too large.
            Err(_) => {
                return Err(DurationError {
                    text: text.to_owned(),
                    problem: Problem::TooLong,
                })
            }
        }
    } else {
        match humantime::parse_duration(trimmed) {
            Ok(duration) => duration,
            Err(error) => return Err(invalid(error.to_string())),
        }
    };
    Ok(duration)
}

/// Checks a duration given in code against [`MIN_DURATION`] and
/// [`MAX_DURATION`]; the error prints it as [`format_duration`] does.
pub fn check_duration(duration: Duration) -> Result<Duration, DurationError> {
    in_range(duration, &format_duration(duration))
}

fn in_range(duration: Duration, text: &str) -> Result<Duration, DurationError> {
    let problem = if duration < MIN_DURATION {
        Problem::TooShort
    } else if duration > MAX_DURATION {
        Problem::TooLong
    } else {
        return Ok(duration);
    };
    Err(DurationError {
        text: text.to_owned(),
        problem,
    })
}

/// Prints a duration so that [`parse_duration`] reads it back to the same
/// value: `"1h 30m"`, `"1s 500ms"`, `"0s"`.
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("300000"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(" 5m "), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1ms"), Ok(MIN_DURATION));
        assert_eq!(parse_duration("100y"), Ok(MAX_DURATION));
    }

    #[test]
    fn bounds() {
        for short in ["0", "0s", "1ns", "999us"] {
            let error = parse_duration(short).unwrap_err();
            assert!(error.is_out_of_range(), "{short}");
            assert_eq!(
                error.to_string(),
                format!("duration {short:?} is shorter than the minimum of 1ms (the timer's resolution)")
            );
        }
        for long in [
            "100y 1s",
            "300000000000y",
            "18446744073709551615s",
            "99999999999999999999999",
        ] {
            let error = parse_duration(long).unwrap_err();
            assert!(error.is_out_of_range(), "{long}: {error}");
            assert!(error
                .to_string()
                .ends_with("longer than the maximum of 100y (100 years)"));
        }
        assert_eq!(
            check_duration(Duration::ZERO).unwrap_err().to_string(),
            "duration \"0s\" is shorter than the minimum of 1ms (the timer's resolution)"
        );
        assert!(check_duration(Duration::MAX).is_err());
    }

    #[test]
    fn refusals_name_the_text() {
        for bad in [
            "2x",
            "",
            "-5",
            "soon",
            "1 lightyear",
            "99999999999999999999999s",
        ] {
            let error = parse_duration(bad).unwrap_err();
            assert!(!error.is_out_of_range(), "{bad}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("invalid duration {bad:?}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn printing_round_trips() {
        let samples = [
            MIN_DURATION,
            MAX_DURATION,
            Duration::from_millis(1500),
            Duration::from_secs(5400),
            Duration::from_secs(86_400 * 45 + 7),
            Duration::new(31_557_600 * 3 + 12, 345_678_901),
        ];
        for duration in samples {
            let text = format_duration(duration);
            assert_eq!(parse_duration(&text), Ok(duration), "{text}");
        }
    }
}
