//! `cargo xtask bench`: `lab run` against the bare commands it wraps.

use std::path::Path;
use std::process::ExitCode;

use crate::flags;

impl flags::Bench {
    pub fn run(self, _root: &Path) -> anyhow::Result<ExitCode> {
        anyhow::bail!("bench: not implemented yet")
    }
}
