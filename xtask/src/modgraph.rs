//! The node library's module graph, read from its sources: which file imports which (`crate::` and `super::`
//! paths, test modules left out). `cargo xtask modgraph` prints it in layers, from the files nothing imports
//! down to the ground floor (the picture in the README's architecture section); tidy fails when the graph has
//! a cycle, so the parts keep standing on each other rather than beside each other.
//!
//! An import through a re-export (`pub use routes::Routes` in a `mod.rs`) counts as an import of the file that
//! defines the item: a `mod.rs` that only declares and re-exports is a namespace, not a layer. A child's
//! imports of its own parent module are left out (Rust's modules nest).
//!
//! It reads text, not syntax trees: good enough for this codebase's import style (one path per `use` item,
//! braces for groups), and a cycle it reports can be checked by hand in the files it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The crate whose graph is checked.
const SOURCE: &str = "native-node/src";

/// The graph: module path (`messaging::routes`) → modules it imports.
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// Reads the graph of the node library's sources under `root`.
pub fn read(root: &Path) -> anyhow::Result<Graph> {
    let src = root.join(SOURCE);
    let mut files = BTreeMap::new();
    collect(&src, &src, &mut files)?;
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let reexports: BTreeMap<String, BTreeMap<String, String>> = files
        .iter()
        .map(|(module, text)| (module.clone(), reexports_in(module, without_tests(text))))
        .collect();
    let mut graph = Graph::new();
    for (module, text) in &files {
        let mut imports = BTreeSet::new();
        let code: String = without_tests(text)
            .lines()
            .filter(|line| !is_reexport(line))
            .collect::<Vec<_>>()
            .join("\n");
        for path in paths_in(&code) {
            let absolute = absolute(module, &path);
            if let Some(target) = resolve(&modules, &reexports, &absolute) {
                if &target != module && !module.starts_with(&format!("{target}::")) {
                    imports.insert(target);
                }
            }
        }
        graph.insert(module.clone(), imports);
    }
    Ok(graph)
}

fn is_reexport(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("pub use ") || line.starts_with("pub(crate) use ")
}

/// The items `module` re-exports: name → absolute path of what it names.
fn reexports_in(module: &str, text: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in text.lines().filter(|line| is_reexport(line)) {
        let path = line
            .trim_start()
            .trim_start_matches("pub(crate) use ")
            .trim_start_matches("pub use ")
            .trim_end_matches(';');
        let (base, items): (&str, Vec<&str>) = match path.split_once("::{") {
            Some((base, group)) => (
                base,
                group
                    .trim_end_matches('}')
                    .split(',')
                    .map(str::trim)
                    .collect(),
            ),
            None => match path.rsplit_once("::") {
                Some((base, item)) => (base, vec![item]),
                None => continue,
            },
        };
        let base = if base.starts_with("crate::") || base.starts_with("super::") {
            absolute(module, base)
        } else {
            format!("{module}::{base}")
        };
        for item in items.into_iter().filter(|i| !i.is_empty() && *i != "self") {
            let name = item.rsplit("::").next().unwrap_or(item);
            names.insert(name.to_owned(), format!("{base}::{item}"));
        }
    }
    names
}

/// The file `path` depends on: the longest module it starts with, followed through re-exports.
fn resolve(
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, BTreeMap<String, String>>,
    path: &str,
) -> Option<String> {
    let mut path = path.to_owned();
    for _ in 0..8 {
        let module = longest_module(modules, &path)?;
        let rest = path[module.len()..].trim_start_matches("::");
        let first = rest.split("::").next().unwrap_or("");
        match reexports.get(&module).and_then(|names| names.get(first)) {
            Some(target) if !first.is_empty() => path = target.clone(),
            _ => return Some(module),
        }
    }
    None
}

fn collect(src: &Path, dir: &Path, files: &mut BTreeMap<String, String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "bin") {
                collect(src, &path, files)?;
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = path.strip_prefix(src)?.with_extension("");
        let mut parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
            parts.pop();
        }
        if parts.is_empty() {
            continue; // lib.rs: the map, it declares everything
        }
        files.insert(parts.join("::"), std::fs::read_to_string(&path)?);
    }
    Ok(())
}

/// The text before the file's `#[cfg(test)]` test module.
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    }
}

/// Every `crate::…` and `super::…` path in `text` (groups in braces expanded one level), comments skipped.
fn paths_in(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for start in ["crate::", "super::"] {
            let mut rest = code;
            while let Some(at) = rest.find(start) {
                let before = rest[..at].chars().last();
                rest = &rest[at..];
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                let path = rest[..end].trim_end_matches(':').to_owned();
                let is_path = !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
                if is_path {
                    if rest[end..].starts_with('{') {
                        let group = &rest[end + 1..rest.find('}').unwrap_or(rest.len())];
                        for item in group.split(',') {
                            let item = item.trim().split(' ').next().unwrap_or("");
                            if !item.is_empty() && item != "self" {
                                paths.push(format!("{path}::{item}"));
                            }
                        }
                    }
                    paths.push(path);
                }
                rest = &rest[end..];
            }
        }
    }
    paths
}

/// `path` as seen from `module`, from the crate root, without the `crate::` prefix.
fn absolute(module: &str, path: &str) -> String {
    if let Some(rest) = path.strip_prefix("crate::") {
        return rest.to_owned();
    }
    let mut base: Vec<&str> = module.split("::").collect();
    let mut rest = path;
    while let Some(after) = rest.strip_prefix("super::") {
        base.pop();
        rest = after;
    }
    base.push(rest);
    base.join("::")
}

/// The longest module that `path` starts with.
fn longest_module(modules: &BTreeSet<String>, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        let candidate = parts.join("::");
        if modules.contains(&candidate) {
            return Some(candidate);
        }
        parts.pop();
    }
    None
}

/// A cycle in the graph, as the modules along it, if there is one.
pub fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        graph: &'a Graph,
        module: &'a str,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[at..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module);
        for next in graph.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module);
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(graph, module, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

/// The modules in layers: layer 0 imports nothing of the crate, each other module sits one above the highest
/// module it imports. Assumes no cycle.
pub fn layers(graph: &Graph) -> Vec<Vec<String>> {
    fn height(graph: &Graph, module: &str, memo: &mut BTreeMap<String, usize>) -> usize {
        if let Some(h) = memo.get(module) {
            return *h;
        }
        let h = graph
            .get(module)
            .into_iter()
            .flatten()
            .map(|m| height(graph, m, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(module.to_owned(), h);
        h
    }
    let mut memo = BTreeMap::new();
    let mut layers: Vec<Vec<String>> = Vec::new();
    for module in graph.keys() {
        let h = height(graph, module, &mut memo);
        if layers.len() <= h {
            layers.resize(h + 1, Vec::new());
        }
        layers[h].push(module.clone());
    }
    layers
}

/// Cycles in the graph, each found by cutting the last edge of the one before (so every cycle shows up at
/// least once, some perhaps twice).
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut graph = graph.clone();
    let mut found = Vec::new();
    while let Some(cycle) = cycle(&graph) {
        let (from, to) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
        if let Some(edges) = graph.get_mut(from) {
            edges.remove(to);
        }
        found.push(cycle);
    }
    found
}

/// `cargo xtask modgraph`: prints the layers, top first.
pub fn print(root: &Path) -> anyhow::Result<()> {
    let graph = read(root)?;
    let cycles = cycles(&graph);
    if !cycles.is_empty() {
        let list: Vec<String> = cycles.iter().map(|c| c.join(" -> ")).collect();
        anyhow::bail!("the module graph has cycles:\n{}", list.join("\n"));
    }
    let layers = layers(&graph);
    for (n, layer) in layers.iter().enumerate().rev() {
        println!("{n:>2}  {}", layer.join("  "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_found_in_uses_groups_and_expressions() {
        let text =
            "use crate::a::b;\nuse super::{c, d::E};\nlet x = crate::f::g(1); // crate::no\n";
        let paths = paths_in(text);
        assert!(paths.contains(&"crate::a::b".to_owned()));
        assert!(paths.contains(&"super::c".to_owned()));
        assert!(paths.contains(&"super::d::E".to_owned()));
        assert!(paths.contains(&"crate::f::g".to_owned()));
        assert!(!paths.iter().any(|p| p.contains("no")));
    }

    #[test]
    fn super_paths_resolve_from_the_file_module() {
        assert_eq!(
            absolute("messaging::reader", "super::routes::X"),
            "messaging::routes::X"
        );
        assert_eq!(absolute("a::b::c", "super::super::d"), "a::d");
        assert_eq!(absolute("x", "crate::y::z"), "y::z");
    }

    #[test]
    fn a_cycle_is_found_and_layers_stack_without_one() {
        let mut graph = Graph::new();
        graph.insert("a".into(), ["b".to_owned()].into());
        graph.insert("b".into(), ["c".to_owned()].into());
        graph.insert("c".into(), BTreeSet::new());
        assert_eq!(cycle(&graph), None);
        assert_eq!(layers(&graph), vec![vec!["c"], vec!["b"], vec!["a"]]);
        graph.get_mut("c").unwrap().insert("a".into());
        assert!(cycle(&graph).is_some());
    }
}
