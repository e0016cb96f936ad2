//! The nixos backend: a lab's rendered NixOS test run by Nix itself
//! (`nix build -L .#checks.x86_64-linux.<lab>`, or `.#crossChecks…` for a lab whose check builds from source), its verdicts read back from
//! the test driver's log. Every probe of a rendered test logs one result line
//! (`modules/crosslab_probe.py`); this module finds those lines in the build
//! log and judges each with the same [`judge`] as the other backends, so the
//! report, `--json` and `--junit` are theirs.
//!
//! The labs are rendered into a temporary flake (with the repository's
//! flake.lock), so a spec outside labs/ runs the same way. It is built by
//! the user's Nix as they would build it: their store, their daemon, their
//! settings. Before any Nix command that opens a store, [`preflight`]
//! decides whether it can run at all: without a store (no /nix, no daemon)
//! or without the locked nixpkgs (not in the store, not reachable), the run
//! stops within seconds (exit 2), creates nothing, and says what to do (a
//! local nixpkgs through `--override-input`).

pub mod preflight;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::flags;
use crate::outcome::judge;
use crate::outcome::Execution;
use crate::outcome::{LabReport, Verdict};
use crate::plan::{Plan, Probe};
use crate::render::{Render, VM_HOST_ARCH};

/// What marks a probe's result line in the driver's log (`RESULT_MARK` of
/// modules/crosslab_probe.py).
pub const RESULT_MARK: &str = "crosslab-probe ";

/// How long fetching the flake's inputs may take before crosslab gives up.
const FETCH_BOUND: Duration = Duration::from_secs(300);

/// How long one lab's `nix build` may take (evaluation, building the VM and
/// the payloads, booting, every probe); `CROSSLAB_NIXOS_TIMEOUT` (seconds)
/// overrides it. A first run builds much (a riscv64 payload cross-compiles
/// its toolchain unless a binary cache has it).
const BUILD_BOUND: Duration = Duration::from_secs(4 * 3600);

/// Options every nix call gets: flakes on (Nix 2.8 keeps them experimental),
/// and a network failure that shows at once instead of after retries.
const NIX_OPTIONS: &[&str] = &[
    "--extra-experimental-features",
    "nix-command flakes",
    "--option",
    "connect-timeout",
    "5",
    "--option",
    "download-attempts",
    "1",
];

/// One probe's result as the driver logged it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct LoggedResult {
    pub id: String,
    pub status: i32,
    pub duration_ms: u64,
    pub output: String,
}

/// Finds every result line in a build log: lines as the 25.05 driver's
/// TerminalLogger prints `Machine.log` (`machine: crosslab-probe {json}`),
/// prefixed by `nix build -L` with `vm-test-run-<lab>> ` or not. A line that
/// is not valid JSON after the mark (a cut or garbled line) is skipped.
pub fn parse_driver_log(log: &str) -> Vec<LoggedResult> {
    log.lines()
        .filter_map(|line| {
            let at = line.find(RESULT_MARK)?;
            serde_json::from_str(line[at + RESULT_MARK.len()..].trim_end()).ok()
        })
        .collect()
}

/// The verdicts of `plan` from a driver log: each probe judged on its logged
/// result; a probe the log has no result for did not run (the test ended
/// before it, or never started), and `why` says what the log ended with.
pub fn verdicts_from_log(plan: &Plan, results: &[LoggedResult], why: &str) -> Vec<Verdict> {
    plan.probes.iter().map(|probe| verdict_for(probe, results.iter().find(|r| r.id == probe.id()), why)).collect()
}

fn verdict_for(probe: &Probe, result: Option<&LoggedResult>, why: &str) -> Verdict {
    let execution = match result {
        // `timeout` in the VM (Machine.execute's bound) exits 124.
        Some(r) => Execution {
            exit_code: Some(r.status),
            signal: None,
            timed_out: r.status == 124,
            duration: Duration::from_millis(r.duration_ms),
            output: r.output.clone(),
        },
        // Never as expected, even for a probe expecting failure (see `judge`).
        None => Execution::no_result(format!("the NixOS test logged no result for this probe; {why}")),
    };
    judge(probe, execution)
}

/// `lab run --backend nixos`.
pub fn run_labs(
    flags: &flags::Run,
    root: &Path,
    labs: Vec<crate::spec::Lab>,
    report: &crate::run::Reporter,
) -> anyhow::Result<ExitCode> {
    if flags.allow_global {
        bail!("--allow-global is for the host backend; a NixOS test registers in its own VM");
    }
    let plans: Vec<Plan> = labs.iter().map(|l| Plan::new(l, VM_HOST_ARCH)).collect();
    let dir = tempfile::Builder::new()
        .prefix("crosslab-flake-")
        .tempdir()
        .context("failed to create a temporary directory")?;
    let flake = render_flake(root, &labs, dir.path())?;
    let pairs: Vec<(String, String)> = flags
        .override_input
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair.get(1).cloned().unwrap_or_default()))
        .collect();
    preflight::check(dir.path(), &pairs)?;
    let overrides: Vec<String> = flags
        .override_input
        .chunks(2)
        .flat_map(|pair| ["--override-input".to_owned(), pair[0].clone(), pair.get(1).cloned().unwrap_or_default()])
        .collect();
    fetch_inputs(&flake, &overrides)?;

    if flags.interactive {
        let [plan] = plans.as_slice() else {
            bail!("--interactive starts one lab's test driver; name exactly one lab");
        };
        return interactive(&flake, &overrides, plan, dir.path());
    }
    report(&plans, &mut |plan, on_verdict| run_check(&flake, &overrides, plan, on_verdict), &|plan, lab_report| {
        Ok(serde_json::to_string(&lab_report.to_json_diagnosed(plan))?)
    })
}

/// Renders `labs` into `dir` as `lab render --out` does; returns the flake reference.
fn render_flake(root: &Path, labs: &[crate::spec::Lab], dir: &Path) -> anyhow::Result<String> {
    let files = Render { root, labs, with_specs: false, with_modules: true }.files()?;
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        std::fs::write(&path, &file.text).with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(format!("path:{}", dir.display()))
}

fn nix() -> Command {
    let mut command = Command::new("nix");
    command.args(NIX_OPTIONS);
    command
}

/// Fetches the flake's inputs (nixpkgs), so that a machine that cannot
/// reach them learns it at once, with what to do.
fn fetch_inputs(flake: &str, overrides: &[String]) -> anyhow::Result<()> {
    let mut command = nix();
    command.args(["flake", "archive", "--json"]).arg(flake).args(overrides);
    let done = run_streaming(command, FETCH_BOUND, &mut |_| {})?;
    if done.timed_out {
        bail!("fetching the flake's inputs took longer than {} s; nothing was run", FETCH_BOUND.as_secs());
    }
    if done.exit_code != Some(0) {
        let tail = errors_or_tail(&done.output);
        if is_fetch_failure(&done.output) {
            bail!(
                "nixpkgs could not be fetched, so the NixOS tests cannot be built here (Nix said: {tail})\n  help: use a local nixpkgs checkout of nixos-25.05 (the revision in flake.lock): `cargo xtask lab run … --backend nixos --override-input nixpkgs path:/path/to/nixpkgs`"
            );
        }
        bail!("`nix flake archive {flake}` failed ({}): {tail}", status_text(&done));
    }
    Ok(())
}

/// Whether Nix's output says a download or fetch failed.
fn is_fetch_failure(output: &str) -> bool {
    ["unable to download", "Couldn't resolve host", "Could not resolve host", "unable to fetch", "Timeout was reached"]
        .iter()
        .any(|needle| output.contains(needle))
}

/// Builds one lab's check, judging each probe as its result line arrives.
fn run_check(
    flake: &str,
    overrides: &[String],
    plan: &Plan,
    on_verdict: &mut dyn FnMut(&Verdict),
) -> anyhow::Result<LabReport> {
    if let Some(why) = crate::render::closure::not_a_nixos_test(plan) {
        bail!("lab `{}` has no NixOS check: {why}\n  help: run it on the host or vm backend", plan.lab.name);
    }
    let attr = format!("{flake}#{}", crate::render::closure::flake_attr(plan));
    let mut command = nix();
    command.args(["build", "-L", "--no-link"]).arg(&attr).args(overrides);
    let mut seen: Vec<LoggedResult> = Vec::new();
    let mut verdicts: Vec<Verdict> = Vec::new();
    let done = run_streaming(command, build_bound(), &mut |line| {
        for result in parse_driver_log(line) {
            if let Some(probe) = plan.probes.iter().find(|p| p.id() == result.id) {
                let verdict = verdict_for(probe, Some(&result), "");
                on_verdict(&verdict);
                verdicts.push(verdict);
                seen.push(result);
            }
        }
    })?;
    if seen.is_empty() && done.exit_code != Some(0) {
        let tail = errors_or_tail(&done.output);
        if is_fetch_failure(&done.output) {
            bail!("`nix build {attr}` could not fetch what it needs ({tail})\n  help: build where Nix can reach the NixOS binary cache, or give it a local nixpkgs with --override-input nixpkgs path:…");
        }
        if done.timed_out {
            bail!("`nix build {attr}` took longer than {} s and was stopped: {tail}", build_bound().as_secs());
        }
        bail!("`nix build {attr}` failed before the test ran ({}): {tail}", status_text(&done));
    }
    let why = format!("the build ended ({}): {}", status_text(&done), errors_or_tail(&done.output));
    for probe in &plan.probes {
        if !seen.iter().any(|r| r.id == probe.id()) {
            let verdict = verdict_for(probe, None, &why);
            on_verdict(&verdict);
            verdicts.push(verdict);
        }
    }
    // In plan order, as the other backends report them.
    verdicts.sort_by_key(|v| plan.probes.iter().position(|p| p.id() == v.probe.id()));
    Ok(LabReport { lab: plan.lab.name.clone(), backend: "nixos", verdicts, versions: None })
}

/// `--interactive`: builds the check's `driverInteractive` and starts it on
/// this terminal (the driver's Python prompt: `start_all()`, `run_tests()`).
fn interactive(flake: &str, overrides: &[String], plan: &Plan, dir: &Path) -> anyhow::Result<ExitCode> {
    let attr = format!("{flake}#{}.driverInteractive", crate::render::closure::flake_attr(plan));
    let link: PathBuf = dir.join("driver-interactive");
    let mut command = nix();
    command.args(["build", "-L", "--out-link"]).arg(&link).arg(&attr).args(overrides);
    let done = run_streaming(command, build_bound(), &mut |line| eprintln!("{line}"))?;
    if done.exit_code != Some(0) {
        bail!("`nix build {attr}` failed ({}): {}", status_text(&done), last_lines(&done.output, 8));
    }
    let driver = link.join("bin/nixos-test-driver");
    let status = Command::new(&driver).status().with_context(|| format!("could not execute `{}`", driver.display()))?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A nix call, its output handed to `on_line` line by line as it comes, its
/// process group killed after `bound` ([`crate::run::process`], as probes run).
fn run_streaming(mut command: Command, bound: Duration, on_line: &mut dyn FnMut(&str)) -> anyhow::Result<Execution> {
    command.stdin(Stdio::null());
    crate::run::process::run_bounded_lines(command, bound, || {}, Some(on_line))
}

fn build_bound() -> Duration {
    std::env::var("CROSSLAB_NIXOS_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(BUILD_BOUND)
}

fn status_text(done: &Execution) -> String {
    match (done.timed_out, done.exit_code) {
        (true, _) => "timed out".to_owned(),
        (_, Some(code)) => format!("exit status {code}"),
        (_, None) => "killed by a signal".to_owned(),
    }
}

/// Nix's `error:` lines, or the last lines when it printed none.
fn errors_or_tail(text: &str) -> String {
    let errors: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("error:")).collect();
    if errors.is_empty() {
        last_lines(text, 6)
    } else {
        errors.join(" | ")
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
