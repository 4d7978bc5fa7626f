//! The README, whose Rust code blocks are this crate's doctests: each is
//! compiled as a user would compile it, with the README's `[dependencies]`
//! (this package's own) and nothing else.
#![doc = include_str!("../../README.md")]

#[cfg(test)]
mod tests {
    /// The `name = spec` lines of the `[dependencies]` table in `toml`.
    fn dependencies(toml: &str) -> Vec<(&str, &str)> {
        toml.lines()
            .skip_while(|line| line.trim() != "[dependencies]")
            .skip(1)
            .take_while(|line| !line.trim_start().starts_with('['))
            .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(|line| {
                let (name, spec) = line.split_once('=').unwrap_or((line, ""));
                (name.trim(), spec.trim())
            })
            .collect()
    }

    #[test]
    fn the_readme_lists_the_dependencies_its_code_is_compiled_with() {
        let readme = include_str!("../../README.md");
        let (_, block) = readme
            .split_once("```toml\n")
            .expect("the README has a toml block");
        let (block, _) = block.split_once("```").expect("the toml block ends");
        let listed = dependencies(block);
        let used = dependencies(include_str!("Cargo.toml"));
        assert_eq!(
            listed.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            used.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
        );
        // The runtime comes from this workspace here, from crates.io there,
        // in the version of this workspace.
        let (_, version) = listed[0];
        assert!(
            version.starts_with('"')
                && env!("CARGO_PKG_VERSION").starts_with(version.trim_matches('"')),
            "the README asks for jobs-runtime {version}, the workspace is {}",
            env!("CARGO_PKG_VERSION")
        );
        let listed: Vec<_> = listed
            .into_iter()
            .filter(|(name, _)| *name != "jobs-runtime")
            .collect();
        let used: Vec<_> = used
            .into_iter()
            .filter(|(name, _)| *name != "jobs-runtime")
            .collect();
        assert_eq!(listed, used);
    }
}
