//! Writing generated files: only when their text changed, never half-written,
//! and in check mode not at all, collecting what is stale instead.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A generated file whose committed text is not what a fresh render gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleFile {
    /// Relative to the output directory.
    pub path: PathBuf,
    pub why: Staleness,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    Missing,
    Differs,
    /// A file the renderer once wrote (it has the header) that no lab produces now.
    Orphaned,
}

impl fmt::Display for StaleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.why {
            Staleness::Missing => "missing",
            Staleness::Differs => "differs from a fresh render",
            Staleness::Orphaned => "no lab generates it any more",
        };
        write!(f, "{}: {why}", self.path.display())
    }
}

/// The generated files under one output directory. Every file the renderer
/// produces goes through [`GeneratedFiles::update`].
#[derive(Debug)]
pub struct GeneratedFiles {
    dir: PathBuf,
    check: bool,
    /// Files written (or, in check mode, that would be).
    pub stale: Vec<StaleFile>,
}

impl GeneratedFiles {
    /// `check`: write nothing, only collect [`GeneratedFiles::stale`].
    pub fn new(dir: &Path, check: bool) -> GeneratedFiles {
        GeneratedFiles { dir: dir.to_path_buf(), check, stale: Vec::new() }
    }

    /// Makes `rel` (relative to the output directory) hold `text`.
    pub fn update(&mut self, rel: &Path, text: &str) -> anyhow::Result<()> {
        let path = self.dir.join(rel);
        let why = match std::fs::read(&path) {
            Ok(current) if current == text.as_bytes() => return Ok(()),
            Ok(_) => Staleness::Differs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Staleness::Missing,
            Err(e) => return Err(e).with_context(|| format!("failed to read `{}`", path.display())),
        };
        if !self.check {
            write_atomically(&path, text)?;
        }
        self.stale.push(StaleFile { path: rel.to_path_buf(), why });
        Ok(())
    }

    /// Removes `rel`, a file that is no longer generated.
    pub fn remove(&mut self, rel: &Path) -> anyhow::Result<()> {
        let path = self.dir.join(rel);
        if !self.check {
            std::fs::remove_file(&path).with_context(|| format!("failed to remove `{}`", path.display()))?;
        }
        self.stale.push(StaleFile { path: rel.to_path_buf(), why: Staleness::Orphaned });
        Ok(())
    }
}

/// Writes `text` to a temporary file beside `path` and renames it into place,
/// so a reader (or a crash) never sees a half-written file.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("a generated file has a parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create directory `{}`", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".crosslab-render-")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in `{}`", dir.display()))?;
    tmp.write_all(text.as_bytes()).with_context(|| format!("failed to write `{}`", tmp.path().display()))?;
    // Temporary files are private (0600); generated files are ordinary ones.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("failed to set permissions of `{}`", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("failed to write `{}`", path.display()))?;
    Ok(())
}
