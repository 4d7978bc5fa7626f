//! The `#[job]` attribute. Use it through `jobs_runtime`, which re-exports it
//! and documents it: `use jobs_runtime::job;`.

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Turns an `async fn` into a recurring job, registered for discovery by
/// `jobs_runtime::JobManager::discover`.
///
/// See the `jobs_runtime` documentation for the keys and their rules.
#[proc_macro_attribute]
pub fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::job(args.into(), item.into()).into()
}
