//! Cached Debian root filesystems, built once by mmdebstrap from a [`Recipe`]:
//! the Nix-and-qemu *stacks* a lab runs against (`--stack bookworm|trixie`),
//! the qemu-system the vm backend boots its guest with, target toolchains.
//!
//! Layout: `<cache>/roots/<name>-<key>/{root/, root.json}`, where `key` hashes
//! everything the recipe puts in (suite, architecture, variant, packages,
//! mirror, [`RECIPE_VERSION`]). A root is built in a temporary directory beside
//! it and renamed into place, so the cache never holds a half-built root; it
//! is never written to afterwards (labs bind it read-only).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::provision::{payload, prereq};

/// Bump when the way roots are built changes what they hold without
/// changing any recipe field; it changes every key.
const RECIPE_VERSION: u32 = 1;

/// mmdebstrap's `--variant`: how much of Debian goes in besides the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Essential packages (a shell, coreutils, dpkg) plus the packages:
    /// a root programs run in.
    Essential,
    /// Only the packages and their dependencies, unpacked, no maintainer
    /// scripts run: how a foreign architecture's files are had without
    /// emulating anything.
    Extract,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Essential => "essential",
            Variant::Extract => "extract",
        }
    }
}

/// What goes into a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// What the root is for, the first part of its directory name (`stack-trixie`).
    pub name: String,
    /// Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// Debian architecture, e.g. `amd64`, `arm64`.
    pub arch: String,
    pub variant: Variant,
    pub packages: Vec<String>,
    /// dpkg `path-exclude=`/`path-include=` filters beyond the ones every
    /// root has (no documentation), e.g. to keep only the emulators crosslab runs.
    pub dpkg_filters: Vec<String>,
    /// Symbolic links made in the root once its packages are in, `(link,
    /// target)`: names a suite's packages no longer ship (a stack's
    /// `qemu-<arch>-static`).
    pub links: Vec<(String, String)>,
}

/// Filters every root has: nothing reads documentation in a root.
pub const DPKG_FILTERS: &[&str] =
    &["path-exclude=/usr/share/doc/*", "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*"];

/// `root.json`: what a root holds and what building it cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub key: String,
    pub name: String,
    pub suite: String,
    pub arch: String,
    pub variant: Variant,
    pub mirror: String,
    pub packages: Vec<String>,
    pub build_secs: f64,
    pub bytes: u64,
}

/// A built root.
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Root {
    /// The root filesystem itself.
    pub fn tree(&self) -> PathBuf {
        self.dir.join("root")
    }
}

impl Recipe {
    /// The hash naming a root: everything that decides what goes into it.
    pub fn key(&self, mirror: &str) -> String {
        let mut text = format!(
            "recipe {RECIPE_VERSION}\nsuite {}\narch {}\nvariant {}\nmirror {mirror}\npackages {}\nfilters {}\n",
            self.suite,
            self.arch,
            self.variant.as_str(),
            self.packages.join(" "),
            self.dpkg_filters.join(" ")
        );
        // Only when there are any, so that roots without links keep their keys.
        if !self.links.is_empty() {
            let links: Vec<String> = self.links.iter().map(|(l, t)| format!("{l}->{t}")).collect();
            text.push_str(&format!("links {}\n", links.join(" ")));
        }
        format!("{:016x}", fnv1a64(text.as_bytes()))
    }
}

/// FNV-1a, 64 bit: stable across Rust releases, unlike `DefaultHasher`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The programs building a root takes.
pub fn build_programs() -> Vec<String> {
    // The keyring: mmdebstrap verifies the Debian archive with it (Ubuntu lacks it).
    ["mmdebstrap", "unshare", payload::DEBIAN_KEYRING].map(str::to_owned).to_vec()
}

/// The directory a recipe's root is (or would be) cached in.
pub fn dir_of(recipe: &Recipe) -> anyhow::Result<PathBuf> {
    let mirror = payload::debian_mirror()?;
    Ok(payload::cache_dir()?.join("roots").join(format!("{}-{}", recipe.name, recipe.key(&mirror))))
}

/// The cached root for `recipe`, if it is built.
pub fn cached(recipe: &Recipe) -> anyhow::Result<Option<Root>> {
    load(&dir_of(recipe)?)
}

/// The cached root for `recipe`, building it first (once, saying so) if
/// there is none.
pub fn ensure(sh: &Shell, recipe: &Recipe) -> anyhow::Result<Root> {
    let mirror = payload::debian_mirror()?;
    let dir = dir_of(recipe)?;
    if let Some(root) = load(&dir)? {
        return Ok(root);
    }
    let roots = dir.parent().expect("a root's directory has a parent").to_path_buf();
    fs::create_dir_all(&roots).with_context(|| format!("failed to create `{}`", roots.display()))?;
    // Two runs at once: one builds, the other waits and then finds it.
    let _lock = payload::lock(&roots.join(".build.lock"))?;
    if let Some(root) = load(&dir)? {
        return Ok(root);
    }
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the Debian root `{}` ({} {}: {}) is not built yet, and building it (mmdebstrap --mode=root) needs root\n  help: run the same command once as root (sudo -E …); the root is cached in {} for every user after that",
            recipe.name,
            recipe.suite,
            recipe.arch,
            recipe.packages.join(" "),
            roots.display()
        );
    }
    prereq::ensure(sh, &build_programs())?;
    eprintln!(
        "crosslab: building the Debian {} {} root `{}` ({}); once, cached in {}",
        recipe.suite,
        recipe.arch,
        recipe.name,
        recipe.packages.join(" "),
        dir.display()
    );
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&roots)
        .with_context(|| format!("failed to create a temporary directory in `{}`", roots.display()))?;
    let manifest = build(sh, recipe, work.path(), &mirror, started)
        .with_context(|| format!("failed to build the Debian root `{}`", recipe.name))?;
    fs::rename(work.path(), &dir).with_context(|| format!("failed to move the root to `{}`", dir.display()))?;
    let _ = work.keep();
    eprintln!("crosslab: root `{}` built in {:.0} s, {} MB", recipe.name, manifest.build_secs, manifest.bytes >> 20);
    Ok(Root { dir, manifest })
}

fn load(dir: &Path) -> anyhow::Result<Option<Root>> {
    let path = dir.join("root.json");
    let Ok(text) = fs::read_to_string(&path) else { return Ok(None) };
    let manifest: Manifest = serde_json::from_str(&text).with_context(|| {
        format!("`{}` is damaged\n  help: remove `{}` and run again to rebuild it", path.display(), dir.display())
    })?;
    Ok(Some(Root { dir: dir.to_path_buf(), manifest }))
}

fn build(sh: &Shell, recipe: &Recipe, work: &Path, mirror: &str, started: Instant) -> anyhow::Result<Manifest> {
    let tree = work.join("root");
    mmdebstrap(sh, recipe, &tree, mirror, &[])?;
    let manifest = Manifest {
        key: recipe.key(mirror),
        name: recipe.name.clone(),
        suite: recipe.suite.clone(),
        arch: recipe.arch.clone(),
        variant: recipe.variant,
        mirror: mirror.to_owned(),
        packages: recipe.packages.clone(),
        build_secs: started.elapsed().as_secs_f64(),
        bytes: super::tree_bytes(&tree),
    };
    fs::write(work.join("root.json"), serde_json::to_string_pretty(&manifest)?)?;
    Ok(manifest)
}

/// mmdebstrap's arguments (program name first) for `recipe` into `tree`:
/// the same for a root of this machine's architecture and a foreign one.
pub fn mmdebstrap_args(recipe: &Recipe, tree: &Path, mirror: &str) -> Vec<String> {
    let (suite, arch, variant) = (&recipe.suite, &recipe.arch, recipe.variant.as_str());
    let mut args = vec![
        "mmdebstrap".to_owned(),
        "--mode=root".to_owned(),
        format!("--variant={variant}"),
        format!("--architectures={arch}"),
        format!("--include={}", recipe.packages.join(",")),
    ];
    args.extend(
        DPKG_FILTERS
            .iter()
            .map(|f| (*f).to_owned())
            .chain(recipe.dpkg_filters.iter().cloned())
            .map(|f| format!("--dpkgopt={f}"))
            .chain(payload::host_release_checks_off().into_iter().map(|key| format!("--aptopt={key} \"false\"")))
            // mmdebstrap runs a hook with the root's path as $1.
            .chain(recipe.links.iter().map(|(link, target)| format!("--customize-hook=ln -s '{target}' \"$1{link}\""))),
    );
    args.extend([suite.clone(), tree.display().to_string(), mirror.to_owned()]);
    args
}

/// Runs mmdebstrap (as root) to put `recipe`'s root at `tree`, from
/// `mirror`, with `env` set for it (and the packages' maintainer scripts).
/// A mirror contradicting its own Release file is an
/// [`payload::InconsistentIndex`], so that callers with another suite to try can.
pub fn mmdebstrap(sh: &Shell, recipe: &Recipe, tree: &Path, mirror: &str, env: &[(&str, &str)]) -> anyhow::Result<()> {
    let suite = &recipe.suite;
    let args = mmdebstrap_args(recipe, tree, mirror);
    // `unshare --mount`: mmdebstrap's mounts (/proc, /dev inside the tree)
    // live in a private mount namespace and vanish with it, even if it is
    // killed.
    let mut command = cmd!(sh, "unshare --mount -- {args...}");
    for (key, value) in env {
        command = command.env(key, value);
    }
    let out = command.quiet().ignore_status().output().context("could not execute `mmdebstrap`")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr);
        if let Some(bad) = payload::inconsistent_index(suite, &log) {
            return Err(bad.into());
        }
        bail!("`mmdebstrap` exited with {}:\n{}", out.status, crate::text::last_lines(&log, 20).join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(packages: &[&str]) -> Recipe {
        Recipe {
            name: "stack-test".into(),
            suite: "trixie".into(),
            arch: "amd64".into(),
            variant: Variant::Essential,
            packages: packages.iter().map(|p| (*p).to_owned()).collect(),
            dpkg_filters: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn the_key_follows_every_input_of_the_recipe() {
        let base = recipe(&["nix-bin"]);
        let key = base.key("http://mirror.invalid/debian");
        assert_eq!(key, base.key("http://mirror.invalid/debian"), "stable");
        assert_ne!(key, recipe(&["nix-bin", "mount"]).key("http://mirror.invalid/debian"));
        assert_ne!(key, base.key("http://other-mirror.invalid/debian"));
        assert_ne!(key, Recipe { suite: "bookworm".into(), ..base.clone() }.key("http://mirror.invalid/debian"));
        assert_ne!(key, Recipe { arch: "arm64".into(), ..base.clone() }.key("http://mirror.invalid/debian"));
        assert_ne!(key, Recipe { variant: Variant::Extract, ..base.clone() }.key("http://mirror.invalid/debian"));
        assert_ne!(
            key,
            Recipe { dpkg_filters: vec!["path-exclude=/x".into()], ..base.clone() }.key("http://mirror.invalid/debian")
        );
        let linked = Recipe { links: vec![("/usr/bin/a-static".into(), "a".into())], ..base.clone() };
        assert_ne!(key, linked.key("http://mirror.invalid/debian"));
    }

    #[test]
    fn a_recipe_without_links_keeps_the_key_it_had_before_links_existed() {
        // The text hashed before `links` was a field: cached roots stay valid.
        let base = recipe(&["nix-bin"]);
        let old = "recipe 1\nsuite trixie\narch amd64\nvariant essential\nmirror http://mirror.invalid/debian\npackages nix-bin\nfilters \n";
        assert_eq!(base.key("http://mirror.invalid/debian"), format!("{:016x}", fnv1a64(old.as_bytes())));
    }
}
