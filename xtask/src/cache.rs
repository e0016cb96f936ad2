//! `lab cache`: what crosslab keeps in its cache directory (payloads, Debian
//! roots, toolchains, VM images, apt lists), how big each entry is and when it
//! was last used, and removing entries by age or all of them.
//!
//! An entry is one directory below a kind's folder (`<cache>/roots/stack-forky-…`).
//! Nothing outside the cache is touched: entries are walked and removed
//! without following symbolic links (a link is removed, never what it points
//! to), and read-only trees (toolchains are store-like, mode `r-x`) are made
//! writable, entry by entry, only to be removed. Names starting with a dot
//! (locks, builds in progress) are neither listed nor removed.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};

use crate::flags;
use crate::provision::payload;

/// The folders of the cache and what their entries are, as `lab cache` names them.
const KINDS: &[(&str, &str)] = &[
    ("payloads", "payload"),
    ("roots", "root"),
    ("toolchains", "toolchain"),
    ("vm", "vm image"),
    ("apt", "apt lists"),
    ("pypi", "python tool"),
];

/// One cached thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    /// What it is: `root`, `toolchain`, …; `other` for what crosslab does not know.
    pub kind: &'static str,
    /// Its name in its folder (`stack-forky-eeefb29bed7e741c`).
    pub name: String,
    /// `suite/arch` from its manifest, the system for a payload, else empty.
    pub what: String,
    /// Disk use: allocated blocks, each file once however many links it has.
    pub bytes: u64,
    /// The latest access or change of the entry or a file directly in it.
    pub last_use: SystemTime,
}

/// Every entry of the cache at `cache`, by kind then name. A cache that does
/// not exist is empty.
pub fn entries(cache: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::new();
    if !cache.exists() {
        return Ok(out);
    }
    for top in sorted_children(cache)? {
        let Some(folder) = top.file_name().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        if folder.starts_with('.') {
            continue;
        }
        let meta = top.symlink_metadata().with_context(|| format!("failed to read `{}`", top.display()))?;
        let known = KINDS.iter().find(|(f, _)| *f == folder).map(|(_, k)| *k);
        match known {
            // A known folder that is a real directory: each child is an entry.
            Some(kind) if meta.is_dir() => {
                for path in sorted_children(&top)? {
                    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    // Its last use is read before anything of it is.
                    let used = last_use(&path);
                    let what =
                        if kind == "payload" || kind == "apt lists" { name.clone() } else { manifest_what(&path) };
                    out.push(entry(path, kind, name, what, used)?);
                }
            }
            // Anything else (a link included) is one entry of its own.
            _ => {
                let used = last_use(&top);
                out.push(entry(top, "other", folder, String::new(), used)?);
            }
        }
    }
    Ok(out)
}

fn entry(path: PathBuf, kind: &'static str, name: String, what: String, last_use: SystemTime) -> anyhow::Result<Entry> {
    let bytes = disk_bytes(&path)?;
    Ok(Entry { path, kind, name, what, bytes, last_use })
}

fn sorted_children(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut children: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("failed to read `{}`", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    children.sort();
    Ok(children)
}

/// `suite/arch` from the first JSON manifest directly in `dir` that has
/// them (`root.json`, `toolchain.json`, `image.json`), else empty.
fn manifest_what(dir: &Path) -> String {
    // An entry that is a link is not read through.
    if !dir.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return String::new();
    }
    let Ok(children) = sorted_children(dir) else { return String::new() };
    for path in children.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        // Only regular files: a manifest that is a link is not read through.
        if !path.symlink_metadata().is_ok_and(|m| m.is_file()) {
            continue;
        }
        let Some(Ok(value)) = read_quietly(path).map(|t| serde_json::from_str::<serde_json::Value>(&t)) else {
            continue;
        };
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        match (field("suite"), field("arch")) {
            (Some(s), Some(a)) => return format!("{s}/{a}"),
            (Some(s), None) => return s,
            _ => {}
        }
    }
    String::new()
}

/// Disk use of `path` and everything below it, walked without following
/// links; hard-linked files count once.
pub fn disk_bytes(path: &Path) -> anyhow::Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    for e in walkdir::WalkDir::new(path).follow_links(false).follow_root_links(false) {
        let e = e.with_context(|| format!("failed to walk `{}`", path.display()))?;
        let m = e.path().symlink_metadata().with_context(|| format!("failed to read `{}`", e.path().display()))?;
        if seen.insert((m.dev(), m.ino())) {
            total += m.blocks() * 512;
        }
    }
    Ok(total)
}

/// When `path` was last used: the latest change of it or of what is directly
/// in it, or access of a file directly in it (a run reads a root's
/// `root.json`, a toolchain's `toolchain.json`, runs a payload's `busybox`).
/// Directories' access times are left out: listing them (as `lab cache`
/// does) moves them. Access times follow the file system's `relatime`, so
/// they move at least once a day; on a `noatime` mount this is when the
/// entry was made.
fn last_use(path: &Path) -> SystemTime {
    let mut paths = vec![path.to_path_buf()];
    if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        paths.extend(sorted_children(path).unwrap_or_default());
    }
    paths
        .iter()
        .filter_map(|p| p.symlink_metadata().ok())
        .flat_map(|m| [m.is_file().then(|| m.accessed().ok()).flatten(), m.modified().ok()])
        .flatten()
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A file's text, read without moving its access time where the kernel
/// allows (`O_NOATIME`: the file's owner or root), so that listing the cache
/// does not count as using it.
fn read_quietly(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME | libc::O_NOFOLLOW)
        .open(path)
        .or_else(|_| fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path))
        .ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

/// Removes `path` and everything below it without following links: a link is
/// removed itself, and each directory is made writable (and searchable)
/// before its contents go, so read-only trees owned by root go too.
pub fn remove_tree(path: &Path) -> anyhow::Result<()> {
    let meta = path.symlink_metadata().with_context(|| format!("failed to read `{}`", path.display()))?;
    if !meta.is_dir() {
        return fs::remove_file(path).with_context(|| format!("failed to remove `{}`", path.display()));
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode | 0o700))
            .with_context(|| format!("failed to make `{}` writable to remove it", path.display()))?;
    }
    for child in fs::read_dir(path).with_context(|| format!("failed to read `{}`", path.display()))? {
        let child = child.with_context(|| format!("failed to read `{}`", path.display()))?;
        remove_tree(&child.path())?;
    }
    fs::remove_dir(path).with_context(|| format!("failed to remove `{}`", path.display()))
}

/// `30d`, `12h`, `2w`, `90m`: an age.
pub fn parse_age(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| anyhow::anyhow!("--older-than: `{text}` is not an age"))?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => bail!("--older-than: `{text}` is not an age\n  help: a number and a unit: `90m`, `12h`, `30d`, `2w`"),
    };
    Ok(Duration::from_secs(n * secs))
}

/// `1.2 GB`, `35 MB`, `4 KB`.
pub fn human_bytes(bytes: u64) -> String {
    const MB: u64 = 1 << 20;
    if bytes >= 1 << 30 {
        format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64)
    } else if bytes >= MB {
        format!("{} MB", bytes / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// `3 d ago`, `5 h ago`, `just now`.
fn age_text(last_use: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(last_use).unwrap_or_default().as_secs();
    match secs {
        s if s >= 2 * 86_400 => format!("{} d ago", s / 86_400),
        s if s >= 3600 => format!("{} h ago", s / 3600),
        s if s >= 60 => format!("{} min ago", s / 60),
        _ => "just now".to_owned(),
    }
}

/// The listing: one line per entry, then the total.
pub fn table(entries: &[Entry], now: SystemTime) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.kind.to_owned(),
                if e.what.is_empty() { "-".to_owned() } else { e.what.clone() },
                human_bytes(e.bytes),
                age_text(e.last_use, now),
                e.name.clone(),
            ]
        })
        .collect();
    let head = ["KIND", "SUITE/ARCH", "SIZE", "LAST USE", "NAME"];
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).chain([head[i].len()]).max().unwrap_or(0);
    let widths: Vec<usize> = (0..4).map(width).collect();
    let line = |r: [&str; 5]| {
        format!(
            "{:w0$}  {:w1$}  {:>w2$}  {:w3$}  {}\n",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    let mut out = line(head);
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    out.push_str(&format!("{} entries, {}\n", entries.len(), human_bytes(total)));
    out
}

impl flags::Cache {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let cache = payload::cache_dir()?;
        let now = SystemTime::now();
        let all = entries(&cache)?;
        if !self.clean {
            println!("crosslab cache: {}", cache.display());
            print!("{}", table(&all, now));
            return Ok(ExitCode::SUCCESS);
        }
        let older_than = match (&self.older_than, self.all) {
            (Some(age), false) => Some(parse_age(age)?),
            (None, true) => None,
            _ => bail!("--clean removes by age or all: give `--older-than AGE` (e.g. 30d) or `--all`"),
        };
        let doomed: Vec<&Entry> = all
            .iter()
            .filter(|e| older_than.is_none_or(|age| now.duration_since(e.last_use).unwrap_or_default() >= age))
            .collect();
        let mut freed = 0;
        for e in &doomed {
            remove_tree(&e.path)?;
            freed += e.bytes;
            println!("removed {} {} ({})", e.kind, e.name, human_bytes(e.bytes));
        }
        println!(
            "removed {} of {} entries, {} freed, from {}",
            doomed.len(),
            all.len(),
            human_bytes(freed),
            cache.display()
        );
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_with_their_unit_and_bad_ones_say_how() {
        assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_age("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse_age("2w").unwrap(), Duration::from_secs(14 * 86_400));
        let err = format!("{:#}", parse_age("30").unwrap_err());
        assert!(err.contains("`30d`"), "{err}");
        assert!(parse_age("d").is_err());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(4096), "4 KB");
        assert_eq!(human_bytes(35 << 20), "35 MB");
        assert_eq!(human_bytes(3 << 29), "1.5 GB");
    }
}
