//! Time zone names: an IANA name as the tz database spells it
//! (`"Europe/Berlin"`), `"UTC"`, or `"local"` for the host's zone.

use std::fmt;
use std::str::FromStr;

/// A time zone a cron expression is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// Coordinated Universal Time, spelled `"UTC"`.
    Utc,
    /// The host's zone, spelled `"local"`.
    Local,
    /// A zone of the IANA database, spelled as the database does.
    Named(chrono_tz::Tz),
}

/// Why a time zone name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    zone: String,
    suggestion: Option<&'static str>,
}

impl ZoneError {
    /// The name as given.
    pub fn zone(&self) -> &str {
        &self.zone
    }
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown time zone {:?}; expected an IANA name such as \"Europe/Berlin\", \"UTC\" or \"local\"",
            self.zone
        )?;
        if let Some(suggestion) = self.suggestion {
            write!(
                f,
                " (names are case-sensitive: did you mean {suggestion:?}?)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ZoneError {}

impl Zone {
    /// Reads a zone name: `"UTC"`, `"local"`, or an IANA name spelled as the
    /// database does (`"Europe/Berlin"`, `"America/New_York"`, `"Etc/UTC"`).
    /// Names are case-sensitive; a name that differs only in case is refused
    /// with the right spelling suggested.
    ///
    /// ```
    /// use jobs_grammar::Zone;
    ///
    /// assert_eq!(Zone::parse("UTC"), Ok(Zone::Utc));
    /// assert_eq!(Zone::parse("Europe/Berlin").map(|zone| zone.name()), Ok("Europe/Berlin"));
    /// assert!(Zone::parse("utc").unwrap_err().to_string().contains("did you mean \"UTC\"?"));
    /// ```
    pub fn parse(name: &str) -> Result<Zone, ZoneError> {
        match name {
            "UTC" => Ok(Zone::Utc),
            "local" => Ok(Zone::Local),
            _ => chrono_tz::Tz::from_str(name)
                .map(Zone::Named)
                .map_err(|_| ZoneError {
                    zone: name.to_owned(),
                    suggestion: suggest(name),
                }),
        }
    }

    /// The zone's name, which [`Zone::parse`] reads back to the same zone.
    pub fn name(&self) -> &'static str {
        match self {
            Zone::Utc => "UTC",
            Zone::Local => "local",
            Zone::Named(tz) => tz.name(),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The accepted name `name` differs from only in ASCII case, if any.
fn suggest(name: &str) -> Option<&'static str> {
    ["UTC", "local"]
        .into_iter()
        .chain(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()))
        .find(|known| known.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in [
            "UTC",
            "local",
            "Europe/Berlin",
            "America/New_York",
            "Etc/UTC",
        ] {
            let zone = Zone::parse(name).unwrap();
            assert_eq!(zone.name(), name);
            assert_eq!(Zone::parse(zone.name()), Ok(zone));
        }
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Zone::parse("Mars/Base").unwrap_err().to_string(),
            "unknown time zone \"Mars/Base\"; expected an IANA name such as \"Europe/Berlin\", \"UTC\" or \"local\""
        );
        let wrong_case = Zone::parse("europe/berlin").unwrap_err().to_string();
        assert!(
            wrong_case.ends_with("did you mean \"Europe/Berlin\"?)"),
            "{wrong_case}"
        );
        assert!(Zone::parse("LOCAL")
            .unwrap_err()
            .to_string()
            .contains("\"local\""));
    }
}
