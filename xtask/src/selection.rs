//! Which of a plan's probes run: `--system` and `--probe` of `lab run` (and
//! `--probe` of `lab matrix`). The lab is set up as written (every
//! registration, the whole Nix configuration); only the probes are chosen.

use anyhow::bail;

use crate::plan::{Plan, Probe};
use crate::spec::ProbeKind;
use crate::systems::NixSystem;

/// A choice of probes; empty lists choose everything.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Nix doubles: only probes for these systems.
    pub systems: Vec<String>,
    /// Probe kinds (`build`), `[[probe]]` indexes (`3`) or both (`build[3]`).
    pub probes: Vec<String>,
}

impl Selection {
    /// Keeps the probes of `plan` this selection chooses. Errors (exit 2)
    /// when a word names nothing: no such system or kind, or none of the
    /// lab's probes matches.
    pub fn apply(&self, plan: &mut Plan) -> anyhow::Result<()> {
        let lab: &crate::spec::Lab = plan.lab;
        for wanted in &self.systems {
            let Some(system) = NixSystem::find(wanted) else {
                bail!(
                    "--system: unknown system `{wanted}`\n  help: lab `{}` emulates {}",
                    lab.name,
                    lab.systems.iter().map(|s| s.double).collect::<Vec<_>>().join(", ")
                );
            };
            if !lab.systems.contains(&system) {
                bail!(
                    "--system: lab `{}` does not emulate `{wanted}`\n  help: its systems are {}",
                    lab.name,
                    lab.systems.iter().map(|s| s.double).collect::<Vec<_>>().join(", ")
                );
            }
        }
        let matchers = self.probes.iter().map(|p| ProbeMatcher::parse(p)).collect::<anyhow::Result<Vec<_>>>()?;
        plan.probes.retain(|probe| {
            (self.systems.is_empty() || self.systems.iter().any(|s| s == probe.system.double))
                && (matchers.is_empty() || matchers.iter().any(|m| m.matches(probe)))
        });
        if plan.probes.is_empty() {
            let kinds: Vec<String> =
                lab.probes.iter().enumerate().map(|(i, p)| format!("{}[{i}]", p.kind.as_str())).collect();
            bail!(
                "no probe of lab `{}` is chosen by {}\n  help: its probes are {}",
                lab.name,
                self.describe(),
                kinds.join(", ")
            );
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.systems.iter().map(|s| format!("--system {s}")).collect();
        parts.extend(self.probes.iter().map(|p| format!("--probe {p}")));
        parts.join(" ")
    }
}

/// One `--probe` word.
struct ProbeMatcher {
    kind: Option<ProbeKind>,
    index: Option<usize>,
}

impl ProbeMatcher {
    fn parse(word: &str) -> anyhow::Result<ProbeMatcher> {
        let (kind, index) = match word.split_once('[') {
            Some((kind, rest)) => (Some(kind), Some(rest.strip_suffix(']').unwrap_or(rest))),
            None if word.chars().all(|c| c.is_ascii_digit()) => (None, Some(word)),
            None => (Some(word), None),
        };
        let kind = match kind {
            None => None,
            Some(k) => match ProbeKind::named(k) {
                Some(k) => Some(k),
                None => bail!(
                    "--probe: `{word}` names no probe kind\n  help: give a kind ({}), an index of a [[probe]] (0, 1, …) or both (`build[3]`)",
                    ProbeKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                ),
            },
        };
        let index = match index.map(str::parse::<usize>) {
            None => None,
            Some(Ok(i)) => Some(i),
            Some(Err(_)) => bail!("--probe: `{word}`: the index is a number, as in `build[3]`"),
        };
        Ok(ProbeMatcher { kind, index })
    }

    fn matches(&self, probe: &Probe) -> bool {
        self.kind.is_none_or(|k| k == probe.kind) && self.index.is_none_or(|i| i == probe.index)
    }
}

/// `--shard K/N`: the K-th of N shards of the matrix's lab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based, as CI matrices count.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The items of this shard: every N-th, from the K-th. Dealt round-robin
    /// rather than cut in runs, so labs sorted by name (similar labs side by
    /// side, e.g. the `emulated-compile*` ones that make toolchains) spread
    /// over the shards; the shards of 1..N are disjoint and cover `items`.
    pub fn take<T>(&self, items: Vec<T>) -> Vec<T> {
        items.into_iter().enumerate().filter(|(i, _)| i % self.count == self.index - 1).map(|(_, t)| t).collect()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `K/N` with 1 ≤ K ≤ N. (clap puts `invalid value '…' for '--shard <K/N>'` before the error.)
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = "give K/N, shard K of N with 1 ≤ K ≤ N, e.g. `--shard 1/3`";
        let Some((k, n)) = text.split_once('/') else {
            return Err(format!("`{text}` is not K/N\n  help: {usage}"));
        };
        let number = |part: &str, what: &str| {
            part.trim().parse::<usize>().map_err(|_| format!("{what} `{part}` is not a whole number\n  help: {usage}"))
        };
        let (index, count) = (number(k, "K")?, number(n, "N")?);
        if count == 0 {
            return Err(format!("there is no shard of 0 shards (N = 0)\n  help: {usage}"));
        }
        if index == 0 || index > count {
            return Err(format!(
                "shard {index} of {count} does not exist: shards count from 1 to {count}\n  help: {usage}"
            ));
        }
        Ok(Shard { index, count })
    }
}
