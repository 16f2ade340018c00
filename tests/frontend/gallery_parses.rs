//! The scenario gallery (`scenarios/`) stays loadable and self-describing: every file parses in
//! the subset, opens with a one-sentence description, and expects what its folder promises.
//! Running the scenarios is `tests/scenarios.rs`'s job; this test only guards the files.

use std::fs;
use std::path::{Path, PathBuf};

use leakharness::scenario::{load, Expect};

/// The gallery promises at least this many scenarios (issue 7).
const MIN_SCENARIOS: usize = 26;

fn gallery_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn collect_py(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect_py(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "py") {
            out.push(path);
        }
    }
}

fn gallery() -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect_py(&gallery_root(), &mut files);
    files.sort();
    files
}

/// The path relative to `scenarios/`, with `/` separators, as the README and test names use it.
fn relative(path: &Path) -> String {
    let rel = path
        .strip_prefix(gallery_root())
        .expect("file under scenarios/");
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `expect` is what a scenario in `folder` must say.
fn folder_allows(folder: &str, expect: &Expect) -> Result<(), String> {
    match (folder, expect) {
        ("clean" | "memory", Expect::Clean) => Ok(()),
        ("leaks", Expect::Leak(kinds)) if !kinds.is_empty() => Ok(()),
        ("leaks", Expect::Leak(_)) => Err("a leak scenario names the kinds it expects".into()),
        ("bounded", Expect::BoundedGrowth) => Ok(()),
        ("oom", Expect::Oom) => Ok(()),
        // Code from public bug threads: whatever the thread settled, leak, clean or error.
        ("real", _) => Ok(()),
        ("errors", Expect::Error) => Ok(()),
        ("clean" | "memory" | "leaks" | "bounded" | "oom" | "errors", other) => {
            Err(format!("folder `{folder}` does not fit `{other:?}`"))
        }
        _ => Err(format!(
            "unknown folder `{folder}`; use clean, memory, leaks, bounded, oom, errors or real"
        )),
    }
}

#[test]
fn every_gallery_scenario_parses_describes_itself_and_expects_what_its_folder_says() {
    let files = gallery();
    assert!(
        files.len() >= MIN_SCENARIOS,
        "the gallery has {} scenarios, fewer than {MIN_SCENARIOS}",
        files.len()
    );

    let mut problems = Vec::new();
    for path in &files {
        let rel = relative(path);
        let scenario = match load(path) {
            Ok(scenario) => scenario,
            Err(error) => {
                problems.push(format!("{rel}: does not load:\n{error}"));
                continue;
            }
        };

        let first_line = scenario.source.lines().next().unwrap_or("");
        if !first_line.starts_with("# ") || first_line.starts_with("#@") {
            problems.push(format!(
                "{rel}: the first line must be a `# ...` description, found `{first_line}`"
            ));
        }
        match scenario.header.description.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => {
                if !text.ends_with('.') {
                    problems.push(format!(
                        "{rel}: the description is one sentence ending in `.`"
                    ));
                }
            }
            _ => problems.push(format!("{rel}: no description in the header")),
        }

        let folder = rel.split('/').next().unwrap_or("");
        let cites_its_source = scenario
            .header
            .description
            .as_deref()
            .is_some_and(|d| d.contains("(https://"));
        if folder == "real" && !cites_its_source {
            problems.push(format!(
                "{rel}: a real scenario cites its thread: `(https://...)` in the description"
            ));
        }
        if let Err(why) = folder_allows(folder, &scenario.header.expect) {
            problems.push(format!("{rel}: {why}"));
        }
    }

    assert!(
        problems.is_empty(),
        "{} problem(s) in the gallery:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn the_gallery_readme_lists_every_scenario() {
    let readme_path = gallery_root().join("README.md");
    let readme = fs::read_to_string(&readme_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme_path.display()));
    let missing: Vec<String> = gallery()
        .iter()
        .map(|path| relative(path))
        .filter(|rel| !readme.contains(&format!("`{rel}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "scenarios/README.md does not list: {}",
        missing.join(", ")
    );
}
