//! Parses and validates the arguments of `#[job(...)]` into a [`JobConfig`].

use std::collections::HashSet;
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{LitBool, LitStr, Path};

/// The keys `#[job(...)]` accepts.
const NAME: &str = "name";
const EVERY: &str = "every";
const ENV: &str = "env";
const RUN_ON_START: &str = "run_on_start";
const TIMEOUT: &str = "timeout";
const CRATE: &str = "crate";
const KEYS: &[&str] = &[NAME, EVERY, ENV, RUN_ON_START, TIMEOUT, CRATE];

/// A job's configuration, validated.
pub(crate) struct JobConfig {
    /// The job's name; `None` means "derive it from the function's name".
    pub(crate) name: Option<String>,
    pub(crate) every: Duration,
    pub(crate) env: Option<String>,
    pub(crate) run_on_start: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) krate: Option<Path>,
}

/// The keys as written, before the cross-key rules are checked.
#[derive(Default)]
struct Builder {
    name: Option<String>,
    every: Option<Duration>,
    env: Option<String>,
    run_on_start: Option<bool>,
    timeout: Option<Duration>,
    krate: Option<Path>,
    seen: HashSet<String>,
    errors: Errors,
}

/// Collects every error, so one build shows every mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Parses the attribute's arguments. Every problem with a value is reported,
/// each spanned on the token at fault; a malformed argument list stops at the
/// first syntax error.
pub(crate) fn parse(args: TokenStream) -> Result<JobConfig, syn::Error> {
    let mut builder = Builder::default();
    let parser = syn::meta::parser(|meta| builder.key(&meta));
    syn::parse::Parser::parse2(parser, args)?;
    builder.build()
}

impl Builder {
    /// Reads one `key = value`. Syntax errors are returned; problems with a
    /// well-formed value are collected.
    fn key(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !KEYS.contains(&key.as_str()) {
            let shown = if key.is_empty() {
                "this path".to_owned()
            } else {
                format!("`{key}`")
            };
            self.errors.push(meta.error(unknown_key_message(&shown)));
            return skip_value(meta);
        }
        if !self.seen.insert(key.clone()) {
            self.errors
                .push(meta.error(format!("duplicate key `{key}`: each key may appear once")));
            return skip_value(meta);
        }
        let checked = match key.as_str() {
            NAME => validate_name(&meta.value()?.parse()?).map(|name| self.name = Some(name)),
            EVERY => {
                parse_duration(&meta.value()?.parse()?, EVERY).map(|every| self.every = Some(every))
            }
            ENV => validate_env(&meta.value()?.parse()?).map(|env| self.env = Some(env)),
            RUN_ON_START => {
                let literal: LitBool = meta.value()?.parse()?;
                self.run_on_start = Some(literal.value);
                Ok(())
            }
            TIMEOUT => parse_duration(&meta.value()?.parse()?, TIMEOUT)
                .map(|timeout| self.timeout = Some(timeout)),
            _ => parse_crate_path(&meta.value()?.parse()?).map(|path| self.krate = Some(path)),
        };
        if let Err(error) = checked {
            self.errors.push(error);
        }
        Ok(())
    }

    fn build(mut self) -> Result<JobConfig, syn::Error> {
        if !self.seen.contains(EVERY) {
            self.errors.push(syn::Error::new(
                Span::call_site(),
                "#[job] needs `every`, the interval between runs, e.g. #[job(every = \"5m\")]",
            ));
        }
        self.errors.finish()?;
        Ok(JobConfig {
            name: self.name,
            every: self.every.unwrap_or_default(),
            env: self.env,
            run_on_start: self.run_on_start.unwrap_or(true),
            timeout: self.timeout,
            krate: self.krate,
        })
    }
}

/// Consumes the `= value` of a key that is being refused, so parsing goes on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    }
    Ok(())
}

fn parse_crate_path(literal: &LitStr) -> syn::Result<Path> {
    literal.parse().map_err(|_| {
        syn::Error::new(
            literal.span(),
            format!(
                "`crate` must be a path such as \"::jobs_runtime\", not {:?}",
                literal.value()
            ),
        )
    })
}

fn unknown_key_message(what: &str) -> String {
    format!("unknown key {what}; valid keys are: {}", KEYS.join(", "))
}

fn parse_duration(literal: &LitStr, key: &str) -> syn::Result<Duration> {
    let text = literal.value();
    let duration = humantime::parse_duration(&text).map_err(|error| {
        syn::Error::new(
            literal.span(),
            format!("invalid duration {text:?} for `{key}`: {error}; expected a duration such as \"30s\", \"2m\" or \"1h 30m\""),
        )
    })?;
    if duration.is_zero() {
        return Err(syn::Error::new(
            literal.span(),
            format!("`{key}` must be greater than zero, got {text:?}"),
        ));
    }
    Ok(duration)
}

fn validate_name(literal: &LitStr) -> syn::Result<String> {
    let name = literal.value();
    if name.is_empty() {
        return Err(syn::Error::new(
            literal.span(),
            "job name must not be empty",
        ));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(syn::Error::new(
            literal.span(),
            format!("job name {name:?} must not contain whitespace; use `-` or `_` between words"),
        ));
    }
    Ok(name)
}

fn validate_env(literal: &LitStr) -> syn::Result<String> {
    let variable = literal.value();
    if variable.is_empty()
        || variable.contains(['=', '\0'])
        || variable.chars().any(char::is_whitespace)
    {
        return Err(syn::Error::new(
            literal.span(),
            format!("invalid environment variable name {variable:?} for `env`: it must be non-empty, without `=`, NUL or whitespace"),
        ));
    }
    Ok(variable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn all_keys() {
        let config = parse(quote!(
            name = "a-b",
            every = "1h 30m",
            env = "X",
            run_on_start = false,
            timeout = "10s"
        ))
        .unwrap();
        assert_eq!(config.name.as_deref(), Some("a-b"));
        assert_eq!(config.every, Duration::from_secs(5400));
        assert_eq!(config.env.as_deref(), Some("X"));
        assert!(!config.run_on_start);
        assert_eq!(config.timeout, Some(Duration::from_secs(10)));
    }

    #[test]
    fn defaults() {
        let config = parse(quote!(every = "2m")).unwrap();
        assert!(config.name.is_none() && config.env.is_none() && config.timeout.is_none());
        assert!(config.run_on_start);
    }

    #[test]
    fn every_error_is_reported() {
        let Err(error) = parse(quote!(every = "2x", every = "1s", bogus = 1, name = "")) else {
            panic!("bad keys were accepted");
        };
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("invalid duration \"2x\""));
        assert!(messages[1].contains("duplicate key `every`"));
        assert!(
            messages[2].contains("valid keys are: name, every, env, run_on_start, timeout, crate")
        );
        assert!(messages[3].contains("must not be empty"));
    }
}
