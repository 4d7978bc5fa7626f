//! Emits the code for `#[job]`: the function as written, plus a registration
//! that calls into `jobs_runtime::__private`.

use std::time::Duration;

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Path, ReturnType, Type};

use crate::attr::{self, Errors, JobConfig};

/// Expands `#[job(args)] item`. On error the function is still emitted next
/// to the errors, so the rest of the crate (and the IDE) keeps working.
pub(crate) fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = syn::Error::new(error.span(), "#[job] can only be placed on an `async fn`");
            let compile_error = error.to_compile_error();
            return quote!(#item #compile_error);
        }
    };
    let mut errors = Errors::default();
    let config = attr::parse(args, &default_name(&function.sig.ident))
        .map_err(|error| errors.push(error))
        .ok();
    let params = check_signature(&function, &mut errors);
    match (errors.finish(), config) {
        (Ok(()), Some(config)) => {
            let registration = registration(&function, &config, &params);
            quote!(#function #registration)
        }
        (result, _) => {
            let compile_errors = result.err().map(|error| error.to_compile_error());
            quote!(#function #compile_errors)
        }
    }
}

/// Checks that the function can be a job and returns its parameter types.
fn check_signature<'a>(function: &'a ItemFn, errors: &mut Errors) -> Vec<&'a Type> {
    let signature = &function.sig;
    if signature.asyncness.is_none() {
        errors.push(syn::Error::new(
            signature.fn_token.span(),
            "#[job] functions must be `async fn`",
        ));
    }
    if let Some(unsafety) = &signature.unsafety {
        errors.push(syn::Error::new(
            unsafety.span(),
            "#[job] functions cannot be `unsafe`; keep the function safe and put an `unsafe` block inside it",
        ));
    }
    if !signature.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(&signature.generics, GENERIC));
    } else if let Some(where_clause) = &signature.generics.where_clause {
        errors.push(syn::Error::new_spanned(where_clause, GENERIC));
    }
    let mut params = Vec::new();
    for input in &signature.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new_spanned(
                receiver,
                "#[job] functions cannot take `self`; write a free `async fn` taking `State<T>`, or implement the `Job` trait for the type",
            )),
            FnArg::Typed(typed) if matches!(*typed.ty, Type::ImplTrait(_)) => {
                errors.push(syn::Error::new_spanned(&typed.ty, GENERIC));
            }
            FnArg::Typed(typed) => params.push(&*typed.ty),
        }
    }
    params
}

/// The error for generic functions and `impl Trait` parameters.
const GENERIC: &str = "#[job] functions cannot be generic; parameters are `State<T>` with a concrete `T`, or `JobContext`";

/// The registration: a bind function that resolves the parameters, and the
/// `inventory` entry describing the job.
fn registration(function: &ItemFn, config: &JobConfig, params: &[&Type]) -> TokenStream {
    let private = private_path(config.krate.as_ref());
    let ident = &function.sig.ident;
    let spec = spec_tokens(config, ident);

    // Type errors in the generated code are spanned from the first to the
    // last token of the user's type, so each is reported once, under the
    // whole type (a single span would cover its first token only).
    let ranges: Vec<_> = params.iter().map(span_range).collect();
    let prepared: Vec<_> = ranges
        .iter()
        .enumerate()
        .map(|(i, (_, end))| format_ident!("__jobs_p{i}", span = *end))
        .collect();
    let prepare = params
        .iter()
        .zip(&ranges)
        .zip(&prepared)
        .map(|((ty, (start, end)), var)| {
            let call = quote_spanned!(*start=> __jobs::Binder::param::<#ty);
            let close = quote_spanned!(*end=> >(__binder));
            quote!(let #var = #call #close;)
        });
    let extract = params
        .iter()
        .zip(&ranges)
        .zip(&prepared)
        .map(|((ty, (start, _)), var)| {
            let reference = quote_spanned!(*start=> &);
            quote!(<#ty as __jobs::JobParam>::extract(#reference #var, __jobs_ctx))
        });
    // `from_fn` requires the function's future to be `Send + 'static` and its
    // output to be a job result; an error about either points at the return
    // type when one is written, otherwise at the function's name.
    let (start, end) = match &function.sig.output {
        ReturnType::Type(_, ty) => span_range(ty),
        ReturnType::Default => (ident.span(), ident.span()),
    };
    let from_fn = quote_spanned!(start=> __jobs::BoundJob::from_fn);
    let call = format_ident!("__jobs_call", span = end);
    let render = format_ident!("__jobs_render", span = end);
    let mut arguments = Group::new(Delimiter::Parenthesis, quote!(#call, #render));
    arguments.set_span(end);
    // The error's rendering is chosen here, where the result type is known:
    // with its causes for `std::error::Error` types, with `Display` else.
    let bound = quote! {
        let #call = move |__jobs_ctx: &__jobs::JobContext| {
            let _ = __jobs_ctx;
            #ident(#(#extract),*)
        };
        let #render = {
            use __jobs::{ViaBoxedError as _, ViaDisplay as _, ViaError as _};
            (&&&__jobs::Probe::of(&#call)).kind()
        };
        __jobs::Option::Some(#from_fn #arguments)
    };

    quote! {
        const _: () = {
            use #private as __jobs;

            fn __jobs_bind(__binder: &mut __jobs::Binder<'_>) -> __jobs::Option<__jobs::BoundJob> {
                #(#prepare)*
                let (#(__jobs::Option::Some(#prepared),)*) = (#(#prepared,)*) else {
                    return __jobs::Option::None;
                };
                #bound
            }

            fn __jobs_spec() -> __jobs::JobSpec {
                #spec
            }

            __jobs::inventory::submit! {
                __jobs::Registration::new(
                    __jobs_spec,
                    __jobs::Location { file: ::core::file!(), line: ::core::line!() },
                    __jobs_bind,
                )
            }
        };
    }
}

/// The job's spec, built with `JobSpec`'s public builder: only the keys that
/// were written are set, so the runtime's defaults apply to the rest.
fn spec_tokens(config: &JobConfig, ident: &syn::Ident) -> TokenStream {
    let name = config.name.clone().unwrap_or_else(|| default_name(ident));
    let mut spec = match (&config.every, &config.cron) {
        (Some(every), _) => {
            let every = duration_tokens(*every);
            quote!(__jobs::JobSpec::every(#name, #every))
        }
        (None, Some(cron)) => {
            let tz = config.tz.as_deref().unwrap_or("UTC");
            quote!(__jobs::JobSpec::new(#name, __jobs::cron_literal(#cron, #tz)))
        }
        (None, None) => quote!(__jobs::JobSpec::unscheduled(#name)),
    };
    let mut option = |tokens: TokenStream| spec.extend(quote!(.#tokens));
    if let Some(env) = &config.env {
        option(quote!(env(#env)));
    }
    if let Some(run_on_start) = config.run_on_start {
        option(quote!(run_on_start(#run_on_start)));
    }
    if let Some(timeout) = config.timeout {
        let timeout = duration_tokens(timeout);
        option(quote!(timeout(#timeout)));
    }
    if config.fixed_delay {
        option(quote!(fixed_delay()));
    }
    if let Some(jitter) = config.jitter {
        let jitter = duration_tokens(jitter);
        option(quote!(jitter(#jitter)));
    }
    if let Some(overlap) = config.overlap.as_deref() {
        let overlap = match (overlap, config.max_concurrency) {
            ("queue", _) => quote!(__jobs::Overlap::Queue),
            ("replace", _) => quote!(__jobs::Overlap::Replace),
            ("allow", Some(max)) => quote!(__jobs::Overlap::Allow { max_concurrency: #max }),
            ("allow", None) => quote!(__jobs::Overlap::Allow {
                max_concurrency: u32::MAX
            }),
            _ => quote!(__jobs::Overlap::Skip),
        };
        option(quote!(overlap(#overlap)));
    }
    match (config.missed.as_deref(), config.catch_up_limit) {
        (Some("run_once"), _) => option(quote!(missed(__jobs::Missed::RunOnce))),
        (Some("catch_up"), Some(limit)) => {
            option(quote!(missed(__jobs::Missed::CatchUp { limit: #limit })));
        }
        (Some("catch_up"), None) => option(quote!(missed(__jobs::Missed::CatchUp {
            limit: __jobs::Missed::DEFAULT_CATCH_UP_LIMIT
        }))),
        _ => {}
    }
    if let Some(retries) = config.retries {
        option(quote!(retries(#retries)));
    }
    if let Some(backoff) = config.backoff {
        let backoff = duration_tokens(backoff);
        option(quote!(backoff(#backoff)));
    }
    if let Some(backoff_max) = config.backoff_max {
        let backoff_max = duration_tokens(backoff_max);
        option(quote!(backoff_max(#backoff_max)));
    }
    if let Some(after) = &config.after {
        option(quote!(after(#after)));
    }
    if let Some(when) = &config.when {
        option(quote_spanned!(when.span()=> when(#when)));
    }
    if let Some(slots) = config.slots {
        option(quote!(slots(#slots)));
    }
    if let Some(priority) = config.priority.as_deref() {
        let priority = match priority {
            "high" => quote!(High),
            "low" => quote!(Low),
            _ => quote!(Normal),
        };
        option(quote!(priority(__jobs::Priority::#priority)));
    }
    if let Some(keep) = config.keep {
        let keep = duration_tokens(keep);
        option(quote!(keep(#keep)));
    }
    if let Some(keep_last) = config.keep_last {
        let keep_last = keep_last as usize;
        option(quote!(keep_last(#keep_last)));
    }
    spec
}

/// The spans of the first and last tokens of `tokens`.
fn span_range(tokens: &impl ToTokens) -> (Span, Span) {
    let mut tokens = tokens.to_token_stream().into_iter();
    let start = tokens
        .next()
        .map_or_else(Span::call_site, |token| token.span());
    let end = tokens.last().map_or(start, |token| token.span());
    (start, end)
}

fn private_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::jobs_runtime::__private),
    }
}

/// `process_health` becomes `process-health`.
fn default_name(ident: &syn::Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").unwrap_or(&text).replace('_', "-")
}

fn duration_tokens(duration: Duration) -> TokenStream {
    let secs = duration.as_secs();
    let nanos = duration.subsec_nanos();
    quote!(__jobs::Duration::new(#secs, #nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        assert_eq!(
            default_name(&format_ident!("process_health")),
            "process-health"
        );
        assert_eq!(default_name(&syn::parse_str("r#type").unwrap()), "type");
    }

    #[test]
    fn expands_to_function_and_registration() {
        let out = job(
            quote!(every = "2m"),
            quote!(
                async fn tick(ctx: JobContext) {}
            ),
        )
        .to_string();
        assert!(out.starts_with("async fn tick"), "{out}");
        assert!(out.contains("inventory :: submit"), "{out}");
        assert!(out.contains("JobSpec :: every (\"tick\""), "{out}");
    }

    #[test]
    fn catch_up_and_retention_reach_the_spec() {
        let spec = |args: TokenStream| {
            let config = attr::parse(args, "tick").unwrap();
            spec_tokens(&config, &format_ident!("tick")).to_string()
        };
        let out = spec(quote!(every = "1m", missed = "catch_up"));
        assert!(
            out.contains("missed (__jobs :: Missed :: CatchUp { limit : __jobs :: Missed :: DEFAULT_CATCH_UP_LIMIT })"),
            "{out}"
        );
        let out = spec(quote!(
            every = "1m",
            missed = "catch_up",
            catch_up_limit = 50,
            keep = "2h",
            keep_last = 100
        ));
        assert!(out.contains("CatchUp { limit : 50u32 }"), "{out}");
        assert!(
            out.contains("keep (__jobs :: Duration :: new (7200u64 , 0u32))"),
            "{out}"
        );
        assert!(out.contains("keep_last (100usize)"), "{out}");
        let out = spec(quote!(every = "1m", missed = "skip"));
        assert!(!out.contains("missed"), "the default: {out}");
    }

    #[test]
    fn reports_every_signature_error() {
        let function: ItemFn = syn::parse_quote!(
            unsafe fn tick<T>(&self, value: impl Send) {}
        );
        let mut errors = Errors::default();
        let params = check_signature(&function, &mut errors);
        assert!(params.is_empty());
        let messages: Vec<String> = errors
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages.len(), 5, "{messages:?}");
        assert!(messages[0].contains("must be `async fn`"));
        assert!(messages[1].contains("cannot be `unsafe`"));
        assert!(messages[2].contains("cannot be generic"));
        assert!(messages[3].contains("cannot take `self`"));
        assert!(messages[4].contains("cannot be generic"));
    }

    #[test]
    fn keeps_the_function_on_error() {
        let out = job(
            quote!(every = "2x"),
            quote!(
                async fn tick() {}
            ),
        )
        .to_string();
        assert!(out.starts_with("async fn tick"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
    }
}
