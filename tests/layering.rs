//! The modules of each crate depend one way: no two top-level modules reach each other through
//! `crate::` paths, directly or around a circle. A circle means neither module can be read,
//! tested or moved without the other; where two modules share a type, it gets a module of its
//! own that both import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::root;

/// The source directories of the workspace's crates of more than one module.
const CRATES: [&str; 6] = [
    "src",
    "data/src",
    "models/src",
    "trainer/src",
    "exporter/src",
    "runtime/src",
];

/// `text` without `//` comments (doc links are not dependencies) and string literals.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut prev = ' ';
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if !in_string && c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' && prev != '\'' {
                in_string = !in_string;
            } else if !in_string {
                kept.push(c);
            }
            prev = c;
            i += 1;
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// The top-level modules named after each `crate::` in `code`, including every first-level
/// name of a `use crate::{a, b::c}` group.
fn references(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut item) = (0usize, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || c == '{' {
                    item.push(c);
                }
            }
            found.insert(ident(item.trim()));
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

/// Each top-level module of the crate in `dir` and the top-level modules it refers to.
fn module_graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read the source directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(dir).expect("inside");
        let first = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy();
        let top = first.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read a source file");
        let refs = references(&code(&text));
        graph.entry(top).or_default().extend(refs);
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (m, refs) in graph.iter_mut() {
        refs.retain(|r| r != m && modules.contains(r));
    }
    graph
}

/// A circle of the graph, if it has one, as the modules along it.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(m) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = path.iter().position(|p| p == m).expect("on the path");
                let mut c = path[from..].to_vec();
                c.push(m.to_string());
                return Some(c);
            }
            None => {}
        }
        marks.insert(m.to_string(), Mark::Open);
        path.push(m.to_string());
        for next in &graph[m] {
            if let Some(c) = visit(next, graph, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(m.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if let Some(c) = visit(m, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_an_import_circle() {
    for dir in CRATES {
        let graph = module_graph(&root().join(dir));
        assert!(graph.len() >= 2, "{dir}: modules found");
        if let Some(c) = circle(&graph) {
            panic!("{dir}: the modules {} import each other", c.join(" → "));
        }
    }
}

/// The check itself, on hand-made sources: groups, nested groups, comments and a circle.
#[test]
fn the_circle_check_reads_uses_and_finds_circles() {
    let refs = references(&code(
        "use crate::a::X;\nuse crate::{b, c::{D, E}, self};\n// crate::f in a comment\nlet s = \"crate::g\";\nfn h() { crate::k::run() }",
    ));
    let names: Vec<&str> = refs.iter().map(String::as_str).collect();
    assert_eq!(names, ["a", "b", "c", "k"]);

    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().insert(b.to_string());
            g.entry(b.to_string()).or_default();
        }
        g
    };
    assert_eq!(circle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(
        circle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
}
