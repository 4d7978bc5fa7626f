//! Emits the code for `#[job]`: the function as written, plus a registration
//! that calls into `jobs_runtime::__private`.

use std::time::Duration;

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
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
    let config = attr::parse(args).map_err(|error| errors.push(error)).ok();
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
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        errors.push(syn::Error::new(
            signature.generics.span(),
            "#[job] functions cannot be generic; give dependencies as `State<T>` parameters with a concrete `T`",
        ));
    }
    let mut params = Vec::new();
    for input in &signature.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(syn::Error::new(
                receiver.span(),
                "#[job] functions cannot take `self`; implement the `Job` trait for a type instead, or take `State<T>`",
            )),
            FnArg::Typed(typed) => params.push(&*typed.ty),
        }
    }
    params
}

/// The registration: a bind function that resolves the parameters, and the
/// `inventory` entry describing the job.
fn registration(function: &ItemFn, config: &JobConfig, params: &[&Type]) -> TokenStream {
    let private = private_path(config.krate.as_ref());
    let ident = &function.sig.ident;
    let name = config.name.clone().unwrap_or_else(|| default_name(ident));
    let every = duration_tokens(config.every);
    let env = option_tokens(config.env.as_ref().map(|env| quote!(#env)));
    let run_on_start = config.run_on_start;
    let timeout = option_tokens(config.timeout.map(duration_tokens));

    let prepared: Vec<_> = (0..params.len())
        .map(|i| format_ident!("__jobs_p{i}"))
        .collect();
    let prepare = params
        .iter()
        .zip(&prepared)
        .map(|(ty, var)| quote_spanned!(ty.span()=> let #var = __binder.param::<#ty>();));
    let extract = params.iter().zip(&prepared).map(|(ty, var)| {
        quote_spanned!(ty.span()=> <#ty as __jobs::JobParam>::extract(&#var, __jobs_ctx))
    });
    let return_check = return_check(&function.sig.output);

    quote! {
        const _: () = {
            use #private as __jobs;

            #return_check

            fn __jobs_bind(__binder: &mut __jobs::Binder<'_>) -> __jobs::Option<__jobs::BoundJob> {
                #(#prepare)*
                let (#(__jobs::Option::Some(#prepared),)*) = (#(#prepared,)*) else {
                    return __jobs::Option::None;
                };
                __jobs::Option::Some(__jobs::BoundJob::from_fn(move |__jobs_ctx: &__jobs::JobContext| {
                    let _ = __jobs_ctx;
                    #ident(#(#extract),*)
                }))
            }

            __jobs::inventory::submit! {
                __jobs::Registration::new(
                    __jobs::StaticSpec {
                        name: #name,
                        every: #every,
                        env: #env,
                        run_on_start: #run_on_start,
                        timeout: #timeout,
                    },
                    __jobs::Location { file: ::core::file!(), line: ::core::line!() },
                    __jobs_bind,
                )
            }
        };
    }
}

/// A check, spanned on the return type, that it is `()` or `Result<(), E: Display>`.
fn return_check(output: &ReturnType) -> TokenStream {
    match output {
        ReturnType::Default => TokenStream::new(),
        ReturnType::Type(_, ty) => quote_spanned! {ty.span()=>
            const _: fn() = || {
                fn returns_job_result<T: __jobs::IntoJobResult>() {}
                returns_job_result::<#ty>();
            };
        },
    }
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

fn option_tokens(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(__jobs::Option::Some(#value)),
        None => quote!(__jobs::Option::None),
    }
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
        assert!(out.contains("name : \"tick\""), "{out}");
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
