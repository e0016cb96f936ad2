//! Cross compilers for machines crosslab cannot install into: the `compile`
//! probe times the same program with Debian's `gcc-<triple>` beside the
//! emulated compile, and a vm guest has no network to install one.
//!
//! Each is a cached Debian amd64 root of the stack's (or guest's) suite
//! (`--variant=extract`: `gcc-<triple>` and `libc6-dev-<arch>-cross` with
//! their dependencies, unpacked), seen by the lab read-only in crosslab's
//! cache like the toolchains, and run in place: Debian's cross gcc finds
//! `cc1`, `as` and `ld` relative to itself, its libraries come from the root
//! (`LD_LIBRARY_PATH`, the lab's libc being the same suite's) and its
//! C library from `--sysroot` (the `libc.so` linker script names absolute
//! paths, which ld reads under the sysroot). A wrapper under the usual name
//! (`aarch64-linux-gnu-gcc`) first on the lab's PATH is what the probe finds
//! ([`crate::provision::compilers`]).
//!
//! Debian stacks (`--stack bookworm|trixie`, whose root has no cross gcc)
//! and vm guests use these, of their own suite, whose libc the programs
//! need. The host stack uses the host's own cross compilers (installed by
//! [`crate::provision::toolchain::ensure_cross_compilers`]): a root of some Debian
//! suite need not run on the host's libc.

use std::path::Path;

use xshell::Shell;

use crate::provision::rootfs::{self, Recipe, Variant};
use crate::systems::NixSystem;

/// A cross compiler ready to be shared: the system it targets and its root,
/// relative to the shared cache directory.
#[derive(Debug, Clone)]
pub struct CrossCompiler {
    pub system: &'static NixSystem,
    /// `roots/<name>-<key>/root`, relative to [`crate::provision::payload::cache_dir`].
    pub root: String,
}

impl CrossCompiler {
    /// The command `gcc_triple-gcc` runs under (`aarch64-linux-gnu-gcc`).
    pub fn program(&self) -> String {
        format!("{}-gcc", self.system.gcc_triple)
    }

    /// The wrapper script, for crosslab's cache seen at `shared`.
    pub fn wrapper(&self, shared: &str) -> String {
        let root = format!("{shared}/{}", self.root);
        format!(
            "#!/bin/sh\n\
             # crosslab: Debian's {program}, run in place from its root in crosslab's cache.\n\
             r={root}\n\
             LD_LIBRARY_PATH=$r/usr/lib/x86_64-linux-gnu exec \"$r/usr/bin/{program}\" --sysroot=\"$r\" \"$@\"\n",
            program = self.program(),
            root = crate::quote::sh(&root),
        )
    }
}

/// The root `system`'s cross compiler comes from, for a machine running
/// Debian `suite` on amd64.
pub fn recipe(suite: &str, system: &NixSystem) -> Recipe {
    Recipe {
        name: format!("cross-{suite}-{}", system.debian_arch),
        suite: suite.to_owned(),
        arch: "amd64".to_owned(),
        variant: Variant::Extract,
        packages: vec![format!("gcc-{}", system.gcc_triple), format!("libc6-dev-{}-cross", system.debian_arch)],
        dpkg_filters: Vec::new(),
        links: Vec::new(),
    }
}

/// The cross compilers of `systems` for a Debian `suite` machine, building
/// their roots once (that needs root; without it there are none, and the
/// probe reports its emulated time alone, as on a host without them).
/// Several systems can share one root: armv5tel and armv6l share armel's.
pub fn ensure(sh: &Shell, suite: &str, systems: &[&'static NixSystem]) -> anyhow::Result<Vec<CrossCompiler>> {
    let cache = crate::provision::payload::cache_dir()?;
    let mut out = Vec::new();
    let dropped = crate::provision::stack::Stack::of_suite(suite).map_or(&[][..], |s| s.dropped_arches);
    for &system in systems.iter().filter(|s| s.double != "x86_64-linux") {
        if dropped.contains(&system.debian_arch) {
            eprintln!(
                "crosslab: Debian {suite} no longer builds {}: no cross compiler to time {}'s compile probe against",
                system.debian_arch, system.double
            );
            continue;
        }
        let recipe = recipe(suite, system);
        let tree = match rootfs::cached(&recipe)? {
            Some(root) => root.tree(),
            None if unsafe { libc::geteuid() } != 0 => {
                eprintln!(
                    "crosslab: no cached {} cross compiler for the VM to time the compile probe against; run once as root to make it",
                    system.double
                );
                continue;
            }
            None => rootfs::ensure(sh, &recipe)?.tree(),
        };
        out.push(CrossCompiler { system, root: relative(&tree, &cache)? });
    }
    Ok(out)
}

fn relative(tree: &Path, cache: &Path) -> anyhow::Result<String> {
    let rel = tree
        .strip_prefix(cache)
        .map_err(|_| anyhow::anyhow!("`{}` is not in crosslab's cache `{}`", tree.display(), cache.display()))?;
    Ok(rel.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_runs_the_roots_gcc_with_its_sysroot_and_libraries() {
        let aarch64 = crate::systems::NixSystem::find("aarch64-linux").unwrap();
        let recipe = recipe("trixie", aarch64);
        assert_eq!(recipe.packages, ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"]);
        assert_eq!((recipe.suite.as_str(), recipe.arch.as_str()), ("trixie", "amd64"));
        let cross = CrossCompiler { system: aarch64, root: "roots/cross-trixie-arm64-0/root".into() };
        let wrapper = cross.wrapper("/run/shared");
        assert!(wrapper.contains("r=/run/shared/roots/cross-trixie-arm64-0/root\n"), "{wrapper}");
        assert!(wrapper.contains("exec \"$r/usr/bin/aarch64-linux-gnu-gcc\" --sysroot=\"$r\" \"$@\""), "{wrapper}");
    }

    #[test]
    fn a_suite_that_dropped_an_architecture_has_no_cross_compiler_for_it() {
        // Nothing is built or fetched: the row says forky has no mips64el.
        let mips64el = crate::systems::NixSystem::find("mips64el-linux").unwrap();
        let sh = Shell::new().unwrap();
        assert!(ensure(&sh, "forky", &[mips64el]).unwrap().is_empty());
        assert!(crate::provision::stack::Stack::of_suite("trixie").unwrap().dropped_arches.is_empty());
    }
}
