//! Checks of the names a hand-written [`JobSpec`] holds, the
//! same as the attribute's at compile time, and the closest-name suggestion
//! of the errors about names that match nothing.

use crate::JobSpec;

/// What is wrong with the names in `spec`: its own, its `after` and its
/// `env` variable; each problem says what is allowed.
pub(crate) fn spec_problems(spec: &JobSpec) -> Vec<String> {
    let mut problems = Vec::new();
    if spec.name().is_empty() {
        problems.push("`name` must not be empty; give the job a name".to_owned());
    }
    problems.extend(whitespace_problem(spec.name(), "name"));
    match spec.upstream() {
        Some("") => problems.push(
            "`after` must not be empty; give the name of the job this one runs after".to_owned(),
        ),
        Some(upstream) => problems.extend(whitespace_problem(upstream, "after")),
        None => {}
    }
    if let Some(variable) = spec.env_var() {
        if variable.is_empty()
            || variable.contains(['=', '\0'])
            || variable.chars().any(char::is_whitespace)
        {
            problems.push(format!("invalid environment variable name {variable:?} for `env`: it must be non-empty, without `=`, NUL or whitespace"));
        }
    }
    problems
}

/// Whether `name` can be a job's name: not empty, without whitespace.
pub(crate) fn is_valid(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_whitespace)
}

fn whitespace_problem(name: &str, key: &str) -> Option<String> {
    name.chars().any(char::is_whitespace).then(|| {
        format!("job name {name:?} in `{key}` must not contain whitespace; use `-` or `_` between words")
    })
}

/// The candidate closest to `wanted` by edit distance, if it is close
/// enough to be a likely misspelling: at most a third of the longer name's
/// characters differ (and at least one may).
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|candidate| *candidate != wanted)
        .map(|candidate| (edit_distance(wanted, candidate), candidate))
        .filter(|&(distance, candidate)| {
            let longer = wanted.chars().count().max(candidate.chars().count());
            distance <= (longer / 3).max(1)
        })
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("fetch-rate", "fetch-rates"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn the_closest_likely_misspelling_is_suggested() {
        let names = ["process-health", "cleanup", "heartbeat"];
        assert_eq!(closest("proces-health", names), Some("process-health"));
        assert_eq!(closest("clean-up", names), Some("cleanup"));
        assert_eq!(closest("billing", names), None);
        assert_eq!(closest("x", ["y"]), Some("y"));
    }
}
