//! Nix as the machine has it: its effective settings (`nix show-config`,
//! which honours NIX_CONF_DIR and the user's files).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use super::Unreadable;

/// Nix's effective settings (`nix show-config`).
#[derive(Debug, Clone)]
pub struct NixSettings {
    pub values: BTreeMap<String, String>,
}

impl NixSettings {
    pub fn list(&self, key: &str) -> Vec<String> {
        self.values.get(key).map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default()
    }
    pub fn sandbox_on(&self) -> bool {
        matches!(self.values.get("sandbox").map(String::as_str), Some("true") | Some("relaxed"))
    }
}

/// Reads Nix's effective settings.
pub fn settings() -> Result<NixSettings, Unreadable> {
    let out = Command::new("nix")
        .args(["--extra-experimental-features", "nix-command", "show-config"])
        .stdin(Stdio::null())
        .output()
        .map_err(|_| Unreadable {
            what: "Nix is not installed (no `nix` in PATH)".to_owned(),
            fix: "apt-get install nix-bin (Debian/Ubuntu), or the installer from nixos.org".to_owned(),
        })?;
    if !out.status.success() {
        return Err(Unreadable {
            what: format!("`nix show-config` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            fix: "fix the error it names in /etc/nix/nix.conf or ~/.config/nix/nix.conf".to_owned(),
        });
    }
    let values: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    Ok(NixSettings { values })
}
