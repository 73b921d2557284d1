//! The data flow reads one way: each stage of `src/` imports only the stages below it
//! (ARCHITECTURE.md, "Which way imports run"), and no source file grows into several things.
//!
//! The check reads the source as text: every `crate::STAGE` path outside a comment, in every
//! file of a stage, must name the stage itself or one it may import. `super::` paths stay inside
//! a stage by construction. It fails with the file, the line and the rule it breaks.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Each stage and the stages it may import, bottom to top. A stage not listed here fails the
/// test, so a new module has to take its place in the picture.
const LAYERS: &[(&str, &[&str])] = &[
    ("tick", &[]),
    ("clock", &[]),
    ("slot", &[]),
    ("metrics", &["tick"]),
    ("auth", &["tick"]),
    ("frame", &["tick"]),
    ("ring", &["tick", "slot", "frame"]),
    ("cache", &["tick", "slot", "frame", "ring"]),
    (
        "feed",
        &["tick", "clock", "slot", "metrics", "frame", "ring", "cache"],
    ),
    (
        "replay",
        &[
            "tick", "clock", "slot", "metrics", "frame", "ring", "cache", "feed",
        ],
    ),
    (
        "cluster",
        &[
            "tick", "clock", "slot", "metrics", "frame", "ring", "cache", "feed",
        ],
    ),
    (
        "shard",
        &["tick", "clock", "slot", "metrics", "frame", "ring", "cache"],
    ),
    (
        "http",
        &[
            "tick", "clock", "slot", "metrics", "frame", "ring", "cache", "shard", "auth",
        ],
    ),
    (
        "config",
        &[
            "tick", "clock", "slot", "metrics", "frame", "ring", "cache", "feed", "replay",
            "shard", "http", "auth", "cluster",
        ],
    ),
    (
        "server",
        &[
            "tick", "clock", "slot", "metrics", "frame", "ring", "cache", "feed", "replay",
            "shard", "http", "config", "auth", "cluster",
        ],
    ),
];

/// Longest source file, in lines (tests included): past this a file holds several things.
const MAX_FILE_LINES: usize = 1_000;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The stage a file belongs to: its first path component under `src/`, without `.rs`.
fn stage_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("file under src");
    let first = relative
        .components()
        .next()
        .expect("non-empty path")
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The stages named by `crate::NAME` in one line of code.
fn crate_paths(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("crate::").filter_map(move |(at, _)| {
        // `tickcast::crate::` cannot occur; a preceding identifier character means another
        // path (`$crate::`, `my_crate::`), which is not ours.
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            return None;
        }
        let rest = &line[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// The code of a line: without a `//` comment (doc comments included) and string contents are
/// not parsed; a path inside a string literal would count, and none of ours has one.
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

#[test]
fn stages_import_only_what_lies_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let known: BTreeSet<&str> = LAYERS.iter().map(|(stage, _)| *stage).collect();
    let mut broken = Vec::new();
    for file in &files {
        let stage = stage_of(&src, file);
        if stage == "lib" || stage == "main" {
            continue;
        }
        let Some((_, allowed)) = LAYERS.iter().find(|(s, _)| *s == stage) else {
            broken.push(format!(
                "{}: stage `{stage}` has no place in LAYERS",
                file.display()
            ));
            continue;
        };
        let text = fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for target in crate_paths(code_of(line)) {
                if target == stage || allowed.contains(&target) {
                    continue;
                }
                let why = if known.contains(target) {
                    "lies above it or beside it"
                } else {
                    "is not a stage"
                };
                broken.push(format!(
                    "{}:{}: `{stage}` imports `crate::{target}`, which {why}",
                    file.display(),
                    n + 1
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the flow:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_source_file_holds_several_things() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = fs::read_to_string(file)
                .expect("read source")
                .lines()
                .count();
            (lines > MAX_FILE_LINES).then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines (split them along what they own):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_an_import_against_the_flow() {
    let found: Vec<&str> =
        crate_paths(code_of("use crate::http::serve; // crate::config")).collect();
    assert_eq!(found, ["http"]);
    assert_eq!(crate_paths(code_of("/// see [`crate::shard`]")).count(), 0);
    assert_eq!(crate_paths("$crate::x my_crate::y").count(), 0);
    assert_eq!(
        crate_paths("let f = crate::frame::write_json(&mut b, crate::tick::MAX);")
            .collect::<Vec<_>>(),
        ["frame", "tick"]
    );
}
