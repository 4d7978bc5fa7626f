//! Parses and validates the arguments of `#[job(...)]` into a [`JobConfig`].

use std::collections::HashSet;
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::{Expr, Lit, LitStr, Path};

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
    /// Whether the argument list could not be parsed to its end, so keys
    /// after the syntax error were never read.
    truncated: bool,
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

/// Parses the attribute's arguments. Every problem is reported, each spanned
/// on the token at fault; a syntax error in the argument list is reported
/// along with the problems found before it.
pub(crate) fn parse(args: TokenStream) -> Result<JobConfig, syn::Error> {
    let mut builder = Builder::default();
    let parser = syn::meta::parser(|meta| builder.key(&meta));
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        builder.errors.push(error);
        builder.truncated = true;
    }
    builder.build()
}

impl Builder {
    /// Reads one `key = value`. Syntax errors are returned; problems with a
    /// well-formed key or value are collected.
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
            take_value(meta)?;
            return Ok(());
        }
        if !self.seen.insert(key.clone()) {
            self.errors
                .push(meta.error(format!("duplicate key `{key}`: each key may appear once")));
            take_value(meta)?;
            return Ok(());
        }
        let Some(value) = take_value(meta)? else {
            self.errors.push(meta.error(format!(
                "`{key}` needs a value: write `{key} = ...` with {}",
                allowed(&key)
            )));
            return Ok(());
        };
        let checked = match key.as_str() {
            NAME => string(&value, NAME)
                .and_then(|literal| validate_name(&literal))
                .map(|name| self.name = Some(name)),
            EVERY => string(&value, EVERY)
                .and_then(|literal| parse_duration(&literal, EVERY))
                .map(|every| self.every = Some(every)),
            ENV => string(&value, ENV)
                .and_then(|literal| validate_env(&literal))
                .map(|env| self.env = Some(env)),
            RUN_ON_START => boolean(&value, RUN_ON_START).map(|run| self.run_on_start = Some(run)),
            TIMEOUT => string(&value, TIMEOUT)
                .and_then(|literal| parse_duration(&literal, TIMEOUT))
                .map(|timeout| self.timeout = Some(timeout)),
            _ => string(&value, CRATE)
                .and_then(|literal| parse_crate_path(&literal))
                .map(|path| self.krate = Some(path)),
        };
        if let Err(error) = checked {
            self.errors.push(error);
        }
        Ok(())
    }

    fn build(mut self) -> Result<JobConfig, syn::Error> {
        if !self.seen.contains(EVERY) && !self.truncated {
            self.errors.push(syn::Error::new(
                Span::call_site(),
                "#[job] needs `every`, the interval between runs, as a duration in quotes: #[job(every = \"5m\")]",
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

/// What a key takes, as the error messages say it.
fn allowed(key: &str) -> &'static str {
    match key {
        NAME => "a job name in quotes, such as \"process-health\"",
        EVERY | TIMEOUT => "a duration in quotes, such as \"30s\", \"2m\" or \"1h 30m\"",
        ENV => "an environment variable name in quotes, such as \"PH_INTERVAL\"",
        RUN_ON_START => "`true` or `false`",
        _ => "a path in quotes, such as \"::jobs_runtime\"",
    }
}

/// Consumes the value of a key: `= expr`, or a parenthesized list given by
/// mistake. Returns the expression after `=`, if there is one.
fn take_value(meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Expr>> {
    if meta.input.peek(syn::Token![=]) {
        return meta.value()?.parse().map(Some);
    }
    if meta.input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(None)
}

/// The literal an expression is, looking through the invisible groups that
/// `macro_rules!` wraps around `$value:expr`.
fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(literal) => Some(&literal.lit),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

/// Names what was written instead of the expected literal.
fn found(value: &Expr) -> &'static str {
    match literal(value) {
        Some(Lit::Str(_)) => "a string",
        Some(Lit::Int(_)) => "an integer",
        Some(Lit::Float(_)) => "a float",
        Some(Lit::Bool(_)) => "a boolean",
        Some(_) => "another kind of literal",
        None => "an expression; only literals are accepted",
    }
}

fn wrong_type(value: &Expr, key: &str) -> syn::Error {
    syn::Error::new_spanned(
        value,
        format!("`{key}` takes {}, found {}", allowed(key), found(value)),
    )
}

fn string(value: &Expr, key: &str) -> syn::Result<LitStr> {
    match literal(value) {
        Some(Lit::Str(literal)) => Ok(literal.clone()),
        _ => Err(wrong_type(value, key)),
    }
}

fn boolean(value: &Expr, key: &str) -> syn::Result<bool> {
    match literal(value) {
        Some(Lit::Bool(literal)) => Ok(literal.value),
        Some(Lit::Str(text)) => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{key}` takes {}, without quotes; found the string {:?}",
                allowed(key),
                text.value()
            ),
        )),
        _ => Err(wrong_type(value, key)),
    }
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
            "`name` must not be empty; leave `name` out to use the function's name, with `_` turned into `-`",
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

    #[test]
    fn wrong_literal_types_are_collected() {
        let Err(error) = parse(quote!(
            every = 5,
            run_on_start = "yes",
            timeout = 1.5,
            env = X
        )) else {
            panic!("wrong literal types were accepted");
        };
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "`every` takes a duration in quotes, such as \"30s\", \"2m\" or \"1h 30m\", found an integer",
                "`run_on_start` takes `true` or `false`, without quotes; found the string \"yes\"",
                "`timeout` takes a duration in quotes, such as \"30s\", \"2m\" or \"1h 30m\", found a float",
                "`env` takes an environment variable name in quotes, such as \"PH_INTERVAL\", found an expression; only literals are accepted",
            ]
        );
    }

    #[test]
    fn key_without_value() {
        let Err(error) = parse(quote!(every = "1m", run_on_start, timeout("5s"))) else {
            panic!("keys without values were accepted");
        };
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("`run_on_start` needs a value"));
        assert!(messages[1].starts_with("`timeout` needs a value"));
    }

    #[test]
    fn syntax_error_keeps_earlier_errors() {
        let Err(error) = parse(quote!(name = "", 5, every = "1m")) else {
            panic!("a syntax error was accepted");
        };
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("must not be empty"));
        assert!(!messages[1].contains("needs `every`"), "{messages:?}");
    }

    #[test]
    fn missing_every() {
        let Err(error) = parse(quote!(name = "a")) else {
            panic!("a job without `every` was accepted");
        };
        assert!(error.to_string().starts_with("#[job] needs `every`"));
    }

    #[test]
    fn crate_path() {
        let config = parse(quote!(every = "1s", crate = "renamed")).unwrap();
        assert!(config.krate.is_some_and(|path| path.is_ident("renamed")));
        let Err(error) = parse(quote!(every = "1s", crate = "not a path")) else {
            panic!("an invalid path was accepted");
        };
        assert!(error.to_string().starts_with("`crate` must be a path"));
    }
}
