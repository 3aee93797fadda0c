//! The suite's own check: every public check of every module is listed in
//! [`contract_suite!`](crate::contract_suite), so a check written and not listed fails here
//! instead of silently never running.

use std::collections::BTreeSet;

/// The public module that holds no checks: the stores' own tests' catalogue and shorthands.
const NOT_CHECKS: &str = "testkit";

/// `(module, check)` for every `pub async fn` of the modules `lib.rs` declares public.
fn written() -> BTreeSet<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let lib = std::fs::read_to_string(format!("{dir}/lib.rs")).expect("read lib.rs");
    let mut checks = BTreeSet::new();
    let modules = lib.lines().filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';'));
    for module in modules.filter(|module| *module != NOT_CHECKS) {
        let source = std::fs::read_to_string(format!("{dir}/{module}.rs")).expect("read a module");
        for line in source.lines() {
            if let Some(rest) = line.strip_prefix("pub async fn ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                checks.insert((module.to_owned(), name));
            }
        }
    }
    checks
}

/// `(module, check)` for every check listed in the macro of `lib.rs`.
fn listed() -> BTreeSet<(String, String)> {
    let lib = include_str!("lib.rs");
    let mut checks = BTreeSet::new();
    for block in lib.split("__contract_module!($factory; ").skip(1) {
        let Some((module, rest)) = block.split_once(':') else { continue };
        let Some((names, _)) = rest.split_once(')') else { continue };
        for name in names.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            checks.insert((module.to_owned(), name.to_owned()));
        }
    }
    checks
}

#[test]
fn every_check_written_is_listed_in_the_suite_and_nothing_else_is() {
    let (written, listed) = (written(), listed());
    assert!(written.len() > 90, "the checks are found: {}", written.len());
    let unlisted: Vec<_> = written.difference(&listed).collect();
    assert!(unlisted.is_empty(), "written but never run (add them to contract_suite!): {unlisted:?}");
    let unknown: Vec<_> = listed.difference(&written).collect();
    assert!(unknown.is_empty(), "listed but not written: {unknown:?}");
}
