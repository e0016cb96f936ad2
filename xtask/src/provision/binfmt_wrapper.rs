//! NixOS's `qemu-<arch>-binfmt-P` wrapper, as crosslab builds it for a
//! simulated NixOS host: `binfmt_p_wrapper.c` compiled static with the
//! machine's gcc, once per emulator path, into `<cache>/binfmt-p/<key>/`.
//!
//! nixpkgs builds its wrapper with `pkgsStatic` ("The wrapper has to be
//! static", pkgs/applications/virtualization/qemu/binfmt-p-wrapper.nix) and
//! bakes the qemu path in (`-DTARGET_QEMU=\"${emulator}\"`); so does this.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use xshell::{cmd, Shell};

use crate::lab_paths::LAB_CACHE_DIR;
use crate::plan::PWrapper;
use crate::provision::{payload, prereq};

/// The wrapper's source (crosslab's own; its behaviour follows nixpkgs' binfmt-p-wrapper.c).
pub const SOURCE: &str = include_str!("binfmt_p_wrapper.c");

/// The wrapper's path relative to crosslab's cache: the key covers the
/// source, the qemu it execs and the architecture it is built for.
pub fn relative_path(wrapper: &PWrapper) -> String {
    let mut hash = Sha256::new();
    for part in [SOURCE, &wrapper.qemu, wrapper.host_arch] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let key: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("binfmt-p/{key}/{}", wrapper.name)
}

/// Where a lab sees the wrapper: in crosslab's cache, which the backends
/// bind (host) or share (vm) read-only at [`LAB_CACHE_DIR`].
pub fn lab_path(wrapper: &PWrapper) -> String {
    format!("{LAB_CACHE_DIR}/{}", relative_path(wrapper))
}

/// Builds the wrapper into the cache unless it is there; returns [`lab_path`].
pub fn ensure(wrapper: &PWrapper) -> anyhow::Result<String> {
    let cache = payload::cache_dir()?;
    let file = cache.join(relative_path(wrapper));
    if file.is_file() {
        return Ok(lab_path(wrapper));
    }
    let dir = file.parent().context("a wrapper path has a directory")?;
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    let _lock = payload::lock(&dir.join(".build.lock"))?;
    if !file.is_file() {
        build(wrapper, dir, &file)?;
    }
    Ok(lab_path(wrapper))
}

fn build(wrapper: &PWrapper, dir: &Path, file: &Path) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    // Static linking needs glibc's libc.a beside gcc: libc6-dev's for this
    // machine, libc6-dev-<arch>-cross's (under /usr/<triple>) for another.
    let Some(own) = crate::systems::own_system(wrapper.host_arch) else {
        bail!("no system in the systems table is a {} machine's own, to build {} for", wrapper.host_arch, wrapper.name)
    };
    let (gcc, libc_a) = if wrapper.host_arch == std::env::consts::ARCH {
        ("gcc".to_owned(), format!("/usr/lib/{}/libc.a", own.gcc_triple))
    } else {
        (format!("{}-gcc", own.gcc_triple), format!("/usr/{}/lib/libc.a", own.gcc_triple))
    };
    prereq::ensure(&sh, &[gcc.clone(), libc_a])?;
    let source = dir.join("binfmt_p_wrapper.c");
    fs::write(&source, SOURCE).with_context(|| format!("failed to write `{}`", source.display()))?;
    let define = format!("-DCROSSLAB_QEMU=\"{}\"", wrapper.qemu);
    let partial = dir.join(format!(".{}.partial", wrapper.name));
    cmd!(sh, "{gcc} -static -std=c99 -O2 -Wall {define} -o {partial} {source}")
        .quiet()
        .run()
        .with_context(|| format!("failed to build the static {} (for {})", wrapper.name, wrapper.qemu))?;
    fs::rename(&partial, file).with_context(|| format!("failed to move the wrapper to `{}`", file.display()))?;
    Ok(())
}
