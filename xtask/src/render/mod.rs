//! Rendering labs to the flake: `flake.nix` and one NixOS test per lab.

use std::path::Path;
use std::process::ExitCode;

use crate::flags;

impl flags::Render {
    pub fn run(self, _root: &Path) -> anyhow::Result<ExitCode> {
        anyhow::bail!("lab render: not implemented yet")
    }
}
