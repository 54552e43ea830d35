//! The house rules of docs/architecture.md, checked against the code: every module it
//! names exists; no module imports from a module that mounts it (its parent, the crate
//! root); no modules import each other, directly or round a loop; source files stay short.
//!
//! Imports are read from the source text (`crate::…`, `$crate::…`, `super::…` paths, in
//! `use` lines and inline), comments left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = "server/src";
/// Longest a source file may grow, in lines.
const MAX_LINES: usize = 450;
/// Files still over `MAX_LINES`, each until it is split. The test fails when one of them
/// gets short enough, so the list only shrinks.
const NOT_YET_SPLIT: &[&str] = &["server/src/store/sql.rs"];

/// Module path -> (file, source without comments).
type Modules = BTreeMap<String, (String, String)>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every module of the crate, by path (`""` is the crate root, `"store::write"`), with its
/// file and its source without comments.
fn modules() -> Modules {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(SRC), &mut files);
    let mut out = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(root().join(SRC)).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
            parts.pop();
        }
        if parts == ["main"] {
            continue; // the binary, a crate of its own
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        out.insert(parts.join("::"), (name, without_comments(&text)));
    }
    out
}

/// The text with `//` comments removed (not inside string literals).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut quotes = 0;
            let b = line.as_bytes();
            for i in 0..b.len() {
                match b[i] {
                    b'"' if i == 0 || b[i - 1] != b'\\' => quotes += 1,
                    b'/' if quotes % 2 == 0 && b.get(i + 1) == Some(&b'/') => return &line[..i],
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a module's source names from `crate` (written `a::b::Item`, relative to the
/// crate root), `super` resolved.
fn paths_named(module: &str, src: &str) -> Vec<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    for (start, base) in [("crate::", String::new()), ("super::", parent.to_string())] {
        if start == "super::" && module.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(at) = src[from..].find(start) {
            let at = from + at;
            from = at + start.len();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
                continue; // part of a longer path (`self::super::`, `foo_crate::`)
            }
            let prefix = if base.is_empty() {
                String::new()
            } else {
                format!("{base}::")
            };
            expand(&src[from..], &prefix, &mut out);
        }
    }
    out
}

/// Expands `a::b::{c, d::E}` (the text after `crate::`) into full paths.
fn expand(rest: &str, prefix: &str, out: &mut Vec<String>) {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    let path = rest[..end].trim_end_matches(':');
    let after = &rest[end..];
    if after.starts_with('{') && (path.is_empty() || rest[..end].ends_with("::")) {
        let group = if path.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}{path}::")
        };
        // Split at top-level commas.
        let (mut depth, mut item) = (0, String::new());
        for c in after[1..].chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_item(&item, &group, out);
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        expand_item(&item, &group, out);
    } else if !path.is_empty() {
        out.push(format!("{prefix}{path}"));
    }
}

fn expand_item(item: &str, prefix: &str, out: &mut Vec<String>) {
    let item = item.split(" as ").next().unwrap_or_default().trim();
    match item {
        "" => {}
        "self" => out.push(prefix.trim_end_matches(':').to_string()),
        _ => expand(item, prefix, out),
    }
}

/// The module a path lands in: its longest prefix that is a module.
fn module_of(path: &str, modules: &Modules) -> String {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    (0..=parts.len())
        .rev()
        .map(|i| parts[..i].join("::"))
        .find(|m| modules.contains_key(m))
        .unwrap_or_default()
}

fn is_ancestor(a: &str, of: &str) -> bool {
    a.is_empty() || of.starts_with(&format!("{a}::"))
}

/// Module -> the modules it imports from (other than itself and its own children).
fn imports() -> (BTreeMap<String, BTreeSet<String>>, Modules) {
    let modules = modules();
    let mut graph = BTreeMap::new();
    for (m, (_, src)) in &modules {
        let targets: BTreeSet<String> = paths_named(m, src)
            .iter()
            .map(|p| module_of(p, &modules))
            .filter(|t| t != m && !is_ancestor(m, t))
            .collect();
        graph.insert(m.clone(), targets);
    }
    (graph, modules)
}

#[test]
fn no_module_imports_from_the_module_that_mounts_it() {
    let (graph, modules) = imports();
    let mut wrong = Vec::new();
    for (m, targets) in &graph {
        for t in targets.iter().filter(|t| is_ancestor(t, m)) {
            let (file, _) = &modules[m];
            let whom = if t.is_empty() { "the crate root" } else { t };
            wrong.push(format!("{file} ({m}) imports from {whom}, which mounts it"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn modules_import_each_other_in_no_circle() {
    let (graph, _) = imports();
    // Seen from their closest common parent, `a::x` importing `b::y` is `a` importing `b`.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, targets) in &graph {
        for t in targets.iter().filter(|t| !is_ancestor(t, m)) {
            let (a, b): (Vec<&str>, Vec<&str>) = (m.split("::").collect(), t.split("::").collect());
            let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            let from = a[..=common].join("::");
            let to = b[..=common].join("::");
            edges.entry(from).or_default().insert(to);
        }
    }
    let mut circles = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first from `start`, looking for a way back.
        let mut stack = vec![vec![start.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(path) = stack.pop() {
            for next in edges.get(path.last().unwrap()).into_iter().flatten() {
                if next == start {
                    let mut circle = path.clone();
                    circle.push(start.clone());
                    // Each circle once, from its smallest member.
                    let min = circle[..circle.len() - 1].iter().min().unwrap().clone();
                    if &min == start {
                        circles.insert(circle.join(" -> "));
                    }
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push(longer);
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other:\n  {}",
        circles.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn every_module_the_architecture_names_exists() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let mut missing = Vec::new();
    let mut named = 0;
    for (i, part) in doc.split('`').enumerate() {
        if i % 2 == 1 && part.starts_with("server/src/") {
            named += 1;
            if !root().join(part.trim_end_matches('/')).exists() {
                missing.push(part.to_string());
            }
        }
    }
    assert!(
        named >= 10,
        "docs/architecture.md names only {named} files or folders under server/src/"
    );
    assert!(
        missing.is_empty(),
        "docs/architecture.md names what is gone: {missing:?}"
    );
    // And each module of the crate is described there, by its file.
    let undescribed: Vec<String> = modules()
        .into_values()
        .map(|(file, _)| file)
        .filter(|file| !doc.contains(&format!("`{file}`")))
        .collect();
    assert!(
        undescribed.is_empty(),
        "docs/architecture.md does not say what these hold: {undescribed:?}"
    );
}

#[test]
fn source_files_stay_short() {
    let mut long = Vec::new();
    let mut split = Vec::new();
    for (file, _) in modules().into_values() {
        let lines = std::fs::read_to_string(root().join(&file)).unwrap().lines().count();
        let allowed = NOT_YET_SPLIT.contains(&file.as_str());
        if lines > MAX_LINES && !allowed {
            long.push(format!("{file}: {lines} lines"));
        }
        if lines <= MAX_LINES && allowed {
            split.push(file);
        }
    }
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
    assert!(split.is_empty(), "short now, take them off NOT_YET_SPLIT: {split:?}");
}

#[test]
fn the_import_reader_sees_groups_aliases_and_super() {
    let mut out = Vec::new();
    expand(
        "{consent, store::{Scope, write::WriteTx as W}, AppState};",
        "",
        &mut out,
    );
    assert_eq!(out, ["consent", "store::Scope", "store::write::WriteTx", "AppState"]);
    let src = without_comments("use super::write::{self, NewEntry}; x = $crate::time::now(); // crate::http");
    let paths = paths_named("store::sqlite", &src);
    assert_eq!(paths, ["time::now", "store::write", "store::write::NewEntry"]);
}
