//! Configuration from the environment: a job's own `env` variable and the
//! `JOBS_<NAME>_EVERY`, `JOBS_<NAME>_CRON`, `JOBS_<NAME>_TZ` and
//! `JOBS_<NAME>_ENABLED` variables; and the runtime's own: the store's
//! URL, the instance's name and the fleet's timings.

use std::time::Duration;

use crate::store::FleetTimings;
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

/// The settings of a job's `JOBS_<NAME>_<KEY>` variables.
const KEYS: [&str; 4] = ["EVERY", "CRON", "TZ", "ENABLED"];

/// Warns (`env_unknown_variable`) about each `JOBS_` variable in the
/// environment that configures none of the jobs of `specs`, a misspelling
/// most likely: a name that matches no job, with the closest job's
/// variable, or a key that is not a setting of the job it names. A job's
/// own `env` variable is not warned about, whatever its name.
pub(crate) fn warn_unknown_variables<'a>(specs: impl Iterator<Item = &'a JobSpec> + Clone) {
    let variables: Vec<String> = std::env::vars_os()
        .filter_map(|(variable, _)| variable.into_string().ok())
        .filter(|variable| variable.starts_with("JOBS_"))
        .filter(|variable| !RUNTIME_VARIABLES.contains(&variable.as_str()))
        .filter(|variable| !specs.clone().any(|spec| spec.env_var() == Some(variable)))
        .collect();
    if variables.is_empty() {
        return;
    }
    // Each job by the upper-cased form of its name, the first one of each.
    let mut by_name: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
    for job in specs.map(JobSpec::name) {
        let prefix = prefix(job);
        let name = prefix["JOBS_".len()..prefix.len() - 1].to_owned();
        by_name.entry(name).or_insert(job);
    }
    if by_name.is_empty() {
        return;
    }
    for variable in &variables {
        if let Some(problem) = unknown_variable_problem(variable, &by_name) {
            crate::events::env_unknown_variable(variable, &problem);
        }
    }
}

/// The variables that configure the runtime rather than one job.
pub(crate) const RUNTIME_VARIABLES: [&str; 5] =
    [DATABASE_URL, INSTANCE, HEARTBEAT, DEAD_AFTER, STUCK_GRACE];

/// The variable that names the job store (`sqlite://jobs.db`), read by
/// [`Builder::run`](crate::Builder::run).
pub(crate) const DATABASE_URL: &str = "JOBS_DATABASE_URL";

/// The variable that names this process in the store's records.
pub(crate) const INSTANCE: &str = "JOBS_INSTANCE";

/// The variables that set the fleet's timings (see
/// [`FleetTimings`](crate::store::FleetTimings)), over those set in code.
pub(crate) const HEARTBEAT: &str = "JOBS_HEARTBEAT";
pub(crate) const DEAD_AFTER: &str = "JOBS_DEAD_AFTER";
pub(crate) const STUCK_GRACE: &str = "JOBS_STUCK_GRACE";
pub(crate) const CLAIM_LEAD: &str = "JOBS_CLAIM_LEAD";

/// `timings` with what `JOBS_HEARTBEAT`, `JOBS_DEAD_AFTER`,
/// `JOBS_STUCK_GRACE` and `JOBS_CLAIM_LEAD` set instead; a value that is no
/// duration, or timings out of range, are an error naming the variable and
/// its value.
pub(crate) fn fleet_timings(timings: FleetTimings) -> Result<FleetTimings, Error> {
    let read = |variable: &'static str, default: Duration| -> Result<(Duration, bool), Error> {
        let Some(value) = std::env::var_os(variable) else {
            return Ok((default, false));
        };
        let refuse = |value: String, reason: String| Error::InvalidFleetTimings {
            setting: variable.to_owned(),
            value,
            reason,
        };
        let value = value.into_string().map_err(|value| {
            refuse(
                value.to_string_lossy().into_owned(),
                "not valid UTF-8".to_owned(),
            )
        })?;
        // A claim lead of zero claims each fire when it is due.
        let parse = if variable == CLAIM_LEAD {
            jobs_grammar::parse_duration_or_zero
        } else {
            jobs_grammar::parse_duration
        };
        let duration = parse(&value).map_err(|error| {
            refuse(value.clone(), format!("{error} (for instance 5s or 500ms)"))
        })?;
        Ok((duration, true))
    };
    let (heartbeat, heartbeat_set) = read(HEARTBEAT, timings.heartbeat())?;
    let (dead_after, dead_after_set) = read(DEAD_AFTER, timings.dead_after())?;
    let (grace, grace_set) = read(STUCK_GRACE, timings.grace())?;
    let (lead, lead_set) = read(CLAIM_LEAD, timings.claim_lead())?;
    let timings = FleetTimings::new(heartbeat, dead_after, grace)
        .and_then(|timings| timings.with_claim_lead(lead));
    timings.map_err(|error| match error {
        // The timing out of range, by the variable that set it.
        Error::InvalidFleetTimings {
            setting,
            value,
            reason,
        } => {
            let variable = match setting.as_str() {
                "heartbeat" if heartbeat_set => HEARTBEAT,
                "dead_after" if dead_after_set => DEAD_AFTER,
                "grace" if grace_set => STUCK_GRACE,
                "claim_lead" if lead_set => CLAIM_LEAD,
                _ => {
                    return Error::InvalidFleetTimings {
                        setting,
                        value,
                        reason,
                    }
                }
            };
            Error::InvalidFleetTimings {
                setting: variable.to_owned(),
                value,
                reason,
            }
        }
        other => other,
    })
}

/// The store's URL from `JOBS_DATABASE_URL`, if set; an empty or
/// non-Unicode value is an error naming the variable.
pub(crate) fn database_url() -> Result<Option<String>, Error> {
    match std::env::var(DATABASE_URL) {
        Ok(url) if !url.trim().is_empty() => Ok(Some(url.trim().to_owned())),
        Ok(url) => Err(Error::Store(crate::store::StoreError::InvalidUrl {
            url,
            reason: format!("{DATABASE_URL} is set but empty; unset it to keep executions in memory, or name a database such as sqlite://jobs.db"),
        })),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => {
            Err(Error::Store(crate::store::StoreError::InvalidUrl {
                url: value.to_string_lossy().into_owned(),
                reason: format!("{DATABASE_URL} is not valid UTF-8"),
            }))
        }
    }
}

/// What is wrong with `variable`, a `JOBS_` variable; `None` when it is
/// a setting of one of the jobs, which are keyed by their upper-cased name.
fn unknown_variable_problem(
    variable: &str,
    by_name: &std::collections::HashMap<String, &str>,
) -> Option<String> {
    let rest = &variable["JOBS_".len()..];
    // Every split of `<NAME>_<KEY>` at an underscore; a name may have some.
    let splits = || {
        rest.match_indices('_')
            .map(|(at, _)| (&rest[..at], &rest[at + 1..]))
    };
    if splits().any(|(name, key)| by_name.contains_key(name) && KEYS.contains(&key)) {
        return None;
    }
    // The longest name that is a job's: the key is wrong.
    if let Some((name, key)) = splits().rfind(|(name, _)| by_name.contains_key(*name)) {
        let job = by_name[name];
        let suggestion = crate::model::names::closest(key, KEYS)
            .map(|closest| format!("did you mean JOBS_{name}_{closest}? "))
            .unwrap_or_default();
        return Some(format!(
            "job `{job}` has no setting {key}; {suggestion}(the settings are {})",
            KEYS.join(", ")
        ));
    }
    // A name that is no job's, before a key or not.
    let (name, key) = splits()
        .find(|(_, key)| KEYS.contains(key))
        .map_or((rest, None), |(name, key)| (name, Some(key)));
    let mut problem = format!("no job has the name {name} (upper-cased, with `_` for `-`)");
    if let Some(closest) = crate::model::names::closest(name, by_name.keys().map(String::as_str)) {
        let job = by_name[closest];
        let variable = format!("JOBS_{closest}_{}", key.unwrap_or("EVERY"));
        problem.push_str(&format!(
            "; did you mean job `{job}`, whose variable is {variable}?"
        ));
    }
    Some(problem)
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
