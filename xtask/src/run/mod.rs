//! `lab run`: executing a plan's probes on a backend and judging each outcome.

use std::path::Path;
use std::process::ExitCode;

use crate::flags;

impl flags::Run {
    pub fn run(self, _root: &Path) -> anyhow::Result<ExitCode> {
        anyhow::bail!("lab run: not implemented yet")
    }
}
