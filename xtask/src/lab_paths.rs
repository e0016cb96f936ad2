//! The paths a lab sees inside its namespaces or its VM, named once: the
//! host backend's set-up, the vm guest's agent, provisioning (toolchains,
//! cross-compiler wrappers) and the plan's commands all use these.

/// Everything crosslab gives a lab lives under here.
pub const LAB_DIR: &str = "/run/crosslab";
/// The static payloads, one directory per system, read-only.
pub const PAYLOADS_DIR: &str = "/run/crosslab/payloads";
/// The compile probes' toolchains, linked by system (`$CROSSLAB_TOOLCHAINS`).
pub const TOOLCHAINS_DIR: &str = "/run/crosslab/toolchains";
/// Where a lab sees crosslab's cache (read-only), when it compiles.
pub const LAB_CACHE_DIR: &str = "/run/crosslab/cache";
/// Programs a backend gives the lab, first on its PATH.
pub const LAB_BIN_DIR: &str = "/run/crosslab/bin";
/// The lab's own nix.conf directory (`NIX_CONF_DIR`).
pub const NIX_CONF_DIR: &str = "/run/crosslab/etc/nix";
/// A probe's PATH: the lab's programs first, then the usual FHS directories.
pub const PROBE_PATH: &str = "/run/crosslab/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
