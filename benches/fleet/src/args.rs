//! Command-line options of the form `--name value` and `--flag`, checked
//! against the names a binary knows.

use std::collections::HashMap;
use std::str::FromStr;

/// The options given on a command line.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    /// Reads this process's arguments. `options` are the names that take a
    /// value, `flags` those that stand alone (both without `--`); anything
    /// else, or an option without its value, is an error that says so.
    pub fn parse(options: &[&str], flags: &[&str]) -> Result<Args, String> {
        Args::parse_from(std::env::args().skip(1), options, flags)
    }

    /// Reads `arguments` as [`parse`](Self::parse) reads the process's.
    pub fn parse_from(
        arguments: impl IntoIterator<Item = String>,
        options: &[&str],
        flags: &[&str],
    ) -> Result<Args, String> {
        let mut args = Args::default();
        let mut arguments = arguments.into_iter();
        while let Some(argument) = arguments.next() {
            let Some(name) = argument.strip_prefix("--") else {
                return Err(format!("unexpected argument `{argument}`"));
            };
            if flags.contains(&name) {
                args.flags.push(name.to_owned());
            } else if options.contains(&name) {
                let value = arguments
                    .next()
                    .ok_or_else(|| format!("`--{name}` needs a value"))?;
                args.values.insert(name.to_owned(), value);
            } else {
                let mut known: Vec<String> = options
                    .iter()
                    .map(|option| format!("--{option} VALUE"))
                    .chain(flags.iter().map(|flag| format!("--{flag}")))
                    .collect();
                known.sort();
                return Err(format!(
                    "unknown option `--{name}`; known: {}",
                    known.join(", ")
                ));
            }
        }
        Ok(args)
    }

    /// The value of `--name`, or `default` when it was not given; a value
    /// that does not parse is an error naming the option.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|error| format!("`--{name} {value}`: {error}")),
        }
    }

    /// The value of `--name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("`--{name}` is required"))
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|flag| flag == name)
    }
}

/// A comma-separated list of numbers, such as `1000,10000`.
pub fn numbers(list: &str) -> Result<Vec<usize>, String> {
    list.split(',')
        .map(|item| {
            item.trim()
                .replace('_', "")
                .parse()
                .map_err(|error| format!("`{item}` in `{list}`: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Result<Args, String> {
        Args::parse_from(
            line.iter().map(|item| item.to_string()),
            &["jobs", "url"],
            &["keep"],
        )
    }

    #[test]
    fn options_flags_and_defaults() {
        let args = parse(&["--jobs", "10", "--keep"]).unwrap();
        assert_eq!(args.get("jobs", 1usize).unwrap(), 10);
        assert!(args.flag("keep"));
        assert_eq!(args.get("url", "x".to_owned()).unwrap(), "x");
        assert!(args.required("url").is_err());
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(&["--jobs"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--job", "1"]).unwrap_err().contains("--jobs VALUE"));
        assert!(parse(&["jobs"]).unwrap_err().contains("unexpected"));
        let args = parse(&["--jobs", "many"]).unwrap();
        assert!(args
            .get("jobs", 1usize)
            .unwrap_err()
            .contains("--jobs many"));
    }

    #[test]
    fn lists_of_numbers() {
        assert_eq!(numbers("1000, 10_000").unwrap(), [1000, 10_000]);
        assert!(numbers("1000,x").is_err());
    }
}
