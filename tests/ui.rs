//! Compile-time checks of `#[job]`: every misuse in `tests/ui/fail` must fail
//! with the error in its `.stderr` snapshot, and every case in `tests/ui/pass`
//! must compile. Regenerate the snapshots with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
