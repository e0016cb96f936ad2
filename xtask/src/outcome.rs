//! A run's outcome, as data: how each probe's command ended ([`Execution`]),
//! its [`Verdict`] against the spec's expectation, a lab's [`LabReport`] and the
//! [`Versions`] it ran with. Backends produce these; reports, diagnoses and
//! commands read them. Nothing here runs or prints anything.

use std::time::Duration;

use serde::Serialize;

use crate::plan::{CompileTimes, Probe};
use crate::spec::{Expect, ProbeKind};

/// How a command ended, and what it printed.
#[derive(Debug)]
pub struct Execution {
    /// Exit code, or `None` when killed by a signal or the timeout.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    /// stdout and stderr interleaved, decoded lossily, bounded.
    pub output: String,
}

impl Execution {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A probe that never ran (the nixos backend's test ended before it):
    /// no exit code, no signal, no timeout. Every command that ran has one
    /// of those, so this is never mistaken for a real failure.
    pub fn no_result(why: String) -> Execution {
        Execution { exit_code: None, signal: None, timed_out: false, duration: Duration::ZERO, output: why }
    }

    /// Whether the command ran to an end: it exited, was killed or timed out.
    pub fn ran(&self) -> bool {
        self.exit_code.is_some() || self.signal.is_some() || self.timed_out
    }
}

/// One probe's outcome, judged against its expectation.
#[derive(Debug)]
pub struct Verdict {
    pub probe: Probe,
    pub execution: Execution,
    /// Exit status 0 within the timeout.
    pub passed: bool,
    pub as_expected: bool,
}

/// A verdict in one word, the same in every output: `--json`, `lab matrix`,
/// JUnit's failure type, and the terminal (which writes surprises in upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictWord {
    /// Passed, as expected.
    Pass,
    /// Failed, as expected: the reported failure reproduced.
    Xfail,
    /// Failed, but should have passed.
    Fail,
    /// Passed, but should have failed: the reported failure is gone.
    Xpass,
    /// Stopped at its timeout; never as expected.
    Timeout,
}

impl VerdictWord {
    pub const ALL: [VerdictWord; 5] =
        [VerdictWord::Pass, VerdictWord::Xfail, VerdictWord::Fail, VerdictWord::Xpass, VerdictWord::Timeout];

    pub fn as_str(self) -> &'static str {
        match self {
            VerdictWord::Pass => "pass",
            VerdictWord::Xfail => "xfail",
            VerdictWord::Fail => "fail",
            VerdictWord::Xpass => "xpass",
            VerdictWord::Timeout => "timeout",
        }
    }
}

impl Verdict {
    /// The verdict's word.
    pub fn word(&self) -> VerdictWord {
        match (self.as_expected, self.passed, self.execution.timed_out) {
            (_, _, true) => VerdictWord::Timeout,
            (true, true, _) => VerdictWord::Pass,
            (true, false, _) => VerdictWord::Xfail,
            (false, true, _) if self.probe.expect.status == Expect::Fail => VerdictWord::Xpass,
            (false, _, _) => VerdictWord::Fail,
        }
    }

    /// [`Verdict::word`] as the terminal shows it: `pass`, `xfail`, and the
    /// surprises in upper case: `FAIL`, `XPASS`, `TIMEOUT`.
    pub fn label(&self) -> &'static str {
        match self.word() {
            VerdictWord::Pass => "pass",
            VerdictWord::Xfail => "xfail",
            VerdictWord::Fail => "FAIL",
            VerdictWord::Xpass => "XPASS",
            VerdictWord::Timeout => "TIMEOUT",
        }
    }

    /// A `compile` probe's emulated and cross compile times, when it got that far.
    pub fn compile_times(&self) -> Option<CompileTimes> {
        (self.probe.kind == ProbeKind::Compile).then(|| CompileTimes::from_output(&self.execution.output)).flatten()
    }

    /// `✓` for an outcome as expected, `✗` for one that is not.
    pub fn mark(&self) -> &'static str {
        if self.as_expected {
            "✓"
        } else {
            "✗"
        }
    }

    /// How the command ended, in words: `exit status 1`, `killed by signal 9`.
    pub fn status_text(&self) -> String {
        match (self.execution.timed_out, self.execution.exit_code, self.execution.signal) {
            // A backend may give a slow probe more than the spec's timeout (a TCG guest).
            (true, _, _) => {
                format!("timed out after {} s", self.execution.duration.as_secs().max(self.probe.timeout.as_secs()))
            }
            (_, Some(c), _) => format!("exit status {c}"),
            (_, None, Some(s)) => format!("killed by signal {s}"),
            (false, None, None) => "no result: the probe did not run".to_owned(),
        }
    }
}

/// Every verdict of one lab on one backend.
#[derive(Debug)]
pub struct LabReport {
    pub lab: String,
    pub backend: &'static str,
    pub verdicts: Vec<Verdict>,
    /// The stack the lab ran on and its Nix, qemu and kernel, when a
    /// session ran it (JUnit records them).
    pub versions: Option<Versions>,
}

impl LabReport {
    pub fn all_as_expected(&self) -> bool {
        self.verdicts.iter().all(|v| v.as_expected)
    }
}

/// The versions a run used, for reports: the stack, its Nix and qemu, and the
/// kernel the probes ran on. Nix and qemu are upstream versions (`2.34.8`,
/// `11.1.2`) whichever way they were read, so stacks compare at a glance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Versions {
    pub stack: &'static str,
    pub nix: String,
    /// qemu-user's upstream version as the emulators print it (`7.2.19`),
    /// on every stack and backend; one for all its systems.
    pub qemu: String,
    /// The Debian package that qemu-user came from (`qemu-user-static`), or "unknown".
    pub qemu_package: String,
    pub kernel: String,
}

impl Versions {
    /// `Nix 2.34.8, qemu 11.1.2`: what a matrix column header says of its stack.
    pub fn tools(&self) -> String {
        format!("Nix {}, qemu {}", self.nix, self.qemu)
    }

    /// The names a table `expect-output` may give this run by: its stack,
    /// then its Nix as `nix-<major>.<minor>` (`nix-2.8`).
    pub fn keys(&self) -> Vec<String> {
        let mut keys = vec![self.stack.to_owned()];
        let mut parts = self.nix.split('.');
        if let (Some(major), Some(minor)) = (parts.next(), parts.next()) {
            if major.chars().all(|c| c.is_ascii_digit()) && minor.chars().all(|c| c.is_ascii_digit()) {
                keys.push(format!("nix-{major}.{minor}"));
            }
        }
        keys
    }
}

/// Judges one probe's execution against its expectation. A timeout, or no
/// result at all (the probe never ran), is never as expected, whatever the
/// spec expects: a probe expecting failure must fail for real.
pub fn judge(probe: &Probe, execution: Execution) -> Verdict {
    let passed = execution.succeeded();
    let as_expected = execution.ran() && !execution.timed_out && probe.expect.is_met(passed, &execution.output);
    Verdict { probe: probe.clone(), execution, passed, as_expected }
}
