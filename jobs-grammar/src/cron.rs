//! The cron dialect: 5 fields (minute hour day-of-month month day-of-week),
//! or 6 with seconds first, no year field; `L`, `W` and `#`; and the aliases
//! `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and
//! `@hourly`.
//!
//! An expression is refused when a field does not parse (the error names the
//! field), when a list has an empty item (`","`, `"1,,2"`), and when no date
//! matches it at all (`"0 0 31 2 *"`): such an expression would never fire.

use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// The aliases and what each stands for.
const ALIASES: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// The fields, with what each accepts, when the seconds field is written.
const FIELDS_6: &[(&str, &str)] = &[
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31, `L` or `W`"),
    ("month", "1-12 or JAN-DEC"),
    (
        "day-of-week",
        "0-7 (0 and 7 are Sunday), SUN-SAT, `L` or `#`",
    ),
];

/// The fields when the seconds field is left out.
const FIELDS_5: &[(&str, &str)] = FIELDS_6.split_at(1).1;

const EXPECTED: &str = "expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or an alias such as \"@hourly\", \"@daily\", \"@weekly\"";

/// A checked cron expression.
#[derive(Debug, Clone)]
pub struct CronExpr {
    cron: Cron,
    wall_clock: bool,
}

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    expression: String,
    problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    FieldCount(usize),
    UnknownAlias,
    Field {
        field: &'static str,
        range: &'static str,
        text: String,
        reason: String,
    },
    Other(String),
    NeverFires,
}

impl CronError {
    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// Whether the expression parses but no date matches it.
    pub fn never_fires(&self) -> bool {
        self.problem == Problem::NeverFires
    }
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expression = &self.expression;
        match &self.problem {
            Problem::FieldCount(count) => write!(
                f,
                "invalid cron expression {expression:?}: {count} field{}; {EXPECTED}",
                if *count == 1 { "" } else { "s" }
            ),
            Problem::UnknownAlias => write!(
                f,
                "invalid cron expression {expression:?}: unknown alias; the aliases are {}",
                ALIASES
                    .iter()
                    .map(|(alias, _)| *alias)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Problem::Field {
                field,
                range,
                text,
                reason,
            } => write!(
                f,
                "invalid cron expression {expression:?}: bad {field} field {text:?} ({reason}); the {field} field takes {range}, with `*`, lists `,`, ranges `-` and steps `/`"
            ),
            Problem::Other(reason) => {
                write!(f, "invalid cron expression {expression:?}: {reason}; {EXPECTED}")
            }
            Problem::NeverFires => write!(
                f,
                "cron expression {expression:?} never fires: no date matches its day-of-month, month and day-of-week fields"
            ),
        }
    }
}

impl std::error::Error for CronError {}

/// The parser of the dialect: seconds optional, no year field.
fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// The parser's reason, without its prefix and final period.
fn reason(error: &croner::errors::CronError) -> String {
    let reason = error.to_string();
    reason
        .strip_prefix("Component error: ")
        .unwrap_or(&reason)
        .trim_end_matches('.')
        .to_owned()
}

impl CronExpr {
    /// Parses and checks `expression`.
    ///
    /// ```
    /// use jobs_grammar::CronExpr;
    ///
    /// assert!(CronExpr::parse("0 9 * * MON-FRI").is_ok());
    /// assert!(CronExpr::parse("@midnight").is_ok());
    /// let never = CronExpr::parse("0 0 31 2 *").unwrap_err();
    /// assert!(never.never_fires());
    /// let comma = CronExpr::parse(", * * * *").unwrap_err().to_string();
    /// assert!(comma.contains("bad minute field \",\" (an empty item in a list)"), "{comma}");
    /// ```
    pub fn parse(expression: &str) -> Result<CronExpr, CronError> {
        let refuse = |problem| CronError {
            expression: expression.to_owned(),
            problem,
        };
        let trimmed = expression.trim();
        let expanded = if trimmed.starts_with('@') {
            ALIASES
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(trimmed))
                .map(|(_, expanded)| *expanded)
                .ok_or_else(|| refuse(Problem::UnknownAlias))?
        } else {
            trimmed
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let layout = match fields.len() {
            5 => FIELDS_5,
            6 => FIELDS_6,
            count => return Err(refuse(Problem::FieldCount(count))),
        };
        let bad_field = |at: usize, reason: String| {
            let (field, range) = layout[at];
            refuse(Problem::Field {
                field,
                range,
                text: fields[at].to_owned(),
                reason,
            })
        };
        if let Some(at) = fields
            .iter()
            .position(|field| field.split(',').any(str::is_empty))
        {
            return Err(bad_field(at, "an empty item in a list".to_owned()));
        }
        let cron = match parser().parse(expanded) {
            Ok(cron) => cron,
            Err(error) => {
                // The parser does not say which field is at fault: parse each
                // field alone, with `*` in the others.
                let culprit = (0..fields.len()).find(|&at| {
                    let alone: Vec<&str> = (0..fields.len())
                        .map(|i| if i == at { fields[i] } else { "*" })
                        .collect();
                    parser().parse(&alone.join(" ")).is_err()
                });
                return Err(match culprit {
                    Some(at) => bad_field(at, reason(&error)),
                    None => refuse(Problem::Other(reason(&error))),
                });
            }
        };
        let hour = fields[fields.len() - 4];
        let expr = CronExpr {
            cron,
            wall_clock: !(hour == "*" || hour == "?" || hour.starts_with("*/")),
        };
        if !expr.fires_at_all() {
            return Err(refuse(Problem::NeverFires));
        }
        Ok(expr)
    }

    /// The parsed expression.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }

    /// Whether the hour field names fixed hours (a value, list, range, or
    /// step from a value) rather than every hour (`*`, `*/n`): such an
    /// expression names wall-clock times, and a time-zone change maps them
    /// to instants as the runtime documents.
    pub fn follows_wall_clock(&self) -> bool {
        self.wall_clock
    }

    /// The first wall-clock time after `after` (or at it, if `inclusive`)
    /// that matches, read without a time zone; `None` when there is none
    /// before year 5000.
    pub fn next_naive(&self, after: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
        self.cron.find_next_occurrence(&after, inclusive).ok()
    }

    /// Whether any date matches. Dates repeat their weekday, leap-year and
    /// month-length combinations within 28 years, so the years 2001 to 2028
    /// hold one of every kind; the scan takes at most 10,227 steps.
    fn fires_at_all(&self) -> bool {
        let pattern = &self.cron.pattern;
        let first = |component: &croner::CronComponent| {
            component.values().first().map(|&value| u32::from(value))
        };
        let (Some(hour), Some(minute), Some(second)) = (
            first(&pattern.hours),
            first(&pattern.minutes),
            first(&pattern.seconds),
        ) else {
            return false;
        };
        let (Some(start), Some(end)) = (
            NaiveDate::from_ymd_opt(2001, 1, 1),
            NaiveDate::from_ymd_opt(2029, 1, 1),
        ) else {
            return false;
        };
        start
            .iter_days()
            .take_while(|day| *day < end)
            .filter(|day| pattern.month_match(day.month()).unwrap_or(false))
            .filter_map(|day| day.and_hms_opt(hour, minute, second))
            .any(|time| self.cron.is_time_matching(&time).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(expression: &str) -> String {
        CronExpr::parse(expression).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_field() {
        assert!(message("61 * * * *").contains("bad minute field \"61\""));
        assert!(message("0 0 25 * * *").contains("bad hour field \"25\""));
        assert!(message("0 0 32 * *").contains("bad day-of-month field \"32\""));
        assert!(message("* * * 13 *").contains("bad month field \"13\""));
        assert!(message("* * *").contains(": 3 fields; expected 5 fields"));
        assert!(message("@sometimes").contains("unknown alias; the aliases are @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"));
    }

    #[test]
    fn empty_list_items() {
        for (expression, field, text) in [
            (", * * * *", "minute", ","),
            ("0 , * * MON-FRI", "hour", ","),
            ("1,,2 * * * *", "minute", "1,,2"),
            ("0 0 1, * *", "day-of-month", "1,"),
            ("0 0 * * ,MON", "day-of-week", ",MON"),
        ] {
            let error = message(expression);
            assert!(
                error.contains(&format!(
                    "bad {field} field {text:?} (an empty item in a list)"
                )),
                "{expression}: {error}"
            );
        }
    }

    #[test]
    fn never_firing_expressions() {
        for expression in [
            "0 0 31 2 *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 0 31 2 *",
        ] {
            let error = CronExpr::parse(expression).unwrap_err();
            assert!(error.never_fires(), "{expression}");
            assert_eq!(
                error.to_string(),
                format!("cron expression {expression:?} never fires: no date matches its day-of-month, month and day-of-week fields")
            );
        }
        // Rare, but real: these fire.
        for expression in [
            "0 0 29 2 *",
            "0 0 31 2 1",
            "0 0 L 2 *",
            "0 0 * 2 5#5",
            "0 0 31 * *",
        ] {
            assert!(CronExpr::parse(expression).is_ok(), "{expression}");
        }
    }

    #[test]
    fn aliases() {
        for (alias, same) in ALIASES {
            let alias = CronExpr::parse(alias).unwrap();
            let same = CronExpr::parse(same).unwrap();
            assert_eq!(alias.cron().pattern, same.cron().pattern);
        }
        assert!(CronExpr::parse("@Daily").is_ok());
    }

    #[test]
    fn the_hour_field_decides_wall_clock() {
        for wall in [
            "30 2 * * *",
            "0,30 2 * * *",
            "0 1-3 * * *",
            "0 */20 1-3 * * *",
            "0 2-23/3 * * *",
            "@daily",
        ] {
            assert!(
                CronExpr::parse(wall).unwrap().follows_wall_clock(),
                "{wall}"
            );
        }
        for real in [
            "0 * * * *",
            "*/5 * * * *",
            "0 0 */2 * * *",
            "@hourly",
            "* * * * * *",
        ] {
            assert!(
                !CronExpr::parse(real).unwrap().follows_wall_clock(),
                "{real}"
            );
        }
    }

    #[test]
    fn next_naive() {
        let expr = CronExpr::parse("15,45 2 * * *").unwrap();
        let at = |text: &str| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(
            expr.next_naive(at("2026-03-29 02:15:00"), false),
            Some(at("2026-03-29 02:45:00"))
        );
        assert_eq!(
            expr.next_naive(at("2026-03-29 02:15:00"), true),
            Some(at("2026-03-29 02:15:00"))
        );
    }
}
