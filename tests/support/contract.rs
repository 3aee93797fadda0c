//! The contract's error table (docs/api.md), read from the document itself so that the tests
//! hold the server to what the document says, and a code added to one without the other fails.

/// Every `(status, code)` of the error table; the settings the table mentions (README's
/// settings table, e.g. `ADMIN_TOKEN`) are left out.
pub fn error_codes() -> Vec<(u16, String)> {
    let read = |file: &str| {
        let path = format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"))
    };
    let (contract, readme) = (read("docs/api.md"), read("README.md"));
    let table = contract.split("| status | codes |").nth(1).expect("docs/api.md has the error table");
    let mut codes: Vec<(u16, String)> = table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .flat_map(|row| {
            let status = row.split('|').nth(1).and_then(|cell| cell.trim().parse().ok());
            let status = status.unwrap_or_else(|| panic!("a status first in the row {row:?}"));
            let words = row.split('`').skip(1).step_by(2).map(move |word| (status, word.to_owned()));
            words.collect::<Vec<_>>()
        })
        .filter(|(_, word)| word.len() > 3 && word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .filter(|(_, word)| !readme.contains(&format!("| `{word}` |")))
        .collect();
    codes.sort();
    codes.dedup();
    codes
}
