//! The uid/gid maps of a lab's user namespace. Nix's sandbox calls
//! `setgroups`, which a namespace with `--map-root-user`'s single mapping
//! forbids (`/proc/<pid>/setgroups` is "deny"): with the default
//! `sandbox-fallback = true`, Nix then builds without its sandbox, hiding the
//! very bugs labs reproduce. So the maps are written from outside:
//!
//! - as root, every uid and gid maps to itself;
//! - as another user, through the setuid `newuidmap`/`newgidmap` (Debian's
//!   `uidmap`): uid 0 in the lab is the user, uids 1… are the user's
//!   subordinate ids from `/etc/subuid` and `/etc/subgid`.

use std::path::Path;

use anyhow::{bail, Context};

/// How a lab's user namespace gets its uid/gid maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMap {
    /// Root: every id maps to itself.
    Identity,
    /// Another user: 0 is the user, 1… their subordinate ranges.
    Subordinate { uid: u32, gid: u32, subuids: (u32, u32), subgids: (u32, u32) },
}

impl IdMap {
    /// The map for the user running crosslab, or why there is none, with
    /// the commands that make one.
    pub fn for_current_user() -> anyhow::Result<IdMap> {
        // SAFETY: these calls cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if uid == 0 {
            return Ok(IdMap::Identity);
        }
        let name = user_name(uid).unwrap_or_else(|| uid.to_string());
        let group = group_name(gid).unwrap_or_else(|| gid.to_string());
        let missing: Vec<&str> =
            ["/usr/bin/newuidmap", "/usr/bin/newgidmap"].into_iter().filter(|p| !Path::new(p).exists()).collect();
        if !missing.is_empty() {
            bail!(
                "running a lab as {name} (not root) needs {}, from Debian's uidmap\n  help: sudo apt-get install uidmap, or run as root",
                missing.join(" and ")
            );
        }
        let subuids = subordinate("/etc/subuid", &[&name, &uid.to_string()]);
        let subgids = subordinate("/etc/subgid", &[&name, &group, &uid.to_string(), &gid.to_string()]);
        match (subuids, subgids) {
            (Some(subuids), Some(subgids)) => Ok(IdMap::Subordinate { uid, gid, subuids, subgids }),
            _ => bail!(
                "running a lab as {name} (not root) needs subordinate uids and gids for {name} in /etc/subuid and /etc/subgid\n  help: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}, or run as root"
            ),
        }
    }

    /// Writes the maps of process `pid`, which has entered its new user
    /// namespace.
    pub fn apply(&self, pid: u32) -> anyhow::Result<()> {
        match self {
            IdMap::Identity => {
                for file in ["uid_map", "gid_map"] {
                    let path = format!("/proc/{pid}/{file}");
                    std::fs::write(&path, "0 0 4294967295\n").with_context(|| format!("failed to write `{path}`"))?;
                }
            }
            IdMap::Subordinate { uid, gid, subuids, subgids } => {
                for (tool, id, (start, count)) in [("newuidmap", uid, subuids), ("newgidmap", gid, subgids)] {
                    let out = std::process::Command::new(tool)
                        .args([pid.to_string(), "0".into(), id.to_string(), "1".into(), "1".into()])
                        .args([start.to_string(), count.to_string()])
                        .output()
                        .with_context(|| format!("could not execute `{tool}` (Debian package uidmap)"))?;
                    if !out.status.success() {
                        bail!("{tool} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The first range `name:start:count` of `file` whose name is one of `names`.
fn subordinate(file: &str, names: &[&str]) -> Option<(u32, u32)> {
    parse_subordinate(&std::fs::read_to_string(file).ok()?, names)
}

/// The first `name:start:count` line of `text` for one of `names`.
pub fn parse_subordinate(text: &str, names: &[&str]) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut fields = line.trim().split(':');
        let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        if !names.contains(&who) {
            return None;
        }
        let count: u32 = count.parse().ok().filter(|&c| c > 0)?;
        Some((start.parse().ok()?, count))
    })
}

fn user_name(uid: u32) -> Option<String> {
    lookup("/etc/passwd", uid)
}

fn group_name(gid: u32) -> Option<String> {
    lookup("/etc/group", gid)
}

/// The name whose third field (the id) is `id` in a passwd-style file.
fn lookup(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == id.to_string()).then(|| f[0].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_subordinate;

    #[test]
    fn subordinate_ranges_are_found_by_name_or_id() {
        let text = "alice:100000:65536\n1001:165536:65536\nbad line\ncarol:x:1\ndave:300000:0\n";
        assert_eq!(parse_subordinate(text, &["alice", "1000"]), Some((100000, 65536)));
        assert_eq!(parse_subordinate(text, &["bob", "1001"]), Some((165536, 65536)));
        assert_eq!(parse_subordinate(text, &["carol"]), None, "a range that does not parse");
        assert_eq!(parse_subordinate(text, &["dave"]), None, "an empty range");
        assert_eq!(parse_subordinate(text, &["erin"]), None);
    }
}
