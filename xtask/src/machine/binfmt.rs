//! binfmt_misc as the machine has it: its entries (read from the mounted
//! instance, or from the global one in a private mount namespace when the
//! host has none mounted), and which tool's files register an entry at boot.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use super::Unreadable;
use crate::registrations::{self, KernelEntry, Tool};
use crate::systems::{NixSystem, BINFMT_DIR};

/// One entry of binfmt_misc, as its status file shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub enabled: bool,
    pub interpreter: String,
    pub flags: String,
    pub system: Option<&'static NixSystem>,
    /// The registering tool that writes exactly this entry, if one does.
    pub tool: Option<&'static Tool>,
}

/// How binfmt_misc was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinfmtMount {
    /// Mounted at [`BINFMT_DIR`]: read there.
    Mounted,
    /// An automount point (systemd's `proc-sys-fs-binfmt_misc.automount`)
    /// not yet mounted: not triggered, so no entry was read.
    Automount,
    /// Not mounted: the global instance was read in a private mount namespace.
    ReadPrivately,
}

/// binfmt_misc as read.
#[derive(Debug, Clone)]
pub struct BinfmtMisc {
    pub mount: BinfmtMount,
    /// `status` says `disabled`: no entry serves anything.
    pub disabled: bool,
    pub entries: Vec<Entry>,
}

/// Reads binfmt_misc without changing it: the mounted instance, or the global
/// one through a private mount namespace when the host has none mounted (an
/// automount point is left untouched).
pub fn read() -> Result<BinfmtMisc, Unreadable> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounted_as = |fstype: &str| {
        mountinfo.lines().any(|l| {
            let mut halves = l.splitn(2, " - ");
            let (left, right) = (halves.next().unwrap_or(""), halves.next().unwrap_or(""));
            left.split(' ').nth(4) == Some(BINFMT_DIR) && right.split(' ').next() == Some(fstype)
        })
    };
    let (mount, dump) = if mounted_as("binfmt_misc") {
        (BinfmtMount::Mounted, read_binfmt_dir(Path::new(BINFMT_DIR)))
    } else if mounted_as("autofs") {
        return Ok(BinfmtMisc { mount: BinfmtMount::Automount, disabled: false, entries: Vec::new() });
    } else {
        let script = format!(
            "mount -t binfmt_misc binfmt_misc {BINFMT_DIR} || exit 3\ncd {BINFMT_DIR} || exit 3\nfor f in *; do [ \"$f\" = register ] && continue; printf '==> %s\\n' \"$f\"; cat \"$f\"; done"
        );
        match Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c", &script])
            .stdin(Stdio::null())
            .output()
        {
            Ok(out) if out.status.success() => {
                (BinfmtMount::ReadPrivately, parse_dump(&String::from_utf8_lossy(&out.stdout)))
            }
            Ok(out) => {
                return Err(Unreadable {
                    what: format!(
                        "cannot read the global binfmt_misc: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                    fix: "run as root (mounting binfmt_misc, even privately, needs it)".to_owned(),
                })
            }
            Err(e) => {
                return Err(Unreadable {
                    what: format!("could not execute `unshare`: {e}"),
                    fix: "install util-linux".to_owned(),
                })
            }
        }
    };
    let disabled = dump.get("status").map(|s| s.trim()) == Some("disabled");
    let entries =
        dump.iter().filter(|(n, _)| n.as_str() != "status").map(|(name, text)| parse_entry(name, text)).collect();
    Ok(BinfmtMisc { mount, disabled, entries })
}

/// One entry from its status file's text.
pub fn parse_entry(name: &str, text: &str) -> Entry {
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or("").trim().to_owned();
    // Its system by its magic under its own mask, whichever tool wrote it.
    let found = registrations::identify(&KernelEntry {
        interpreter: field("interpreter "),
        flags: field("flags:"),
        offset: field("offset ").parse().unwrap_or(0),
        magic_hex: field("magic "),
        mask_hex: field("mask "),
    });
    Entry {
        name: name.to_owned(),
        enabled: text.lines().next() == Some("enabled"),
        interpreter: field("interpreter "),
        flags: field("flags:"),
        system: found.map(|f| f.system),
        tool: found.and_then(|f| f.tool),
    }
}

fn read_binfmt_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "register" {
            out.insert(name, std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    out
}

/// Parses `==> name` blocks.
fn parse_dump(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("==> ") {
            current = Some(name.to_owned());
            out.insert(name.to_owned(), String::new());
        } else if let Some(name) = &current {
            let body = out.get_mut(name).expect("inserted");
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The tool whose files on this machine register an entry called `name` at
/// boot: binfmt-support's database, or a systemd-binfmt file (the first of
/// /etc, /run, /usr/lib that has it, as systemd reads them).
pub fn registering_tool(name: &str) -> Option<String> {
    if Path::new("/var/lib/binfmts").join(name).exists() {
        return Some(format!("binfmt-support (`update-binfmts --display {name}`)"));
    }
    ["/etc/binfmt.d", "/run/binfmt.d", "/usr/lib/binfmt.d"]
        .iter()
        .map(|dir| Path::new(dir).join(format!("{name}.conf")))
        .find(|file| file.exists())
        .map(|file| format!("systemd-binfmt ({})", file.display()))
}
