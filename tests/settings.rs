//! One setting, one reader: every environment variable is read in exactly one source file,
//! so two readers can never drift apart (as the support admins' language once did).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The variable names a source file reads through `EnvReader` or `EnvSource` (its test
/// module left out).
fn names_read(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut names = Vec::new();
    for call in [
        ".optional(\"",
        ".required(\"",
        ".or(\"",
        ".parse_or(\"",
        ".list(\"",
        ".var(\"",
    ] {
        for (at, _) in code.match_indices(call) {
            let rest = &code[at + call.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !name.is_empty() && rest[name.len()..].starts_with('"') {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn every_environment_variable_is_read_in_one_place() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["shared/src", "functions", "infra/src"] {
        sources(&root.join(dir), &mut files);
    }
    let mut readers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        for name in names_read(&text) {
            let list = readers.entry(name).or_default();
            if !list.contains(&shown) {
                list.push(shown.clone());
            }
        }
    }
    assert!(
        readers.len() > 30,
        "the scan found only {} variables: it is not looking where settings are read",
        readers.len()
    );
    let twice: Vec<String> = readers
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .map(|(name, files)| format!("{name}: {}", files.join(", ")))
        .collect();
    assert!(
        twice.is_empty(),
        "read in more than one place:\n{}",
        twice.join("\n")
    );
}

#[test]
fn the_scan_sees_every_way_a_setting_is_read() {
    let text = r#"let a = r.optional("A_ONE"); let b = env.or("B_TWO", "x"); let c = r.parse_or("C_3", 1);
        let d = r.list("D"); let e = env.var("E"); let f = r.required("F");
        #[cfg(test)] let g = r.optional("G");"#;
    assert_eq!(names_read(text), ["A_ONE", "F", "B_TWO", "C_3", "D", "E"]);
}
