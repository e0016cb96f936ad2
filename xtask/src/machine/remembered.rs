//! What crosslab measured about this machine once and keeps in its cache
//! (`<cache>/machine/`), so that each run does not measure it again: what
//! cannot change within a boot (binfmt_misc namespaces: keyed by the
//! kernel's boot id) and what cannot change until a program does (its
//! version: keyed by its path, size and modification time).
//!
//! A missing, unreadable or stale entry is measured again; an entry that
//! cannot be written is measured again next time. Never an error.

use std::path::{Path, PathBuf};

/// This boot's id, which the kernel makes anew at every boot.
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_owned()).filter(|id| !id.is_empty())
}

fn file(name: &str) -> Option<PathBuf> {
    Some(super::cache_dir().ok()?.join("machine").join(name))
}

/// The value remembered for `key` in the file `name` (lines `key\tvalue`).
pub fn recall(name: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file(name)?).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('\t')).map(str::to_owned)
}

/// Remembers `value` for `key` in the file `name`, in place of the lines
/// `replaces` says are the same thing's older answers.
pub fn remember(name: &str, key: &str, value: &str, replaces: impl Fn(&str) -> bool) {
    let Some(path) = file(name) else { return };
    debug_assert!(!key.contains('\n') && !value.contains('\n'));
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut text: String = old.lines().filter(|l| !replaces(l)).map(|l| format!("{l}\n")).collect();
    text.push_str(&format!("{key}\t{value}\n"));
    let _ = write_atomically(&path, &text);
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
