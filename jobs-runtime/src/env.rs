//! Configuration from the environment: a job's own `env` variable and the
//! `JOBS_<NAME>_EVERY`, `JOBS_<NAME>_CRON`, `JOBS_<NAME>_TZ` and
//! `JOBS_<NAME>_ENABLED` variables.

use crate::{Error, JobSpec, Schedule};

/// What the environment says about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvConfig {
    /// The schedule in effect: the environment's, or else the spec's.
    pub(crate) schedule: Option<Schedule>,
    /// `Some(variable)` when `JOBS_<NAME>_ENABLED` switches the job off.
    pub(crate) disabled_by: Option<String>,
}

/// The prefix of a job's variables: `JOBS_` and the name upper-cased, with
/// `-` (and anything else that is not a letter or digit) turned into `_`.
pub(crate) fn prefix(job: &str) -> String {
    let name: String = job
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("JOBS_{name}_")
}

/// Reads every variable that concerns `spec`'s job. Precedence, highest
/// first: `JOBS_<NAME>_EVERY` or `JOBS_<NAME>_CRON` (not both), the job's own
/// `env` variable, the spec. Every invalid value is reported.
pub(crate) fn read(spec: &JobSpec) -> Result<EnvConfig, Vec<Error>> {
    let job = spec.name();
    let prefix = prefix(job);
    let mut problems = Vec::new();
    let mut config = EnvConfig {
        schedule: spec.schedule().cloned(),
        disabled_by: None,
    };
    let spec_zone = match spec.schedule() {
        Some(Schedule::Cron(cron)) => cron.time_zone().to_owned(),
        _ => "UTC".to_owned(),
    };

    if let Some(variable) = spec.env_var() {
        let parsed = match spec.schedule() {
            Some(Schedule::Cron(_)) => {
                variable_value(job, variable, |value| cron(value, &spec_zone))
            }
            _ => variable_value(job, variable, interval),
        };
        match parsed {
            Ok(Some(schedule)) => config.schedule = Some(schedule),
            Ok(None) => {}
            Err(problem) => problems.push(problem),
        }
    }

    let zone_variable = format!("{prefix}TZ");
    let zone_override = match variable_value(job, &zone_variable, |zone| {
        jobs_grammar::Zone::parse(zone)
            .map(|zone| zone.name().to_owned())
            .map_err(|error| error.to_string())
    }) {
        Ok(zone) => zone,
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    // `JOBS_<NAME>_TZ` is the zone of whichever cron expression is in
    // effect: the job's own, its `env` variable's, or `JOBS_<NAME>_CRON`'s.
    if let (Some(zone), Some(Schedule::Cron(cron))) = (&zone_override, &config.schedule) {
        if let Ok(schedule) = Schedule::cron(cron.expression(), zone) {
            config.schedule = Some(schedule);
        }
    }
    let zone = zone_override.clone().unwrap_or(spec_zone);
    let every_variable = format!("{prefix}EVERY");
    let cron_variable = format!("{prefix}CRON");
    let every = variable_value(job, &every_variable, interval);
    let cron = variable_value(job, &cron_variable, |value| cron(value, &zone));
    match (every, cron) {
        (Ok(Some(_)), Ok(Some(_))) => problems.push(Error::InvalidEnv {
            job: job.to_owned(),
            variable: cron_variable,
            value: std::env::var(format!("{prefix}CRON")).unwrap_or_default(),
            reason: format!("{every_variable} is set too; set one of them"),
        }),
        (every, cron) => {
            for parsed in [every, cron] {
                match parsed {
                    Ok(Some(schedule)) => config.schedule = Some(schedule),
                    Ok(None) => {}
                    Err(problem) => problems.push(problem),
                }
            }
        }
    }

    if let Some(zone) = zone_override {
        if !matches!(config.schedule, Some(Schedule::Cron(_))) {
            problems.push(Error::InvalidEnv {
                job: job.to_owned(),
                variable: zone_variable,
                value: zone,
                reason: "a time zone applies to cron schedules only, and this job's schedule is not cron; set JOBS_<NAME>_CRON too, or unset this variable".to_owned(),
            });
        }
    }

    let enabled_variable = format!("{prefix}ENABLED");
    match variable_value(job, &enabled_variable, enabled) {
        Ok(Some(false)) => config.disabled_by = Some(enabled_variable),
        Ok(_) => {}
        Err(problem) => problems.push(problem),
    }

    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// Reads `variable` and parses it; `Ok(None)` when it is unset.
fn variable_value<T>(
    job: &str,
    variable: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, Error> {
    let Some(raw) = std::env::var_os(variable) else {
        return Ok(None);
    };
    let invalid = |value: String, reason: String| Error::InvalidEnv {
        job: job.to_owned(),
        variable: variable.to_owned(),
        value,
        reason,
    };
    let value = raw.into_string().map_err(|raw| {
        invalid(
            raw.to_string_lossy().into_owned(),
            "it is not valid UTF-8".to_owned(),
        )
    })?;
    parse(&value)
        .map(Some)
        .map_err(|reason| invalid(value, reason))
}

/// An interval as the grammar reads it: a duration or a whole number of
/// milliseconds, from `Schedule::MIN_INTERVAL` to `Schedule::MAX_INTERVAL`.
fn interval(value: &str) -> Result<Schedule, String> {
    jobs_grammar::parse_duration(value)
        .map(Schedule::Every)
        .map_err(|error| error.to_string())
}

fn cron(value: &str, zone: &str) -> Result<Schedule, String> {
    Schedule::cron(value.trim(), zone).map_err(|error| error.to_string())
}

fn enabled(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false (also 1/0, yes/no, on/off)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(
            interval("90s"),
            Ok(Schedule::Every(Duration::from_secs(90)))
        );
        assert_eq!(
            interval("1h 30m"),
            Ok(Schedule::Every(Duration::from_secs(5400)))
        );
        assert_eq!(
            interval("300000"),
            Ok(Schedule::Every(Duration::from_secs(300)))
        );
        assert_eq!(
            interval(" 5m "),
            Ok(Schedule::Every(Duration::from_secs(300)))
        );
        for refused in [
            "0",
            "0s",
            "1ns",
            "2x",
            "",
            "-5",
            "300000000000y",
            "18446744073709551615s",
        ] {
            assert!(interval(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix("process-health"), "JOBS_PROCESS_HEALTH_");
        assert_eq!(prefix("report.daily"), "JOBS_REPORT_DAILY_");
    }

    #[test]
    fn switches() {
        assert_eq!(enabled("FALSE"), Ok(false));
        assert_eq!(enabled("1"), Ok(true));
        assert!(enabled("maybe").is_err());
    }
}
