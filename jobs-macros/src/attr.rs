//! Parses and validates the arguments of `#[job(...)]` into a [`JobConfig`].

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Path};

/// The keys `#[job(...)]` accepts.
const NAME: &str = "name";
const EVERY: &str = "every";
const ENV: &str = "env";
const RUN_ON_START: &str = "run_on_start";
const TIMEOUT: &str = "timeout";
const CRON: &str = "cron";
const TZ: &str = "tz";
const DELAY: &str = "delay";
const JITTER: &str = "jitter";
const OVERLAP: &str = "overlap";
const MAX_CONCURRENCY: &str = "max_concurrency";
const MISSED: &str = "missed";
const CATCH_UP_LIMIT: &str = "catch_up_limit";
const RETRIES: &str = "retries";
const BACKOFF: &str = "backoff";
const BACKOFF_MAX: &str = "backoff_max";
const AFTER: &str = "after";
const WHEN: &str = "when";
const SLOTS: &str = "slots";
const PRIORITY: &str = "priority";
const KEEP: &str = "keep";
const KEEP_LAST: &str = "keep_last";
const CRATE: &str = "crate";
const KEYS: &[&str] = &[
    NAME,
    EVERY,
    CRON,
    TZ,
    ENV,
    RUN_ON_START,
    TIMEOUT,
    DELAY,
    JITTER,
    OVERLAP,
    MAX_CONCURRENCY,
    MISSED,
    CATCH_UP_LIMIT,
    RETRIES,
    BACKOFF,
    BACKOFF_MAX,
    AFTER,
    WHEN,
    SLOTS,
    PRIORITY,
    KEEP,
    KEEP_LAST,
    CRATE,
];

/// The words `delay`, `overlap`, `missed` and `priority` accept.
const DELAY_WORDS: &[&str] = &["rate", "fixed"];
const OVERLAP_WORDS: &[&str] = &["skip", "queue", "allow", "replace"];
const MISSED_WORDS: &[&str] = &["skip", "run_once", "catch_up"];

/// The largest `catch_up_limit`, as the runtime's `Missed::MAX_CATCH_UP_LIMIT`.
const MAX_CATCH_UP_LIMIT: u32 = 1_000;
const PRIORITY_WORDS: &[&str] = &["high", "normal", "low"];

/// A job's configuration, validated. Keys left out are `None`: the runtime's
/// defaults apply.
#[derive(Default)]
pub(crate) struct JobConfig {
    /// The job's name; `None` means "derive it from the function's name".
    pub(crate) name: Option<String>,
    pub(crate) every: Option<Duration>,
    pub(crate) cron: Option<String>,
    pub(crate) tz: Option<String>,
    pub(crate) env: Option<String>,
    pub(crate) run_on_start: Option<bool>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) fixed_delay: bool,
    pub(crate) jitter: Option<Duration>,
    /// `skip`, `queue`, `allow` or `replace`.
    pub(crate) overlap: Option<String>,
    pub(crate) max_concurrency: Option<u32>,
    /// `skip`, `run_once` or `catch_up`.
    pub(crate) missed: Option<String>,
    pub(crate) catch_up_limit: Option<u32>,
    pub(crate) retries: Option<u32>,
    pub(crate) backoff: Option<Duration>,
    pub(crate) backoff_max: Option<Duration>,
    pub(crate) after: Option<String>,
    pub(crate) when: Option<Path>,
    pub(crate) slots: Option<u32>,
    /// `high`, `normal` or `low`.
    pub(crate) priority: Option<String>,
    pub(crate) keep: Option<Duration>,
    pub(crate) keep_last: Option<u32>,
    pub(crate) krate: Option<Path>,
}

/// The keys as written, before the cross-key rules are checked.
#[derive(Default)]
struct Builder {
    config: JobConfig,
    /// Where each key was written, for errors about combinations.
    spans: HashMap<&'static str, Span>,
    seen: HashSet<String>,
    errors: Errors,
    /// Whether the argument list could not be parsed to its end, so keys
    /// after the syntax error were never read.
    truncated: bool,
    /// The job's name when `name` is not given: the function's.
    default_name: String,
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

/// Parses the attribute's arguments for the job whose name, unless `name`
/// says otherwise, is `default_name`. Every problem is reported, each spanned
/// on the token at fault; a syntax error in the argument list is reported
/// along with the problems found before it.
pub(crate) fn parse(args: TokenStream, default_name: &str) -> Result<JobConfig, syn::Error> {
    let mut builder = Builder {
        default_name: default_name.to_owned(),
        ..Builder::default()
    };
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
        if let Some(&known) = KEYS.iter().find(|&&k| k == key) {
            self.spans.insert(known, meta.path.span());
        }
        let config = &mut self.config;
        let checked = match key.as_str() {
            NAME => string(&value, NAME)
                .and_then(|literal| validate_name(&literal, NAME))
                .map(|name| config.name = Some(name)),
            EVERY => duration(&value, EVERY).map(|every| config.every = Some(every)),
            CRON => string(&value, CRON)
                .and_then(|literal| validate_cron(&literal))
                .map(|cron| config.cron = Some(cron)),
            TZ => string(&value, TZ)
                .and_then(|literal| validate_tz(&literal))
                .map(|tz| config.tz = Some(tz)),
            ENV => string(&value, ENV)
                .and_then(|literal| validate_env(&literal))
                .map(|env| config.env = Some(env)),
            RUN_ON_START => {
                boolean(&value, RUN_ON_START).map(|run| config.run_on_start = Some(run))
            }
            TIMEOUT => duration(&value, TIMEOUT).map(|timeout| config.timeout = Some(timeout)),
            DELAY => {
                word(&value, DELAY, DELAY_WORDS).map(|delay| config.fixed_delay = delay == "fixed")
            }
            JITTER => duration(&value, JITTER).map(|jitter| config.jitter = Some(jitter)),
            OVERLAP => {
                word(&value, OVERLAP, OVERLAP_WORDS).map(|overlap| config.overlap = Some(overlap))
            }
            MAX_CONCURRENCY => {
                positive(&value, MAX_CONCURRENCY).map(|max| config.max_concurrency = Some(max))
            }
            MISSED => word(&value, MISSED, MISSED_WORDS).map(|missed| config.missed = Some(missed)),
            CATCH_UP_LIMIT => {
                catch_up_limit(&value).map(|limit| config.catch_up_limit = Some(limit))
            }
            RETRIES => integer(&value, RETRIES).map(|retries| config.retries = Some(retries)),
            BACKOFF => duration(&value, BACKOFF).map(|backoff| config.backoff = Some(backoff)),
            BACKOFF_MAX => duration(&value, BACKOFF_MAX).map(|max| config.backoff_max = Some(max)),
            AFTER => string(&value, AFTER)
                .and_then(|literal| validate_name(&literal, AFTER))
                .map(|after| config.after = Some(after)),
            WHEN => path(&value, WHEN).map(|when| config.when = Some(when)),
            SLOTS => positive(&value, SLOTS).map(|slots| config.slots = Some(slots)),
            PRIORITY => word(&value, PRIORITY, PRIORITY_WORDS)
                .map(|priority| config.priority = Some(priority)),
            KEEP => duration(&value, KEEP).map(|keep| config.keep = Some(keep)),
            KEEP_LAST => positive(&value, KEEP_LAST).map(|keep| config.keep_last = Some(keep)),
            _ => string(&value, CRATE)
                .and_then(|literal| parse_crate_path(&literal))
                .map(|path| config.krate = Some(path)),
        };
        if let Err(error) = checked {
            self.errors.push(error);
        }
        Ok(())
    }

    fn build(mut self) -> Result<JobConfig, syn::Error> {
        if !self.truncated {
            self.check_combinations();
        }
        self.errors.finish()?;
        Ok(self.config)
    }

    /// The rules between keys, each error spanned on the key that breaks it.
    fn check_combinations(&mut self) {
        let has = |key: &str| self.seen.contains(key);
        let mut problems = Vec::new();
        if !has(EVERY) && !has(CRON) && !has(AFTER) {
            problems.push((
                None,
                "#[job] needs a schedule: `every` (a duration in quotes, e.g. every = \"5m\"), `cron` (e.g. cron = \"0 */5 * * * *\"), or `after` (the name of the job this one follows)".to_owned(),
            ));
        }
        if has(EVERY) && has(CRON) {
            problems.push((
                Some(CRON),
                "`every` and `cron` cannot be used together; choose one schedule".to_owned(),
            ));
        }
        if has(TZ) && !has(CRON) {
            problems.push((
                Some(TZ),
                "`tz` applies to `cron` schedules only; add `cron` or remove `tz`".to_owned(),
            ));
        }
        if self.config.fixed_delay && !has(EVERY) {
            let message = if has(CRON) {
                "`delay = \"fixed\"` applies to `every` schedules only, not `cron`: a cron job fires at the times its expression gives; remove `delay` or use `every`"
            } else {
                "`delay = \"fixed\"` needs `every`: the next run starts one interval after the previous one ends"
            };
            problems.push((Some(DELAY), message.to_owned()));
        }
        if has(MAX_CONCURRENCY) && self.config.overlap.as_deref() != Some("allow") {
            problems.push((
                Some(MAX_CONCURRENCY),
                "`max_concurrency` applies to `overlap = \"allow\"` only; add `overlap = \"allow\"` or remove `max_concurrency`".to_owned(),
            ));
        }
        if has(CATCH_UP_LIMIT) && self.config.missed.as_deref() != Some("catch_up") {
            let job = self.config.name.as_deref().unwrap_or(&self.default_name);
            problems.push((
                Some(CATCH_UP_LIMIT),
                format!("job `{job}`: `catch_up_limit` needs `missed = \"catch_up\"`; add `missed = \"catch_up\"` or remove `catch_up_limit`"),
            ));
        }
        for key in [BACKOFF, BACKOFF_MAX] {
            if has(key) && !has(RETRIES) {
                problems.push((
                    Some(key),
                    format!("`{key}` applies to retries; add `retries = N`, such as `retries = 3`"),
                ));
            }
        }
        if let (Some(backoff), Some(max)) = (self.config.backoff, self.config.backoff_max) {
            if max < backoff {
                problems.push((
                    Some(BACKOFF_MAX),
                    format!(
                        "`backoff_max` ({}) must not be shorter than `backoff` ({}); the retry delay starts at `backoff` and doubles up to `backoff_max`",
                        jobs_grammar::format_duration(max),
                        jobs_grammar::format_duration(backoff)
                    ),
                ));
            }
        }
        for (key, message) in problems {
            let span = key
                .and_then(|key| self.spans.get(key).copied())
                .unwrap_or_else(Span::call_site);
            self.errors.push(syn::Error::new(span, message));
        }
    }
}

/// What a key takes, as the error messages say it.
fn allowed(key: &str) -> &'static str {
    match key {
        NAME => "a job name in quotes, such as \"process-health\"",
        AFTER => "the name of another job in quotes, such as \"fetch-rates\"",
        EVERY | TIMEOUT | JITTER | BACKOFF | BACKOFF_MAX | KEEP => {
            "a duration in quotes, such as \"30s\", \"2m\" or \"1h 30m\""
        }
        CRON => "a cron expression in quotes, such as \"0 */5 * * * *\" or \"@daily\"",
        TZ => "a time zone in quotes, such as \"Europe/Berlin\", \"UTC\" or \"local\"",
        ENV => "an environment variable name in quotes, such as \"PH_INTERVAL\"",
        RUN_ON_START => "`true` or `false`",
        DELAY => "\"rate\" or \"fixed\"",
        OVERLAP => "\"skip\", \"queue\", \"allow\" or \"replace\"",
        MISSED => "\"skip\", \"run_once\" or \"catch_up\"",
        CATCH_UP_LIMIT => "a whole number from 1 to 1000, such as 10",
        PRIORITY => "\"high\", \"normal\" or \"low\"",
        MAX_CONCURRENCY | SLOTS | KEEP_LAST => "a whole number greater than zero, such as 2",
        RETRIES => "a whole number, such as 3",
        WHEN => "the path of a function returning `bool` (sync or async), such as `is_leader` or `flags::enabled`",
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

fn duration(value: &Expr, key: &str) -> syn::Result<Duration> {
    string(value, key).and_then(|literal| parse_duration(&literal, key))
}

fn integer(value: &Expr, key: &str) -> syn::Result<u32> {
    match literal(value) {
        Some(Lit::Int(literal)) => literal.base10_parse::<u32>().map_err(|_| {
            syn::Error::new_spanned(
                value,
                format!("`{key}` takes {}; {} is too large", allowed(key), literal),
            )
        }),
        Some(Lit::Str(text)) => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{key}` takes {}, without quotes; found the string {:?}",
                allowed(key),
                text.value()
            ),
        )),
        _ => match negative(value) {
            Some(number) => Err(syn::Error::new_spanned(
                value,
                format!(
                    "`{key}` takes {}, not the negative number -{number}",
                    allowed(key)
                ),
            )),
            None => Err(wrong_type(value, key)),
        },
    }
}

/// The digits of `-<integer literal>`, which is an expression, not a literal.
fn negative(value: &Expr) -> Option<String> {
    match value {
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => match literal(expr) {
            Some(Lit::Int(literal)) => Some(literal.base10_digits().to_owned()),
            _ => None,
        },
        Expr::Group(group) => negative(&group.expr),
        _ => None,
    }
}

fn positive(value: &Expr, key: &str) -> syn::Result<u32> {
    match integer(value, key)? {
        0 => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` takes {}, not 0", allowed(key)),
        )),
        number => Ok(number),
    }
}

/// A `catch_up_limit`: from 1 to [`MAX_CATCH_UP_LIMIT`].
fn catch_up_limit(value: &Expr) -> syn::Result<u32> {
    match positive(value, CATCH_UP_LIMIT)? {
        limit if limit > MAX_CATCH_UP_LIMIT => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{CATCH_UP_LIMIT}` takes {}, not {limit}",
                allowed(CATCH_UP_LIMIT)
            ),
        )),
        limit => Ok(limit),
    }
}

/// One of the words a key accepts, written as a string.
fn word(value: &Expr, key: &str, words: &[&str]) -> syn::Result<String> {
    let literal = string(value, key)?;
    let text = literal.value();
    if words.contains(&text.as_str()) {
        Ok(text)
    } else {
        Err(syn::Error::new(
            literal.span(),
            format!("invalid `{key}` {text:?}; expected {}", allowed(key)),
        ))
    }
}

/// A path to a function, written without quotes.
fn path(value: &Expr, key: &str) -> syn::Result<Path> {
    match value {
        Expr::Path(path) if path.qself.is_none() => Ok(path.path.clone()),
        Expr::Group(group) => path(&group.expr, key),
        _ => {
            let hint = match literal(value) {
                Some(Lit::Str(text)) if text.parse::<Path>().is_ok() => format!(
                    "; write the path without quotes: `{key} = {}`",
                    text.value()
                ),
                _ => String::new(),
            };
            Err(syn::Error::new_spanned(
                value,
                format!(
                    "`{key}` takes {}, found {}{hint}",
                    allowed(key),
                    found(value)
                ),
            ))
        }
    }
}

/// Checks a cron expression with the grammar the runtime uses.
fn validate_cron(literal: &LitStr) -> syn::Result<String> {
    let expression = literal.value();
    jobs_grammar::CronExpr::parse(&expression)
        .map(|_| expression)
        .map_err(|error| syn::Error::new(literal.span(), error.to_string()))
}

/// Checks a time zone name with the grammar the runtime uses.
fn validate_tz(literal: &LitStr) -> syn::Result<String> {
    let zone = literal.value();
    jobs_grammar::Zone::parse(&zone)
        .map(|_| zone)
        .map_err(|error| syn::Error::new(literal.span(), error.to_string()))
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

/// A duration as the runtime reads one: a humantime duration or a whole
/// number of milliseconds, within the grammar's bounds.
fn parse_duration(literal: &LitStr, key: &str) -> syn::Result<Duration> {
    jobs_grammar::parse_duration(&literal.value())
        .map_err(|error| syn::Error::new(literal.span(), format!("`{key}`: {error}")))
}

fn validate_name(literal: &LitStr, key: &str) -> syn::Result<String> {
    let name = literal.value();
    if name.is_empty() {
        let hint = if key == NAME {
            "leave `name` out to use the function's name, with `_` turned into `-`"
        } else {
            "give the name of the job this one runs after"
        };
        return Err(syn::Error::new(
            literal.span(),
            format!("`{key}` must not be empty; {hint}"),
        ));
    }
    if name.chars().any(char::is_whitespace) {
        return Err(syn::Error::new(
            literal.span(),
            format!("job name {name:?} in `{key}` must not contain whitespace; use `-` or `_` between words"),
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

    /// [`super::parse`] for a function named `tick`.
    fn parse(args: TokenStream) -> Result<JobConfig, syn::Error> {
        super::parse(args, "tick")
    }

    /// The messages of the errors `args` gives; panics if it is accepted.
    fn errors(args: TokenStream) -> Vec<String> {
        match parse(args) {
            Ok(_) => panic!("the arguments were accepted"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

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
        assert_eq!(config.every, Some(Duration::from_secs(5400)));
        assert_eq!(config.env.as_deref(), Some("X"));
        assert_eq!(config.run_on_start, Some(false));
        assert_eq!(config.timeout, Some(Duration::from_secs(10)));
    }

    #[test]
    fn defaults() {
        let config = parse(quote!(every = "2m")).unwrap();
        assert!(config.name.is_none() && config.env.is_none() && config.timeout.is_none());
        assert!(config.run_on_start.is_none());
    }

    #[test]
    fn every_error_is_reported() {
        let messages = errors(quote!(every = "2x", every = "1s", bogus = 1, name = ""));
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].contains("invalid duration \"2x\""));
        assert!(messages[1].contains("duplicate key `every`"));
        assert!(
            messages[2].contains("valid keys are: name, every, cron, tz, env, run_on_start, timeout, delay, jitter, overlap, max_concurrency, missed, catch_up_limit, retries, backoff, backoff_max, after, when, slots, priority, keep, keep_last, crate")
        );
        assert!(messages[3].contains("must not be empty"));
    }

    #[test]
    fn wrong_literal_types_are_collected() {
        let messages = errors(quote!(
            every = 5,
            run_on_start = "yes",
            timeout = 1.5,
            env = X
        ));
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
        let messages = errors(quote!(every = "1m", run_on_start, timeout("5s")));
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].starts_with("`run_on_start` needs a value"));
        assert!(messages[1].starts_with("`timeout` needs a value"));
    }

    #[test]
    fn syntax_error_keeps_earlier_errors() {
        let messages = errors(quote!(name = "", 5, every = "1m"));
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("must not be empty"));
        assert!(!messages[1].contains("needs `every`"), "{messages:?}");
    }

    #[test]
    fn missing_every() {
        let Err(error) = parse(quote!(name = "a")) else {
            panic!("a job without `every` was accepted");
        };
        assert!(error.to_string().starts_with("#[job] needs a schedule"));
    }

    #[test]
    fn policy_keys() {
        let config = parse(quote!(
            cron = "0 */5 * * * *",
            tz = "Europe/Berlin",
            jitter = "10s",
            overlap = "allow",
            max_concurrency = 3,
            missed = "run_once",
            retries = 3,
            backoff = "1s",
            backoff_max = "1m",
            after = "fetch",
            when = flags::enabled,
            slots = 2,
            priority = "high"
        ))
        .unwrap();
        assert_eq!(config.cron.as_deref(), Some("0 */5 * * * *"));
        assert_eq!(config.tz.as_deref(), Some("Europe/Berlin"));
        assert_eq!(config.overlap.as_deref(), Some("allow"));
        assert_eq!(config.max_concurrency, Some(3));
        assert_eq!(config.missed.as_deref(), Some("run_once"));
        assert_eq!(config.retries, Some(3));
        assert_eq!(config.backoff_max, Some(Duration::from_secs(60)));
        assert_eq!(config.after.as_deref(), Some("fetch"));
        assert!(config.when.is_some());
        assert_eq!(config.slots, Some(2));
        assert_eq!(config.priority.as_deref(), Some("high"));
    }

    #[test]
    fn catch_up_and_retention_keys() {
        let config = parse(quote!(
            every = "1m",
            missed = "catch_up",
            catch_up_limit = 1000,
            keep = "30d",
            keep_last = 100
        ))
        .unwrap();
        assert_eq!(config.missed.as_deref(), Some("catch_up"));
        assert_eq!(config.catch_up_limit, Some(1000));
        assert_eq!(config.keep, Some(Duration::from_secs(30 * 24 * 3600)));
        assert_eq!(config.keep_last, Some(100));
        let config = parse(quote!(every = "1m", missed = "catch_up")).unwrap();
        assert_eq!(config.catch_up_limit, None, "the runtime's default applies");
    }

    #[test]
    fn bad_catch_up_and_retention_values() {
        let messages = errors(quote!(
            every = "1m",
            missed = "catch_up",
            catch_up_limit = 1001,
            keep = "1ns",
            keep_last = 0
        ));
        assert_eq!(
            messages,
            [
                "`catch_up_limit` takes a whole number from 1 to 1000, such as 10, not 1001",
                "`keep`: duration \"1ns\" is shorter than the minimum of 1ms (the timer's resolution)",
                "`keep_last` takes a whole number greater than zero, such as 2, not 0",
            ]
        );
        let zero = errors(quote!(
            every = "1m",
            missed = "catch_up",
            catch_up_limit = 0
        ));
        assert_eq!(
            zero,
            ["`catch_up_limit` takes a whole number from 1 to 1000, such as 10, not 0"]
        );
    }

    #[test]
    fn a_catch_up_limit_needs_catch_up_and_names_the_job() {
        let messages = errors(quote!(every = "1m", catch_up_limit = 5));
        assert_eq!(
            messages,
            ["job `tick`: `catch_up_limit` needs `missed = \"catch_up\"`; add `missed = \"catch_up\"` or remove `catch_up_limit`"]
        );
        let messages = errors(quote!(
            name = "backlog",
            every = "1m",
            missed = "run_once",
            catch_up_limit = 5
        ));
        assert!(
            messages[0].starts_with("job `backlog`: `catch_up_limit` needs"),
            "{messages:?}"
        );
    }

    #[test]
    fn after_alone_is_a_schedule() {
        assert!(parse(quote!(after = "fetch")).is_ok());
        assert!(
            parse(quote!(delay = "fixed", every = "1m"))
                .unwrap()
                .fixed_delay
        );
    }

    #[test]
    fn combinations_are_checked() {
        let messages = errors(quote!(
            every = "1m",
            cron = "@hourly",
            max_concurrency = 2,
            backoff = "1s",
            delay = "fixed"
        ));
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("`every` and `cron` cannot be used together"));
        assert!(messages[1].contains("`max_concurrency` applies to `overlap = \"allow\"` only"));
        assert!(messages[2].contains("`backoff` applies to retries"));
    }

    #[test]
    fn bad_policy_values() {
        let messages = errors(quote!(
            cron = "61 * * * *",
            tz = "Mars/Base",
            overlap = "sometimes",
            slots = 0,
            when = "is_leader"
        ));
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(messages[0].starts_with("invalid cron expression \"61 * * * *\""));
        assert!(messages[1].starts_with("unknown time zone \"Mars/Base\""));
        assert!(messages[2].starts_with("invalid `overlap` \"sometimes\"; expected \"skip\", \"queue\", \"allow\" or \"replace\""));
        assert!(messages[3].contains("not 0"));
        assert!(messages[4].starts_with("`when` takes the path of a function"));
    }

    #[test]
    fn cron_errors_name_the_field() {
        let message = |expression: &str| {
            let literal = LitStr::new(expression, Span::call_site());
            validate_cron(&literal).unwrap_err().to_string()
        };
        assert!(message("61 * * * *").contains("bad minute field \"61\""));
        assert!(message("0 0 25 * * *").contains("bad hour field \"25\""));
        assert!(message("0 0 32 * *").contains("bad day-of-month field \"32\""));
        assert!(message("* * * 13 *").contains("bad month field \"13\""));
        assert!(message("* * *").contains(": 3 fields; expected 5 fields"));
        assert!(message("@sometimes").starts_with("invalid cron expression \"@sometimes\""));
        for valid in [
            "0 */5 * * * *",
            "@daily",
            "0 0 L * *",
            "0 0 * * 5#2",
            "0 0 15W * *",
        ] {
            let literal = LitStr::new(valid, Span::call_site());
            assert!(validate_cron(&literal).is_ok(), "{valid}");
        }
    }

    #[test]
    fn the_runtime_grammar_is_checked() {
        let messages = errors(quote!(
            every = "1ns",
            timeout = "300000000000y",
            cron = ", * * * *",
            tz = "utc"
        ));
        assert_eq!(
            messages[..4],
            [
                "`every`: duration \"1ns\" is shorter than the minimum of 1ms (the timer's resolution)",
                "`timeout`: duration \"300000000000y\" is longer than the maximum of 100y (100 years)",
                "invalid cron expression \", * * * *\": bad minute field \",\" (an empty item in a list); the minute field takes 0-59, with `*`, lists `,`, ranges `-` and steps `/`",
                "unknown time zone \"utc\"; expected an IANA name such as \"Europe/Berlin\", \"UTC\" or \"local\" (names are case-sensitive: did you mean \"UTC\"?)",
            ]
        );
        let never = errors(quote!(cron = "0 0 31 2 *"));
        assert_eq!(never, ["cron expression \"0 0 31 2 *\" never fires: no date matches its day-of-month, month and day-of-week fields"]);
        assert!(parse(quote!(cron = "@midnight")).is_ok());
        assert!(parse(quote!(every = "300000"))
            .is_ok_and(|config| config.every == Some(Duration::from_secs(300))));
    }

    #[test]
    fn integer_mistakes() {
        let messages = errors(quote!(
            every = "1m",
            retries = -1,
            slots = "2",
            when = "flags::on"
        ));
        assert_eq!(
            messages,
            [
                "`retries` takes a whole number, such as 3, not the negative number -1",
                "`slots` takes a whole number greater than zero, such as 2, without quotes; found the string \"2\"",
                "`when` takes the path of a function returning `bool` (sync or async), such as `is_leader` or `flags::enabled`, found a string; write the path without quotes: `when = flags::on`",
            ]
        );
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
