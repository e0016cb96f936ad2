//! The CI workflow, `.github/workflows/crosslab.yml`, is one GitHub accepts
//! and runs only what crosslab's command line has: it validates against
//! GitHub's workflow schema (check-jsonschema's vendored copy, so offline),
//! and every `cargo xtask …` command in its `run:` steps, with each value of
//! its job's matrix put in, parses with the real CLI (`flags::Xtask`); the
//! matrix job's shards are 1..N of one N, so it runs the whole lab matrix.
//!
//! Needs check-jsonschema in crosslab's venv: `cargo xtask test` installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::Value;
use xtask::flags::{self, LabCommand};

mod common;

fn workflow_path() -> PathBuf {
    xtask::project_root().join(".github/workflows/crosslab.yml")
}

fn workflow() -> Value {
    let path = workflow_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("failed to read `{}`: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("`{}` is not YAML: {e}", path.display()))
}

/// `check-jsonschema --builtin-schema vendor.github-workflows FILE`.
fn check_jsonschema(file: &Path) -> std::process::Output {
    let tool = xtask::testsuite::TEST_PYPI_TOOLS.iter().find(|t| t.name == "check-jsonschema").unwrap();
    let program = tool.program().unwrap_or_else(|e| panic!("{e:#}"));
    Command::new(&program)
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("could not execute `{}`: {e}", program.display()))
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn the_workflow_is_valid_against_githubs_workflow_schema() {
    common::test_packages();
    xtask::testsuite::ensure_pypi_tools(&xshell::Shell::new().unwrap()).unwrap_or_else(|e| panic!("{e:#}"));
    let out = check_jsonschema(&workflow_path());
    assert!(out.status.success(), "{} is not a valid GitHub workflow:\n{}", workflow_path().display(), text(&out));

    // The check bites: the same file with a step key misspelt is rejected.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    let original = std::fs::read_to_string(workflow_path()).unwrap();
    assert!(original.contains("runs-on:"));
    std::fs::write(&broken, original.replacen("runs-on:", "runs_on:", 1)).unwrap();
    let out = check_jsonschema(&broken);
    assert!(!out.status.success(), "a job without runs-on passed the schema:\n{}", text(&out));
    assert!(text(&out).contains("runs_on") || text(&out).contains("runs-on"), "{}", text(&out));
}

/// One `cargo xtask …` command found in a workflow: the job, the step's
/// command line as it reads with the matrix values put in, and its words
/// after `cargo xtask`.
#[derive(Debug)]
struct XtaskCommand {
    job: String,
    line: String,
    args: Vec<String>,
}

/// Every `cargo xtask` command of every job's `run:` steps, once per
/// combination of the job's matrix values.
fn xtask_commands(workflow: &Value) -> Vec<XtaskCommand> {
    let mut found = Vec::new();
    for (job_name, job) in workflow["jobs"].as_object().expect("the workflow has jobs") {
        for values in matrix_combinations(job) {
            for step in job["steps"].as_array().into_iter().flatten() {
                let Some(script) = step["run"].as_str() else { continue };
                let mut script = script.to_owned();
                for (key, value) in &values {
                    script = script.replace(&format!("${{{{ matrix.{key} }}}}"), value);
                }
                for line in script.replace("\\\n", " ").lines() {
                    let Some(words) = shlex::split(line) else {
                        panic!("job {job_name}: unbalanced quotes in `{line}`")
                    };
                    let Some(at) = words.windows(2).position(|w| w[0] == "cargo" && w[1] == "xtask") else { continue };
                    let args: Vec<String> = words[at + 2..]
                        .iter()
                        .take_while(|w| {
                            !["|", "||", "&&", ";", "&"].contains(&w.as_str()) && !w.starts_with(['>', '<'])
                        })
                        .cloned()
                        .collect();
                    found.push(XtaskCommand { job: job_name.clone(), line: line.trim().to_owned(), args });
                }
            }
        }
    }
    found
}

/// Every combination of a job's `strategy.matrix` lists (one empty
/// combination without a matrix).
fn matrix_combinations(job: &Value) -> Vec<Vec<(String, String)>> {
    let mut combinations = vec![Vec::new()];
    let Some(matrix) = job["strategy"]["matrix"].as_object() else { return combinations };
    for (key, values) in matrix {
        let values = values
            .as_array()
            .unwrap_or_else(|| panic!("matrix.{key} is not a list (include/exclude are not read here)"));
        combinations = combinations
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let value = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let mut c = c.clone();
                    c.push((key.clone(), value));
                    c
                })
            })
            .collect();
    }
    combinations
}

fn parse(command: &XtaskCommand) -> Result<flags::Xtask, clap::Error> {
    flags::Xtask::try_parse_from(std::iter::once("cargo xtask".to_owned()).chain(command.args.iter().cloned()))
}

#[test]
fn every_cargo_xtask_command_in_the_workflow_parses_with_crosslabs_cli() {
    let commands = xtask_commands(&workflow());
    for command in &commands {
        assert!(!command.line.contains("${{"), "job {}: an expression left in `{}`", command.job, command.line);
        if let Err(e) = parse(command) {
            panic!("job {}: `{}` is not a crosslab command line:\n{e}", command.job, command.line);
        }
    }
    // What the workflow must run: the README's test command, every shard of
    // the matrix, and the render check before `nix flake check`.
    let parsed: Vec<(&str, flags::Xtask)> = commands.iter().map(|c| (c.job.as_str(), parse(c).unwrap())).collect();
    assert!(parsed.iter().any(|(_, x)| matches!(x.command, flags::Command::Test(_))), "{commands:#?}");
    assert!(
        parsed.iter().any(|(_, x)| matches!(&x.command, flags::Command::Lab(LabCommand::Render(r)) if r.check)),
        "{commands:#?}"
    );
    let mut shards: Vec<xtask::selection::Shard> = parsed
        .iter()
        .filter_map(|(_, x)| match &x.command {
            flags::Command::Lab(LabCommand::Matrix(m)) => {
                assert!(m.junit.is_some(), "the matrix job writes JUnit: {commands:#?}");
                Some(m.shard.expect("the matrix job is sharded"))
            }
            _ => None,
        })
        .collect();
    assert!(!shards.is_empty(), "no `cargo xtask lab matrix` in the workflow: {commands:#?}");
    shards.sort_by_key(|s| s.index);
    let count = shards[0].count;
    let indexes: Vec<usize> = shards.iter().map(|s| s.index).collect();
    assert!(shards.iter().all(|s| s.count == count), "the shards disagree on N: {shards:?}");
    assert_eq!(indexes, (1..=count).collect::<Vec<_>>(), "the matrix job's shards are not 1..{count} once each");
}

#[test]
fn a_command_the_cli_does_not_have_is_found_and_rejected() {
    // The check above bites: a renamed flag in a step, behind sudo and a
    // matrix value, with a redirection after it.
    let drifted: Value = serde_yaml_ng::from_str(
        r#"
jobs:
  matrix:
    strategy:
      matrix:
        shard: [1, 2]
    steps:
      - run: |
          sudo env "PATH=$PATH" cargo xtask lab matrix --shards ${{ matrix.shard }}/2 > out.md
"#,
    )
    .unwrap();
    let commands = xtask_commands(&drifted);
    assert_eq!(commands.len(), 2, "{commands:#?}");
    assert_eq!(commands[1].args, ["lab", "matrix", "--shards", "2/2"]);
    let e = parse(&commands[0]).unwrap_err();
    assert!(e.to_string().contains("--shards"), "{e}");
}
