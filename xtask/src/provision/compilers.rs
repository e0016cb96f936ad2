//! What a lab's `compile` probes are given, the same way on every backend:
//! the target toolchains ([`toolchain`]) bound read-only at their store
//! paths in the lab's fresh store, linked by system under
//! [`TOOLCHAINS_DIR`] and registered valid; and, where crosslab
//! cannot use the machine's own, Debian's cross compilers ([`cross`]) as
//! wrappers in [`LAB_BIN_DIR`], for the cross-vs-emulated time.
//!
//! Both come from crosslab's cache, which the lab sees read-only at
//! [`LAB_CACHE_DIR`] (the host backend binds it, the vm backend shares it
//! over virtio-9p): nothing is copied per run.

use xshell::Shell;

use crate::lab_paths::{LAB_BIN_DIR, LAB_CACHE_DIR, LAB_DIR, TOOLCHAINS_DIR};
use crate::plan::Plan;
use crate::provision::cross::{self, CrossCompiler};
use crate::provision::toolchain::{self, Toolchain};
use crate::spec::Language;

/// The compilers one lab's `compile` probes use.
pub struct LabCompilers {
    pub toolchains: Vec<Toolchain>,
    pub cross: Vec<CrossCompiler>,
}

impl LabCompilers {
    /// The toolchains of `plan`'s compile probes and, when `cross_suite` is
    /// given (a Debian stack or a vm guest of that suite), cross compilers
    /// for its C ones; all from the cache (made there first if missing,
    /// which needs root).
    pub fn of(plan: &Plan, cross_suite: Option<&str>) -> anyhow::Result<LabCompilers> {
        let sh = Shell::new()?;
        let wanted = crate::plan::compile_toolchains(&[plan]);
        let toolchains = toolchain::ensure(&sh, &wanted)?;
        let cross = match cross_suite {
            Some(suite) => cross::ensure(&sh, suite, &c_systems(&wanted))?,
            None => Vec::new(),
        };
        Ok(LabCompilers { toolchains, cross })
    }

    /// Whether the lab needs crosslab's cache at [`LAB_CACHE_DIR`].
    pub fn needs_cache(&self) -> bool {
        !self.toolchains.is_empty() || !self.cross.is_empty()
    }

    /// `(store name, tree)` pairs, the tree relative to crosslab's cache.
    pub fn store_binds(&self) -> Vec<(String, String)> {
        self.toolchains
            .iter()
            .map(|t| (t.store_name().to_owned(), format!("toolchains/{}/tree", t.store_name())))
            .collect()
    }

    /// `(link, store path)` pairs: `$CROSSLAB_TOOLCHAINS/<system>[-rust]`.
    pub fn links(&self) -> Vec<(String, String)> {
        self.toolchains
            .iter()
            .flat_map(|t| {
                t.systems.iter().map(|s| {
                    (format!("{}/{}", TOOLCHAINS_DIR, t.language.toolchain_link(s)), t.manifest.store_path.clone())
                })
            })
            .collect()
    }

    /// `(path, content)` of the executables the lab gets: the cross compilers' wrappers.
    pub fn files(&self) -> Vec<(String, String)> {
        self.cross.iter().map(|c| (format!("{LAB_BIN_DIR}/{}", c.program()), c.wrapper(LAB_CACHE_DIR))).collect()
    }

    /// The command that makes the bound trees valid paths of the lab's
    /// store, run by the backend once the lab has started; none when the lab
    /// has no toolchain.
    pub fn register_command(&self) -> Option<String> {
        (!self.toolchains.is_empty()).then(|| toolchain::register_command(&self.toolchains))
    }
}

/// Makes, once, what the compile probes of `plans` need before their labs
/// start: the toolchains, and cross compilers to time them against — the
/// host's own (installed when missing) without `cross_suite`, else that
/// Debian suite's from the cache. Returns whether any probe compiles.
pub fn prepare(sh: &Shell, plans: &[&Plan], cross_suite: Option<&str>) -> anyhow::Result<bool> {
    let wanted = crate::plan::compile_toolchains(plans);
    if wanted.is_empty() {
        return Ok(false);
    }
    toolchain::ensure(sh, &wanted)?;
    let c = c_systems(&wanted);
    match cross_suite {
        None => toolchain::ensure_cross_compilers(sh, &c)?,
        Some(suite) => drop(cross::ensure(sh, suite, &c)?),
    }
    Ok(true)
}

/// The systems of `wanted` compiled in C (the ones a cross compiler is timed for).
pub fn c_systems(wanted: &[(&'static crate::systems::NixSystem, Language)]) -> Vec<&'static crate::systems::NixSystem> {
    wanted.iter().filter(|(_, l)| *l == Language::C).map(|(s, _)| *s).collect()
}

/// A shell script writing `files` (executable, read-only), each path under
/// `$r`, which the script it is part of sets (empty once the lab's root is `/`).
pub fn write_files_script(files: &[(String, String)]) -> String {
    let mut script = String::new();
    for (path, content) in files {
        debug_assert!(path.starts_with(LAB_DIR));
        let (path, dir) = (crate::quote::sh(path), crate::quote::sh(path.rsplit_once('/').map_or("/", |(d, _)| d)));
        script.push_str(&format!(
            "mkdir -p \"$r\"{dir}\nprintf '%s' {} > \"$r\"{path}\nchmod 555 \"$r\"{path}\n",
            crate::quote::sh(content)
        ));
    }
    script
}
