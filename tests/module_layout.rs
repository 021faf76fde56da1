//! The cluster crate's top-level modules (files or folders under
//! `cluster/src`) import each other one way only: an edge A -> B for every
//! `crate::B` path in shipped code under A (unit tests may reach anywhere),
//! and the graph must have no cycle. Run alone with
//! `cargo test --test module_layout -- --nocapture` to print the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The text of `src` without comments and without its `#[cfg(test)] mod
/// tests` block (which conventionally ends the file).
fn shipped_code(src: &str) -> String {
    let mut out = String::new();
    for line in src.lines() {
        let code = line.split("//").next().unwrap_or_default();
        out.push_str(code);
        out.push('\n');
    }
    match out.find("#[cfg(test)]\nmod tests") {
        Some(i) => out[..i].to_string(),
        None => out,
    }
}

/// Every `crate::name` in `code`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .filter(|(i, _)| {
            // Not part of a longer identifier such as `ringkv_crate::`.
            code[..*i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn graph(src: &Path) -> Graph {
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(src).expect("read src").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "lib.rs" {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".rs") {
            modules.insert(stem.to_string());
        } else if entry.path().is_dir() {
            modules.insert(name);
        }
    }
    let mut edges: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel.components().next().expect("a component");
        let owner = first.as_os_str().to_string_lossy();
        let owner = owner.strip_suffix(".rs").unwrap_or(&owner).to_string();
        if !modules.contains(&owner) {
            continue;
        }
        let code = shipped_code(&std::fs::read_to_string(&file).expect("read file"));
        for target in crate_paths(&code) {
            if target != owner && modules.contains(&target) {
                edges.entry(owner.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// The modules in dependency order (each after everything it imports), or
/// the modules left on a cycle.
fn layers(edges: &Graph) -> Result<Vec<Vec<String>>, Vec<String>> {
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while placed.len() < edges.len() {
        let layer: Vec<String> = edges
            .iter()
            .filter(|(m, deps)| !placed.contains(*m) && deps.iter().all(|d| placed.contains(d)))
            .map(|(m, _)| m.clone())
            .collect();
        if layer.is_empty() {
            return Err(edges
                .keys()
                .filter(|m| !placed.contains(*m))
                .cloned()
                .collect());
        }
        placed.extend(layer.iter().cloned());
        out.push(layer);
    }
    Ok(out)
}

#[test]
fn cluster_modules_import_each_other_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/src");
    let edges = graph(&src);
    assert!(edges.len() > 10, "found only {:?}", edges.keys());
    match layers(&edges) {
        Ok(layers) => {
            for (i, layer) in layers.iter().enumerate() {
                println!("layer {i}: {}", layer.join(", "));
            }
        }
        Err(stuck) => {
            let detail: Vec<String> = stuck
                .iter()
                .map(|m| {
                    let deps: Vec<&String> =
                        edges[m].iter().filter(|d| stuck.contains(d)).collect();
                    format!("{m} -> {deps:?}")
                })
                .collect();
            panic!("import cycle among cluster modules:\n{}", detail.join("\n"));
        }
    }
}

#[test]
fn a_cycle_is_found() {
    let mut g = Graph::new();
    g.insert("a".into(), ["b".to_string()].into());
    g.insert("b".into(), ["c".to_string()].into());
    g.insert("c".into(), ["a".to_string()].into());
    g.insert("d".into(), BTreeSet::new());
    assert_eq!(layers(&g), Err(vec!["a".into(), "b".into(), "c".into()]));
    g.get_mut("c").expect("c").clear();
    assert!(layers(&g).is_ok());
}
