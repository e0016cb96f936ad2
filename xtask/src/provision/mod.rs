//! Provisioning: fetching and building, once, into crosslab's cache, what labs
//! run with — static payloads, a simulated NixOS's P wrappers, Debian roots (stacks), target toolchains,
//! cross compilers, the vm backend's guest image and qemu-system — and the
//! Debian packages a run needs on the host. Backends use what is here; nothing
//! here runs a lab.

pub mod binfmt_wrapper;
pub mod compilers;
pub mod cpio;
pub mod cross;
pub mod guest_image;
pub mod payload;
pub mod prereq;
pub mod qemu_system;
pub mod rootfs;
pub mod stack;
pub mod toolchain;

/// Apparent size of the files under `root`, each counted as at least a block.
pub fn tree_bytes(root: &std::path::Path) -> u64 {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.path().symlink_metadata().ok())
        .map(|m| m.len().max(4096))
        .sum()
}
