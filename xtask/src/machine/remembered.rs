//! What crosslab measured about this machine once and keeps in its cache
//! (`<cache>/machine/`), so that each run does not measure it again: what
//! cannot change within a boot (binfmt_misc namespaces: keyed by the
//! kernel's boot id) and what cannot change until a program does (its
//! version: keyed by its path, size and modification time).
//!
//! A missing, unreadable or stale entry is measured again; an entry that
//! cannot be written is measured again next time. Never an error.

use std::path::{Path, PathBuf};

/// crosslab's per-user cache: `$CROSSLAB_CACHE`, else `$XDG_CACHE_HOME/crosslab`,
/// else `~/.cache/crosslab`.
pub fn cache_dir() -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    if let Some(dir) = std::env::var_os("CROSSLAB_CACHE") {
        return Ok(dir.into());
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(std::path::PathBuf::from(dir).join("crosslab"));
    }
    let home = std::env::var_os("HOME").context("neither CROSSLAB_CACHE, XDG_CACHE_HOME nor HOME is set")?;
    Ok(std::path::PathBuf::from(home).join(".cache/crosslab"))
}

/// This boot's id, which the kernel makes anew at every boot.
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

fn file(name: &str) -> Option<PathBuf> {
    Some(cache_dir().ok()?.join("machine").join(name))
}

/// The value remembered for `key` in the file `name` (lines `key\tvalue`).
pub fn recall(name: &str, key: &str) -> Option<String> {
    recall_in(&file(name)?, key)
}

fn recall_in(path: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('\t')).map(str::to_owned)
}

/// Remembers `value` for `key` in the file `name`, in place of the lines
/// `replaces` says are the same thing's older answers.
pub fn remember(name: &str, key: &str, value: &str, replaces: impl Fn(&str) -> bool) {
    if let Some(path) = file(name) {
        remember_in(&path, key, value, replaces);
    }
}

fn remember_in(path: &Path, key: &str, value: &str, replaces: impl Fn(&str) -> bool) {
    debug_assert!(!key.contains('\n') && !value.contains('\n'));
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut text: String = old.lines().filter(|l| !replaces(l)).map(|l| format!("{l}\n")).collect();
    text.push_str(&format!("{key}\t{value}\n"));
    let _ = write_atomically(path, &text);
}

/// Writes through a temporary file and a rename, so that a run reading at
/// the same time sees the old text or the new, never half of one.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("x"), std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// What identifies a program's build: its resolved path, size and
/// modification time (`path\tsize\tmtime`), for `program` as PATH finds it.
pub fn program_key(program: &str) -> Option<String> {
    let path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(program)).find(|p| p.is_file()))
        .unwrap_or_default()?;
    let real = std::fs::canonicalize(path).ok()?;
    let meta = std::fs::metadata(&real).ok()?;
    let mtime = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    let real = real.to_str().filter(|r| !r.contains(['\t', '\n']))?.to_owned();
    Some(format!("{real}\t{}\t{mtime}", meta.len()))
}

#[cfg(test)]
mod tests {
    use super::{recall_in, remember_in};

    #[test]
    fn an_answer_is_recalled_by_its_key_and_replaces_its_stale_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("machine/versions");
        assert_eq!(recall_in(&file, "/usr/bin/nix-build\t1\t2"), None, "nothing remembered yet");
        remember_in(&file, "/usr/bin/nix-build\t1\t2", "2.8.0", |_| false);
        remember_in(&file, "/usr/bin/qemu\t5\t6", "7.2.19", |_| false);
        assert_eq!(recall_in(&file, "/usr/bin/nix-build\t1\t2").as_deref(), Some("2.8.0"));
        assert_eq!(recall_in(&file, "/usr/bin/nix-build\t1\t3"), None, "another build of it");
        // A new build of nix-build replaces the old one's line, not qemu's.
        remember_in(&file, "/usr/bin/nix-build\t1\t3", "2.26.3", |l| l.starts_with("/usr/bin/nix-build\t"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text, "/usr/bin/qemu\t5\t6\t7.2.19\n/usr/bin/nix-build\t1\t3\t2.26.3\n");
    }
}
