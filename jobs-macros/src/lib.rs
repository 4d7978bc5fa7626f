//! The `#[job]` attribute, with the table of its keys. Use it through
//! `jobs_runtime`, which re-exports it: `use jobs_runtime::job;`.

#![forbid(unsafe_code)]

mod attr;
mod expand;

use proc_macro::TokenStream;

#[doc = include_str!("attribute.md")]
#[proc_macro_attribute]
pub fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::job(args.into(), item.into()).into()
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// The keys in the first column of the first table after `heading`.
    fn table_keys(markdown: &str, heading: &str) -> Vec<String> {
        let (_, after) = markdown
            .split_once(heading)
            .unwrap_or_else(|| panic!("no {heading:?}"));
        after
            .lines()
            .skip_while(|line| !line.starts_with("| key "))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|row| {
                let cell = row.split('|').nth(1).unwrap_or_default().trim();
                cell.trim_matches('`').to_owned()
            })
            .collect()
    }

    /// The keys the attribute accepts, from its message for an unknown key.
    fn accepted_keys() -> Vec<String> {
        let out = crate::expand::job(
            quote!(no_such_key = 1),
            quote!(
                async fn tick() {}
            ),
        )
        .to_string();
        let (_, list) = out
            .split_once("valid keys are: ")
            .unwrap_or_else(|| panic!("no list of keys in {out}"));
        let list = &list[..list.find('"').unwrap_or(list.len())];
        list.split(", ").map(str::to_owned).collect()
    }

    #[test]
    fn the_key_tables_list_the_keys_the_attribute_accepts() {
        let accepted = accepted_keys();
        assert_eq!(table_keys(include_str!("attribute.md"), "# Keys"), accepted);
        assert_eq!(
            table_keys(include_str!("../../README.md"), "## The attribute"),
            accepted
        );
    }
}
