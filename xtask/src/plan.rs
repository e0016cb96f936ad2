//! Planning: a validated [`Lab`] becomes binfmt registrations, a Nix
//! configuration and a list of [`Probe`]s, each a shell command plus what its
//! outcome must be. This is the one source of truth for what a probe does: the
//! renderer prints these commands into the nixosTest script and the backends
//! run the same strings.
//!
//! A probe command may use two variables the backend provides:
//! `CROSSLAB_PAYLOADS`, a directory holding `<system>/busybox` and
//! `<system>/sh` (a static or self-contained busybox for that system), and
//! `CROSSLAB_TOOLCHAINS`, a directory where `<system>` links to a store path
//! holding `bin/cc`, a C compiler that runs on that system and targets it
//! (Debian's native gcc on the host backend, nixpkgs' in a NixOS VM).

use std::time::Duration;

use crate::quote;
use crate::spec::{Expect, HostKind, Interpreter, Lab, Language, NixMode, ProbeKind};
use crate::systems::{decode_binfmt_escapes, Emulator, NativeEmulator, NixSystem};

/// Where the kernel's binfmt_misc interface is mounted.
pub use crate::systems::BINFMT_DIR;

/// What a lab plans to do, for one host architecture.
#[derive(Debug)]
pub struct Plan<'a> {
    pub lab: &'a Lab,
    /// `std::env::consts::ARCH` of the machine that runs the lab (`x86_64` for
    /// rendered VMs), or of the lab's own `host-system` when it names one.
    pub host_arch: &'static str,
    /// The lab's `host-cpu`, else its `host-system`'s default CPU; `None`
    /// when the lab names no host system (the machine's own CPU).
    pub host_cpu: Option<&'static crate::systems::HostCpu>,
    /// Entries to register (by hand for `fhs`; by NixOS's module for `nixos`).
    pub registrations: Vec<Registration>,
    pub nix_conf: NixConf,
    /// The host state the lab's `[machine]` describes, which every backend
    /// applies once its lab is set up.
    pub machine: MachineState,
    pub probes: Vec<Probe>,
}

/// Host state a report describes (`[machine]`), as data: every backend
/// applies [`MachineState::command`] in one place, once the lab's entries
/// are registered (`run::executor::run_plan`; the rendered check's step
/// after its registrations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MachineState {
    /// binfmt_misc is unmounted: the lab's private instance stays (empty),
    /// so no entry of the host's is used either.
    pub binfmt_misc_unmounted: bool,
    /// Files in `/proc` with a file mounted over them, which makes `/proc`
    /// not fully visible: the kernel then refuses a fresh proc mount in a
    /// new user namespace (nix#7783; `/proc/uptime` as DESIGN.md measured).
    pub proc_covered: Vec<&'static str>,
    /// Paths removed (the lab's own, under `/run`).
    pub missing: Vec<String>,
}

impl MachineState {
    /// What is mounted over a covered `/proc` file: an empty file of the lab's.
    pub const PROC_COVER: &'static str = "/run/crosslab-proc-cover";

    /// The shell command that puts the machine in this state; `None` when
    /// it is the default (nothing to do).
    pub fn command(&self) -> Option<String> {
        let mut lines = Vec::new();
        for path in &self.missing {
            lines.push(format!("rm -rf -- {}", quote::sh(path)));
        }
        if !self.proc_covered.is_empty() {
            lines.push(format!(": > {}", Self::PROC_COVER));
            for file in &self.proc_covered {
                lines.push(format!("mount --bind {} {}", Self::PROC_COVER, quote::sh(file)));
            }
        }
        if self.binfmt_misc_unmounted {
            lines.push(format!("umount {BINFMT_DIR}"));
        }
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The shell command a reused machine (the vm guest) runs before the
    /// next lab, so no lab inherits this state: every cover unmounted and
    /// binfmt_misc mounted again (the paths are the next lab's to make).
    pub const UNDO: &'static str = "while umount /proc/uptime 2>/dev/null; do :; done\nmountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc";
}

/// One binfmt_misc entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Entry name in binfmt_misc: `qemu-<arch>` (Debian) or `<system>` (NixOS).
    pub name: String,
    pub system: &'static NixSystem,
    /// The offset field as written: empty (read as 0) or a number.
    pub offset: &'static str,
    /// Magic and mask in the kernel's `\x..` form, as the registering tool
    /// writes them (nixpkgs' bytes, the systems table's, unless `binfmt.tool`
    /// names another tool).
    pub magic: &'static str,
    pub mask: &'static str,
    pub interpreter: String,
    /// Flags as written: canonical `POCF` order from the spec, or the tool's
    /// own text (Debian writes `OPF`).
    pub flags: String,
    /// For a tool's entry whose interpreter the machine running the lab may
    /// lack: the emulator of the stack to put at that path, and how.
    pub provide: Option<Provide>,
}

/// How a tool's interpreter is put where the tool has it, from the emulator
/// the stack installs (`source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provide {
    /// The tool registers with F from a container image: the entry is
    /// written from a private mount namespace where the interpreter's
    /// directory holds a copy of `source`, so the kernel keeps that file
    /// open and the lab's own filesystem stays as the host's is.
    FromContainer { source: String },
    /// Installed on the machine, for the rest of the lab: when the path is
    /// missing, its directory is overlaid (its files copied) with a copy of
    /// `source` added; with `replace`, a file there is covered by `source`
    /// (Debian forky's static `/usr/bin/qemu-<arch>` is the dynamically
    /// linked qemu-user in bookworm).
    Installed { source: String, replace: bool },
}

impl Registration {
    /// The line written to `register`, in the kernel's syntax.
    pub fn line(&self) -> String {
        format!(":{}:M:{}:{}:{}:{}:{}", self.name, self.offset, self.magic, self.mask, self.interpreter, self.flags)
    }

    /// The shell command that registers this entry.
    pub fn command(&self) -> String {
        let register = format!("printf '%s' {} > {BINFMT_DIR}/register", quote::sh(&self.line()));
        let path = &self.interpreter;
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let dir = if dir.is_empty() { "/" } else { dir };
        // A copy in a tmpfs bound over the directory (the stack's root is
        // read-only), with the directory's own files when it stays so.
        let overlay = |source: &str, keep: bool| {
            format!(
                "s=$(mktemp -d) && mount -t tmpfs crosslab-tool \"$s\" && {keep}cp {src} \"$s\"/{n} && mount --bind \"$s\" {d}",
                keep = if keep { format!("cp -a {}/. \"$s\"/ && ", quote::sh(dir)) } else { String::new() },
                d = quote::sh(dir),
                src = quote::sh(source),
                n = quote::sh(name)
            )
        };
        match &self.provide {
            None => register,
            Some(Provide::FromContainer { source }) => format!(
                "unshare --mount --propagation private -- /bin/sh -c {}",
                quote::sh(&format!("mkdir -p {} && {} && {register}", quote::sh(dir), overlay(source, false)))
            ),
            Some(Provide::Installed { source, replace }) => format!(
                "if [ -e {p} ]; then {present}; else mkdir -p {d} && {o}; fi || exit 1\n{register}",
                p = quote::sh(path),
                present = if *replace {
                    format!("mount --bind {} {}", quote::sh(source), quote::sh(path))
                } else {
                    ":".into()
                },
                d = quote::sh(dir),
                o = overlay(source, true)
            ),
        }
    }

    /// The flags the kernel shows in the entry's status file (`POCF` order; `C` implies `O`).
    pub fn kernel_flags(&self) -> String {
        crate::registrations::kernel_flags(&self.flags)
    }
}

/// What a Debian machine is given to behave like the NixOS host a lab with
/// `interpreter = "nixos"` models (nixos/modules/system/boot/binfmt.nix of
/// 25.05): `/run/binfmt/<system>` links to the interpreter NixOS registers,
/// and Nix's sandbox sees what NixOS puts in `extra-sandbox-paths` —
/// `/run/binfmt` and the interpreter's store path, whose closure Nix adds.
///
/// - `emulator = "dynamic"` (the default): the interpreter is
///   `pkgs.wrapQemuBinfmtP`'s static `qemu-<arch>-binfmt-P` wrapper, which
///   execs the dynamically linked qemu by absolute path ([`PWrapper`]). Its
///   closure is the wrapper, the qemu and, on Debian, qemu's ELF loader and
///   libraries, each bound at the path the loader looks for it.
/// - `emulator = "static"` (preferStaticEmulators): the static qemu itself.
/// - A system nixpkgs says the host executes natively (i686-linux on
///   x86_64): the module's `exec "$@"` script, wrapped in a shell script
///   unless F ([`NixSystem::nixpkgs_runs_natively_on`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NixosSimulation {
    /// `(link, target)`: `/run/binfmt/<system>` and the interpreter behind it.
    pub links: Vec<(String, String)>,
    /// Sandbox paths on top of the lab's `nix_conf` (`path` or `path=source`).
    pub extra_sandbox_paths: Vec<String>,
    /// The emulators behind the links (for prerequisites).
    pub emulators: Vec<String>,
    /// Executables to write, `(path, content)`, under [`crate::lab_paths::LAB_DIR`]:
    /// the shell scripts of natively run systems.
    pub files: Vec<(String, String)>,
    /// Whether a link points into crosslab's cache (the P wrappers live
    /// there), which the lab must then see at [`crate::lab_paths::LAB_CACHE_DIR`].
    pub uses_cache: bool,
}

/// One `qemu-<arch>-binfmt-P` wrapper a simulated NixOS registers (the
/// module's `wrapperName`): a static program, built by crosslab, that execs
/// `qemu`, the dynamically linked qemu-user, by absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PWrapper {
    pub system: &'static NixSystem,
    /// `qemu-<arch>-binfmt-P`.
    pub name: String,
    /// The dynamically linked emulator it execs: `/usr/bin/qemu-<arch>`.
    pub qemu: String,
    /// The architecture of the lab's host, which the wrapper is built for.
    pub host_arch: &'static str,
}

/// Where a simulated NixOS keeps the module's scripts for systems the host
/// runs natively (nixpkgs' `writeShellScriptBin "exec"` and the
/// `<system>-interpreter` shell wrapper around it).
pub fn nixos_script_dir() -> String {
    format!("{}/binfmt", crate::lab_paths::LAB_DIR)
}

/// A lab that cannot be modelled where it would run — say, a dynamically
/// linked emulator on a stack whose distribution ships only static ones.
/// Not a verdict: `lab run` cannot run it there (exit 2), and `lab matrix`
/// shows the lab as not applying on that stack.
#[derive(Debug)]
pub struct DoesNotApply(pub String);

impl std::fmt::Display for DoesNotApply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DoesNotApply {}

/// A shell command that prints, for the dynamically linked program `$1`, one
/// `path=real-path` line per file its loader opens: the ELF interpreter and
/// every shared library, as `ldd` resolves them on that machine (or
/// `statically linked`).
pub const SHARED_OBJECTS_COMMAND: &str = r#"out=$(ldd "$1" 2>&1); case $out in *"statically linked"*|*"not a dynamic executable"*) echo "statically linked";; esac; printf '%s\n' "$out" | sed -n 's|^[^/]*\(/[^ ]*\) (0x[0-9a-f]*)$|\1|p' | while read -r f; do printf '%s=%s\n' "$f" "$(readlink -f "$f")"; done"#;

/// Parses the output of [`SHARED_OBJECTS_COMMAND`]: sandbox paths binding each
/// real file at the path the loader opens (`/lib64/ld-linux-x86-64.so.2=/usr/lib/…`).
pub fn parse_shared_objects(output: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for line in output.lines() {
        let Some((path, real)) = line.trim().split_once('=') else { continue };
        if !path.starts_with('/') || !real.starts_with('/') || path.contains(char::is_whitespace) {
            continue;
        }
        let entry = if path == real { path.to_owned() } else { format!("{path}={real}") };
        if !paths.contains(&entry) {
            paths.push(entry);
        }
    }
    paths
}

impl Plan<'_> {
    /// The P wrappers a simulated NixOS registers: one per emulated system
    /// when the lab's interpreter is `nixos` with `emulator = "dynamic"`
    /// (binfmt.nix: `if isQemu && !useStaticEmulator then "${wrapper}/bin/${wrapperName}"`).
    pub fn p_wrappers(&self) -> Vec<PWrapper> {
        if self.lab.binfmt.interpreter != Interpreter::Nixos || self.lab.binfmt.emulator != Emulator::Dynamic {
            return Vec::new();
        }
        self.registrations
            .iter()
            .filter(|r| !r.system.nixpkgs_runs_natively_in(self.host_arch, self.lab.binfmt.nixos_release))
            .map(|r| PWrapper {
                system: r.system,
                name: format!("qemu-{}-binfmt-P", r.system.qemu),
                qemu: r.system.fhs_emulator(Emulator::Dynamic),
                host_arch: self.host_arch,
            })
            .collect()
    }

    /// The NixOS host simulation for this plan (nothing unless the lab's
    /// interpreter is `nixos`). `shared_objects` runs [`SHARED_OBJECTS_COMMAND`]
    /// for a program on the machine the lab runs on and returns its output;
    /// it is asked only about dynamically linked emulators. `wrapper` gives
    /// the path in the lab of a [`PWrapper`] (built into crosslab's cache by
    /// the backend). Both the host and the vm backend set their lab up from this.
    pub fn nixos_simulation(
        &self,
        shared_objects: &mut dyn FnMut(&str) -> anyhow::Result<String>,
        wrapper: &mut dyn FnMut(&PWrapper) -> anyhow::Result<String>,
    ) -> anyhow::Result<NixosSimulation> {
        let mut sim = NixosSimulation::default();
        if self.lab.binfmt.interpreter != Interpreter::Nixos || self.registrations.is_empty() {
            return Ok(sim);
        }
        let add = |paths: &mut Vec<String>, path: String| {
            if !paths.contains(&path) {
                paths.push(path);
            }
        };
        let wrappers = self.p_wrappers();
        for reg in &self.registrations {
            if reg.system.nixpkgs_runs_natively_in(self.host_arch, self.lab.binfmt.nixos_release) {
                self.native_interpreter(reg, &mut sim);
                continue;
            }
            let emulator = reg.system.fhs_emulator(self.lab.binfmt.emulator);
            match wrappers.iter().find(|w| w.system == reg.system) {
                Some(w) => {
                    let path = wrapper(w)?;
                    sim.uses_cache |= path.starts_with(crate::lab_paths::LAB_CACHE_DIR);
                    sim.links.push((reg.interpreter.clone(), path.clone()));
                    add(&mut sim.extra_sandbox_paths, path);
                }
                None => sim.links.push((reg.interpreter.clone(), emulator.clone())),
            }
            add(&mut sim.extra_sandbox_paths, emulator.clone());
            if self.lab.binfmt.emulator == Emulator::Dynamic {
                let output = shared_objects(&emulator)?;
                let objects = parse_shared_objects(&output);
                // A distribution whose qemu-user is itself static (Debian 13)
                // has no dynamically linked emulator to give: what only a
                // dynamic one fails at would pass, so the lab does not apply.
                let is_static = output.contains("not a dynamic executable") || output.contains("statically linked");
                if is_static {
                    return Err(DoesNotApply(format!(
                        "{emulator} is statically linked here (from Debian 13 on, qemu-user is static), so `emulator = \"dynamic\"` cannot be modelled\n  help: run this lab on a stack with a dynamic qemu-user (--stack bookworm)"
                    ))
                    .into());
                }
                if objects.is_empty() {
                    anyhow::bail!(
                        "found no loader or libraries of the dynamically linked emulator {emulator} (ldd said: {})\n  help: install Debian's qemu-user (`apt-get install qemu-user`), which provides it",
                        output.trim()
                    );
                }
                for object in objects {
                    add(&mut sim.extra_sandbox_paths, object);
                }
            }
            if !sim.emulators.contains(&emulator) {
                sim.emulators.push(emulator);
            }
        }
        Ok(sim)
    }

    /// What binfmt.nix registers for a system the host executes natively
    /// (nixpkgs' `canExecute`): lib/systems/default.nix's emulator is then
    /// `lib.getExe (pkgs.writeShellScriptBin "exec" ''exec "$@"'')`, not qemu,
    /// so neither P nor (without preferStaticEmulators) F is set and
    /// `wrapInterpreterInShell` wraps it: `#!${pkgs.bash}/bin/sh` /
    /// `exec -- ${interpreter} "$@"`; the sandbox gets bash and the script's
    /// store path (here: the scripts' directory; Debian's /bin/sh is not
    /// bound over the sandbox's own). With preferStaticEmulators the script
    /// is registered itself, with F. (On x86_64 this is i686-linux, whose
    /// magic has ELF machine 6, EM_486, which i386 binaries do not carry —
    /// Debian's i386 busybox has 3, EM_386: the kernel's own ELF loader runs
    /// them and the entry never fires.)
    ///
    /// Releases before 24.11 ([`NativeEmulator::ShellDashC`]) have no
    /// script of their own: the emulator is `bash -c '"$@"' --`, which only
    /// the shell wrapper can register (`exec -- …/bash -c '"$@"' -- "$@"`).
    fn native_interpreter(&self, reg: &Registration, sim: &mut NixosSimulation) {
        let dir = nixos_script_dir();
        let wrapped = format!("{dir}/{}-interpreter", reg.system.double);
        // binfmt.nix's mkInterpreter writes `exec -- ${interpreter} "$@"` under
        // `#!${pkgs.bash}/bin/sh`; the simulation's scripts run under the
        // machine's /bin/sh, which on Debian is dash, whose `exec` takes no
        // `--` ("exec: --: not found"). Without it the exec is the same.
        let target = match self.lab.binfmt.nixos_release.native_emulator {
            NativeEmulator::ShellDashC => {
                sim.files.push((wrapped.clone(), "#!/bin/sh\nexec /bin/sh -c '\"$@\"' -- \"$@\"\n".to_owned()));
                wrapped
            }
            NativeEmulator::ExecScript => {
                let exec = format!("{dir}/{}-exec", reg.system.double);
                sim.files.push((exec.clone(), "#!/bin/sh\nexec \"$@\"\n".to_owned()));
                if self.lab.binfmt.emulator == Emulator::Static {
                    exec
                } else {
                    sim.files.push((wrapped.clone(), format!("#!/bin/sh\nexec {} \"$@\"\n", quote::sh(&exec))));
                    wrapped
                }
            }
        };
        if !sim.extra_sandbox_paths.contains(&dir) {
            sim.extra_sandbox_paths.push(dir);
        }
        sim.links.push((reg.interpreter.clone(), target));
    }
}

/// Runs [`SHARED_OBJECTS_COMMAND`] on this machine.
pub fn local_shared_objects(program: &str) -> anyhow::Result<String> {
    shared_objects_in(std::path::Path::new("/"), program)
}

/// Runs [`SHARED_OBJECTS_COMMAND`] in the root filesystem `root` (`/`, or a
/// stack's root, entered with chroot), as the lab will see its emulator.
pub fn shared_objects_in(root: &std::path::Path, program: &str) -> anyhow::Result<String> {
    let mut command = if root == std::path::Path::new("/") {
        std::process::Command::new("/bin/sh")
    } else {
        let mut c = std::process::Command::new("chroot");
        c.arg(root).arg("/bin/sh");
        c
    };
    let out = command.args(["-c", SHARED_OBJECTS_COMMAND, "sh", program]).output().map_err(|e| {
        anyhow::anyhow!("could not run a shell in `{}` to list the libraries of {program}: {e}", root.display())
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The Nix settings a lab configures, in nix.conf terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixConf {
    pub sandbox: bool,
    /// `extra-sandbox-paths` (what the spec says, plus `/run/binfmt` for NixOS labs
    /// that emulate a system).
    pub extra_sandbox_paths: Vec<String>,
    pub extra_platforms: Vec<String>,
    /// `system-features`, when the lab sets them (else Nix's default).
    pub system_features: Option<Vec<String>>,
    /// Built by a daemon as the `nixbld` users (else single-user, no build users).
    pub daemon: Option<Daemon>,
}

/// A multi-user Nix: a root `nix-daemon` building as the `nixbld` group's
/// users, the probes an unprivileged client of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// `nixbld1`…`nixbldN`: Debian's nix-setup-systemd postinst makes 10
    /// (`for n in $(seq 1 10)`); NixOS `nix.nrBuildUsers` defaults to 32
    /// (nixos/modules/services/system/nix-daemon.nix), as does the
    /// installer (NIX_USER_COUNT).
    pub build_users: u32,
    pub trusted_users: Vec<String>,
    /// The daemon is the stack's Nix for this system, from a Debian root of
    /// that architecture at [`EMULATED_NIX_DIR`], run by its static qemu.
    pub emulated: Option<&'static NixSystem>,
}

/// Where a lab with `[nix] emulated` sees the foreign Debian root holding
/// its Nix (a link the backend makes into crosslab's cache).
pub const EMULATED_NIX_DIR: &str = "/run/crosslab/emulated-nix";

/// The group of the build users and its gid; user `nixbldI` is uid
/// `NIXBLD_GID + I`, as NixOS (`ids.gids.nixbld = 30000`) and the installer
/// number them.
pub const NIXBLD_GID: u32 = 30000;
/// The unprivileged user the probes run as in daemon mode: uid and gid.
pub const CLIENT_USER: &str = "crosslab";
pub const CLIENT_ID: u32 = 1000;
/// Where the daemon's state lives in the lab: its pid, log, and the lab's
/// `/etc/passwd` and `/etc/group`, bound over the stack's.
pub const DAEMON_DIR: &str = "/run/crosslab-daemon";

impl Daemon {
    /// The shell that makes the lab's users and starts (or restarts) the
    /// daemon, as root: the same text on every backend. The lab's
    /// `/etc/passwd` and `/etc/group` are the stack's with the build users
    /// and the client in place of any entry of the same name or id, bound
    /// over the read-only originals. Nix ≤ 2.34 finds the build users as the
    /// members listed on the group's line (`gr_mem`), so they are listed there.
    pub fn start_script(&self) -> String {
        let n = self.build_users;
        let members: Vec<String> = (1..=n).map(|i| format!("nixbld{i}")).collect();
        format!(
            r#"set -eu
d={DAEMON_DIR}
mkdir -p "$d"
if [ ! -e "$d/passwd" ]; then
  {{ awk -F: '$1 !~ /^nixbld[0-9]+$/ && $1 != "{CLIENT_USER}" && $3 != {CLIENT_ID} && ($3 <= {NIXBLD_GID} || $3 > {last})' /etc/passwd
    i=1; while [ $i -le {n} ]; do echo "nixbld$i:x:$(({NIXBLD_GID} + i)):{NIXBLD_GID}:Nix build user $i:/var/empty:/usr/sbin/nologin"; i=$((i + 1)); done
    echo "{CLIENT_USER}:x:{CLIENT_ID}:{CLIENT_ID}:crosslab's probes:{home}:/bin/sh"; }} > "$d/passwd"
  {{ awk -F: '$1 != "nixbld" && $1 != "{CLIENT_USER}" && $3 != {NIXBLD_GID} && $3 != {CLIENT_ID}' /etc/group
    echo "nixbld:x:{NIXBLD_GID}:{members}"
    echo "{CLIENT_USER}:x:{CLIENT_ID}:"; }} > "$d/group"
  mount --bind "$d/passwd" /etc/passwd
  mount --bind "$d/group" /etc/group
  chown -R {CLIENT_ID}:{CLIENT_ID} {home}{hide_dev}
fi
if [ -e "$d/pid" ]; then
  p=$(cat "$d/pid")
  kill "$p" 2>/dev/null || true
  # Gone, or a zombie: the lab's PID 1 may not reap it yet.
  while [ -e "/proc/$p" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null; do sleep 0.01; done
fi
rm -f /nix/var/nix/daemon-socket/socket
# The daemon opens the store itself; NIX_REMOTE=daemon would make it its own client.
NIX_REMOTE=local {run_daemon} < /dev/null > "$d/log" 2>&1 &
echo $! > "$d/pid"
i=0
until [ -S /nix/var/nix/daemon-socket/socket ]; do
  i=$((i + 1))
  if [ $i -gt 1000 ] || ! kill -0 "$(cat "$d/pid")" 2>/dev/null; then echo "nix-daemon did not start:"; cat "$d/log"; exit 1; fi
  sleep 0.01
done"#,
            run_daemon = match self.emulated {
                Some(system) => format!(
                    "QEMU_LD_PREFIX=\"$d/prefix\" setsid {} \"$d/prefix/usr/bin/nix-daemon\"",
                    system.fhs_emulator(crate::systems::Emulator::Static)
                ),
                None => "setsid nix-daemon".to_owned(),
            },
            // qemu-user opens any absolute path under QEMU_LD_PREFIX from there
            // first, so the prefix holds only the foreign root's programs and
            // libraries: its /dev/ptmx gives Nix "opening pseudoterminal
            // master: No such device", its read-only /tmp and /etc (no
            // nixbld) would be the daemon's. The merged-/usr links an
            // extracted root lacks are made (trixie's loader is only at
            // usr/lib/ld-linux-aarch64.so.1).
            hide_dev = if self.emulated.is_some() {
                format!(
                    r#"
  mkdir "$d/prefix"
  ln -s {EMULATED_NIX_DIR}/usr "$d/prefix/usr"
  for l in bin sbin lib lib64; do
    if [ -e "{EMULATED_NIX_DIR}/$l" ]; then ln -s "{EMULATED_NIX_DIR}/$l" "$d/prefix/$l"
    elif [ -d "$d/prefix/usr/$l" ]; then ln -s "usr/$l" "$d/prefix/$l"; fi
  done"#
                )
            } else {
                String::new()
            },
            last = NIXBLD_GID + n,
            home = format!("{}/home", crate::lab_paths::LAB_DIR),
            members = members.join(","),
        )
    }
}

impl NixConf {
    /// nix.conf lines; `extra` sandbox paths are backend-specific additions
    /// (e.g. the emulator's real path behind `/run/binfmt`).
    pub fn to_nix_conf(&self, extra: &[String]) -> String {
        let mut paths = self.extra_sandbox_paths.clone();
        paths.extend(extra.iter().cloned());
        let mut conf = format!(
            "sandbox = {}\nsandbox-fallback = false\nextra-sandbox-paths = {}\nextra-platforms = {}\nsubstituters =\n{}experimental-features = nix-command\n",
            self.sandbox,
            paths.join(" "),
            self.extra_platforms.join(" "),
            match &self.daemon {
                Some(d) => format!("build-users-group = nixbld\ntrusted-users = {}\n", d.trusted_users.join(" ")),
                None => "build-users-group =\n".to_owned(),
            },
        );
        if let Some(features) = &self.system_features {
            conf.push_str(&format!("system-features = {}\n", features.join(" ")));
        }
        conf
    }
}

/// What a probe's outcome must be for the lab to pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub status: Expect,
    /// Text the decoded output must contain.
    pub contains: Vec<String>,
    /// A line the decoded output must contain exactly (e.g. `uname -m`'s answer).
    pub line: Option<String>,
    /// `(key, text)` of a table `expect-output`: where the run's stack or
    /// Nix version is `key` (`trixie`, `nix-2.8`), the output must contain
    /// `text` instead of `contains` and `line`.
    pub by_stack: Vec<(String, String)>,
}

impl Expectation {
    /// This expectation as it holds for a run known by `keys`, the first
    /// that has a text winning (a stack's name, then its Nix's `nix-X.Y`).
    pub fn on(&self, keys: &[String]) -> Expectation {
        let mut e = self.clone();
        if let Some((_, text)) = keys.iter().find_map(|k| self.by_stack.iter().find(|(s, _)| s == k)) {
            e.contains = vec![text.clone()];
            e.line = None;
        }
        e.by_stack.clear();
        e
    }

    /// Whether an outcome meets this expectation.
    pub fn is_met(&self, passed: bool, output: &str) -> bool {
        let status_ok = passed == (self.status == Expect::Pass);
        status_ok
            && self.contains.iter().all(|c| output.contains(c.as_str()))
            && self.line.as_ref().is_none_or(|l| output.lines().any(|o| o.trim_end() == l))
    }

    /// A short human description, e.g. `fail, output contains "No such file"`.
    pub fn describe(&self) -> String {
        let mut s = self.status.as_str().to_owned();
        for c in &self.contains {
            s.push_str(&format!(", output contains {c:?}"));
        }
        if let Some(l) = &self.line {
            s.push_str(&format!(", prints the line {l:?}"));
        }
        for (stack, text) in &self.by_stack {
            s.push_str(&format!(" (on {stack}: output contains {text:?})"));
        }
        s
    }
}

/// One probe on one system: a shell command and its expectation.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Position of the `[[probe]]` table in the spec.
    pub index: usize,
    pub kind: ProbeKind,
    pub system: &'static NixSystem,
    /// Whose payload the command runs (usually `system`).
    pub payload: &'static NixSystem,
    /// One line saying what the probe checks.
    pub title: String,
    pub command: String,
    pub expect: Expectation,
    pub timeout: Duration,
    /// What a `compile` probe compiles (C for the other kinds).
    pub language: Language,
    /// Runs as the unprivileged client of a daemon ([`CLIENT_USER`]); the
    /// `command` and `nix-conf-edit` probes are the administrator's and run
    /// as root (through the daemon too).
    pub as_client: bool,
}

impl Probe {
    /// A stable identifier: `build[3]@aarch64-linux`.
    pub fn id(&self) -> String {
        format!("{}[{}]@{}", self.kind.as_str(), self.index, self.system.double)
    }

    /// This probe with its expectation as it holds for a run known by
    /// `keys` ([`Expectation::on`]).
    pub fn on(&self, keys: &[String]) -> Probe {
        Probe { expect: self.expect.on(keys), ..self.clone() }
    }

    /// Whether the probe's system is native where it runs while the
    /// program it runs is not: it works only through the host's
    /// binfmt_misc (nixpkgs#61537).
    pub fn runs_foreign_natively(&self, host_arch: &str, host_cpu: Option<&crate::systems::HostCpu>) -> bool {
        matches!(self.kind, ProbeKind::Build | ProbeKind::Exec)
            && self.system.is_native_on(host_arch, host_cpu)
            && !self.payload.is_native_on(host_arch, host_cpu)
    }
}

/// What `uname -m` prints for the payload of `payload` run as a probe of
/// `system`: the system's machine when the same emulator (or the same CPU,
/// with its personality) runs both, else the payload's own — a foreign
/// program in a native build runs through its own binfmt_misc entry.
pub fn printed_machine(
    system: &NixSystem,
    payload: &NixSystem,
    host_arch: &str,
    host_cpu: Option<&crate::systems::HostCpu>,
) -> &'static str {
    let native = |s: &NixSystem| s.is_native_on(host_arch, host_cpu);
    if payload.double == system.double || payload.qemu == system.qemu || (native(payload) && native(system)) {
        system.uname_on(host_arch, host_cpu)
    } else {
        payload.uname_on(host_arch, host_cpu)
    }
}

/// The Nix expression the `build` probe builds: a derivation for the target
/// system whose builder is the payload's busybox, so no nixpkgs is needed.
/// A payload outside the store (the host backend's cache) is copied in with
/// `builtins.path`; one already in the store (a VM's) keeps its references.
pub const BUILD_EXPR: &str = r#"{ name, system, payload, qemuCpu ? "", features ? "" }:
let
  dir = if builtins.substring 0 11 payload == "/nix/store/"
    then builtins.storePath payload
    else builtins.path { path = /. + payload; name = "crosslab-payload"; };
in derivation ({
  inherit name system;
  builder = "${dir}/sh";
  args = [ "-c" "${dir}/busybox uname -m > $out" ];
} // (if qemuCpu == "" then { } else { QEMU_CPU = qemuCpu; })
  // (if features == "" then { } else {
    requiredSystemFeatures = builtins.filter builtins.isString (builtins.split " " features);
  }))"#;

/// The program a `compile` probe compiles: it says which architecture the
/// compiler targeted (from its predefined macros, [`NixSystem::cc_arch`]) and
/// which machine it runs on (`uname -m`, [`NixSystem::uname`]).
pub const HELLO_C: &str = r#"#include <stdio.h>
#include <sys/utsname.h>
#define STR1(x) #x
#define STR(x) STR1(x)
#if defined(__x86_64__)
#define ARCH "x86_64"
#elif defined(__i686__)
#define ARCH "i686"
#elif defined(__i386__)
#define ARCH "i386"
#elif defined(__aarch64__)
#define ARCH "aarch64"
#elif defined(__arm__)
#define ARCH "armv" STR(__ARM_ARCH)
#elif defined(__riscv) && __riscv_xlen == 64
#define ARCH "riscv64"
#elif defined(__s390x__)
#define ARCH "s390x"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARCH "ppc64le"
#elif defined(__mips64) && defined(__MIPSEL__)
#define ARCH "mips64el"
#else
#define ARCH "unknown"
#endif
int main(void) {
  struct utsname u;
  if (uname(&u) != 0) {
    perror("uname");
    return 1;
  }
  printf("compiled for %s, runs as %s\n", ARCH, u.machine);
  return 0;
}
"#;

/// [`HELLO_C`] in Rust, for `language = "rust"`: the same line, the
/// architecture from `cfg!` and the machine from libc's `uname`.
pub const HELLO_RS: &str = r#"#[repr(C)]
struct Utsname {
    sysname: [u8; 65],
    nodename: [u8; 65],
    release: [u8; 65],
    version: [u8; 65],
    machine: [u8; 65],
    domainname: [u8; 65],
}

extern "C" {
    fn uname(buf: *mut Utsname) -> i32;
}

fn arch() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "x86_64"
    } else if cfg!(target_arch = "x86") {
        "i686"
    } else if cfg!(target_arch = "aarch64") {
        "aarch64"
    } else if cfg!(all(target_arch = "arm", target_feature = "v7")) {
        "armv7"
    } else if cfg!(target_arch = "arm") {
        "armv5"
    } else if cfg!(target_arch = "riscv64") {
        "riscv64"
    } else if cfg!(target_arch = "s390x") {
        "s390x"
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        "ppc64le"
    } else if cfg!(all(target_arch = "mips64", target_endian = "little")) {
        "mips64el"
    } else {
        "unknown"
    }
}

fn main() {
    let mut u: Utsname = unsafe { std::mem::zeroed() };
    if unsafe { uname(&mut u) } != 0 {
        eprintln!("uname failed");
        std::process::exit(1);
    }
    let end = u.machine.iter().position(|&b| b == 0).unwrap_or(u.machine.len());
    println!("compiled for {}, runs as {}", arch(), String::from_utf8_lossy(&u.machine[..end]));
}
"#;

/// A language's program, its file name, and the command that compiles it in
/// the build (the toolchain's `bin` is on PATH).
pub fn program_of(language: Language) -> (&'static str, &'static str, &'static str) {
    match language {
        Language::C => (HELLO_C, "hello.c", "cc -O2 -o hello hello.c"),
        Language::Rust => (HELLO_RS, "hello.rs", "rustc -C opt-level=2 -o hello hello.rs"),
    }
}

/// The line [`HELLO_C`] prints when compiled for and run on `system`.
pub fn hello_line(system: &NixSystem) -> String {
    format!("compiled for {}, runs as {}", system.cc_arch, system.uname)
}

/// The Nix expression the `compile` probe builds: a derivation for the target
/// whose builder (the payload's busybox `sh`) runs the toolchain's `bin/cc`
/// on [`HELLO_C`] and then the program. The toolchain is a store path with
/// its references (`builtins.storePath`), as a Nix user's would be; the
/// compile time, measured inside the build, follows the program's line.
pub const COMPILE_EXPR: &str = r#"{ name, system, payload, toolchain, source, file, compile, qemuCpu ? "" }:
let
  dir = if builtins.substring 0 11 payload == "/nix/store/"
    then builtins.storePath payload
    else builtins.path { path = /. + payload; name = "crosslab-payload"; };
  cc = builtins.storePath toolchain;
in derivation ({
  inherit name system source file compile;
  builder = "${dir}/sh";
  PATH = "${cc}/bin";
  args = [ "-c" ''
    ${dir}/busybox printf '%s' "$source" > "$file"
    read start _ < /proc/uptime
    $compile || exit 1
    read end _ < /proc/uptime
    ./hello > $out || exit 1
    # /proc/uptime counts hundredths of a second: busybox's date has no %N.
    echo "emulated compile: $(( (''${end%.*}''${end#*.} - ''${start%.*}''${start#*.}) * 10 )) ms" >> $out
  '' ];
} // (if qemuCpu == "" then { } else { QEMU_CPU = qemuCpu; }))"#;

/// How long a `compile` probe's two compilers took, read from its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CompileTimes {
    /// The target's compiler under emulation, inside the sandboxed build.
    pub emulated_ms: u64,
    /// The host's cross compiler for the target, if the host has one.
    pub cross_ms: Option<u64>,
}

impl CompileTimes {
    /// Reads the `emulated compile: N ms` / `cross compile: N ms` lines the
    /// `compile` probe's command prints.
    pub fn from_output(output: &str) -> Option<CompileTimes> {
        let ms = |prefix: &str| {
            output.lines().find_map(|l| l.trim().strip_prefix(prefix)?.strip_suffix(" ms")?.trim().parse::<u64>().ok())
        };
        Some(CompileTimes { emulated_ms: ms("emulated compile:")?, cross_ms: ms("cross compile:") })
    }

    /// How many times slower the emulated compile was than the cross one.
    pub fn ratio(&self) -> Option<f64> {
        self.cross_ms.map(|c| self.emulated_ms as f64 / c.max(1) as f64)
    }

    /// `1.02 s emulated, 0.09 s cross (11×)`.
    pub fn describe(&self) -> String {
        let s = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
        match (self.cross_ms, self.ratio()) {
            (Some(c), Some(r)) => format!("{} emulated, {} cross ({r:.1}×)", s(self.emulated_ms), s(c)),
            _ => format!("{} emulated, no cross compiler here", s(self.emulated_ms)),
        }
    }
}

impl<'a> Plan<'a> {
    /// Plans `lab` for a machine of architecture `host_arch`.
    /// A lab that names its host system is planned for that one instead.
    pub fn new(lab: &'a Lab, host_arch: &'static str) -> Plan<'a> {
        let host_arch = lab.host_system.map_or(host_arch, |h| h.arch);
        let host_cpu = lab.host_machine().map(|(_, cpu)| cpu);
        let native = |s: &NixSystem| s.is_native_on(host_arch, host_cpu);
        // NixOS's module registers every system of `emulatedSystems`, those
        // the host runs natively too (see `native_interpreter`); the host's
        // own system is an assertion failure, which the spec rejects.
        let nixos = lab.binfmt.interpreter == Interpreter::Nixos;
        let release = lab.binfmt.nixos_release;
        let registered = |s: &NixSystem| match nixos {
            // Before the assertion (nixpkgs#218465), the own system too.
            true => !release.own_system_assertion || crate::systems::own_system(host_arch) != Some(s),
            false => !native(s),
        };
        let mut registrations: Vec<Registration> = Vec::new();
        // The lab's systems, then the payloads its probes run: a native
        // build that runs a foreign program needs that program's entry too.
        let mut emulated: Vec<&'static NixSystem> = Vec::new();
        for s in lab.systems.iter().copied().chain(lab.probes.iter().filter_map(|p| p.payload)) {
            if registered(s) && !emulated.contains(&s) {
                emulated.push(s);
            }
        }
        for s in emulated {
            let mut reg = match (lab.binfmt.tool, lab.binfmt.interpreter) {
                (_, Interpreter::None) => continue,
                // The spec checked that the tool serves every foreign system.
                (Some(tool), _) => {
                    let Some(e) = tool.entry_for(s) else { continue };
                    let canonical: String = "POCF".chars().filter(|c| e.flags.contains(*c)).collect();
                    // The stack's own emulator of the tool's kind, where the tool has another path.
                    let source = s.fhs_emulator(lab.binfmt.emulator);
                    // (NixOS's /run/binfmt links are the simulation's.)
                    let provide = match tool.is_nixos() || e.interpreter == source {
                        true => None,
                        false if tool.from_container => Some(Provide::FromContainer { source }),
                        false => Some(Provide::Installed {
                            replace: tool.static_emulator && e.interpreter == s.fhs_emulator(Emulator::Dynamic),
                            source,
                        }),
                    };
                    Registration {
                        name: e.name,
                        system: s,
                        offset: e.offset,
                        magic: e.magic,
                        mask: e.mask,
                        interpreter: e.interpreter,
                        // The tool's text byte for byte, unless `flags` changed the set.
                        flags: if canonical == lab.binfmt.flags {
                            e.flags.to_owned()
                        } else {
                            lab.binfmt.flags.clone()
                        },
                        provide,
                    }
                }
                (None, Interpreter::Fhs) => Registration {
                    name: format!("qemu-{}", s.qemu),
                    system: s,
                    offset: "",
                    magic: s.magic,
                    mask: s.mask,
                    interpreter: s.fhs_emulator(lab.binfmt.emulator),
                    flags: lab.binfmt.flags.clone(),
                    provide: None,
                },
                (None, Interpreter::Nixos) => Registration {
                    name: s.double.to_owned(),
                    system: s,
                    offset: "",
                    magic: s.magic,
                    mask: s.mask,
                    interpreter: format!("/run/binfmt/{}", s.double),
                    flags: lab.binfmt.flags.clone(),
                    provide: None,
                },
            };
            if nixos && s.nixpkgs_runs_natively_in(host_arch, release) {
                // Not qemu, so no P; F only with preferStaticEmulators.
                reg.flags = if lab.binfmt.emulator == Emulator::Static { "F" } else { "" }.to_owned();
            }
            // armv6l and armv7l share qemu-arm: Debian registers it once.
            if !registrations.iter().any(|r| r.name == reg.name) {
                registrations.push(reg);
            }
        }

        let mut nix_conf = NixConf {
            sandbox: lab.nix.sandbox,
            extra_sandbox_paths: lab.nix.extra_sandbox_paths.clone(),
            extra_platforms: lab.nix.extra_platforms.clone(),
            system_features: lab.nix.system_features.clone(),
            daemon: (lab.nix.mode == NixMode::Daemon).then(|| Daemon {
                build_users: if lab.host == HostKind::Nixos { 32 } else { 10 },
                trusted_users: lab.nix.trusted_users.clone(),
                emulated: lab.nix.emulated,
            }),
        };
        if lab.binfmt.interpreter == Interpreter::Nixos && !registrations.is_empty() {
            // What nixos/modules/system/boot/binfmt.nix adds, only when
            // `emulatedSystems` is not empty (its `nix.settings` is a mkIf).
            nix_conf.extra_sandbox_paths.insert(0, "/run/binfmt".to_owned());
            let mut platforms: Vec<String> =
                lab.systems.iter().filter(|s| registered(s)).map(|s| s.double.to_owned()).collect();
            // `lib.optional pkgs.stdenv.hostPlatform.isx86_64 "i686-linux"`
            if host_arch == "x86_64" && !platforms.iter().any(|p| p == "i686-linux") {
                platforms.push("i686-linux".to_owned());
            }
            for p in &lab.nix.extra_platforms {
                if !platforms.contains(p) {
                    platforms.push(p.clone());
                }
            }
            nix_conf.extra_platforms = platforms;
        }

        let machine = MachineState {
            binfmt_misc_unmounted: lab.machine.binfmt_misc_unmounted,
            proc_covered: if lab.machine.proc_partly_hidden { vec!["/proc/uptime"] } else { Vec::new() },
            missing: lab.machine.missing.clone(),
        };
        let mut plan = Plan { lab, host_arch, host_cpu, registrations, nix_conf, machine, probes: Vec::new() };
        for (index, spec) in lab.probes.iter().enumerate() {
            for &system in &lab.systems {
                if spec.systems.as_ref().is_some_and(|only| !only.contains(&system)) {
                    continue;
                }
                let probe = plan.probe(index, system);
                plan.probes.push(probe);
            }
        }
        plan
    }

    /// The registration that serves `system`, if any.
    pub fn registration_for(&self, system: &NixSystem) -> Option<&Registration> {
        self.registrations.iter().find(|r| r.system.qemu == system.qemu && r.system.magic == system.magic)
    }

    fn probe(&self, index: usize, system: &'static NixSystem) -> Probe {
        let spec = &self.lab.probes[index];
        let payload = spec.payload.unwrap_or(system);
        let cpu = spec.qemu_cpu.as_deref().or(system.qemu_cpu);
        let (title, command, builtin_line) = match spec.kind {
            ProbeKind::Binfmt => self.binfmt_probe(system),
            ProbeKind::NixConfig => self.nix_config_probe(system),
            ProbeKind::Exec => {
                let bin = format!("\"$CROSSLAB_PAYLOADS\"/{}/busybox", quote::sh(payload.double));
                let (prefix, how) = match (system.personality, cpu) {
                    (Some(p), _) if system.is_native_on(self.host_arch, self.host_cpu) => {
                        (format!("setarch {} ", quote::sh(p)), format!("natively, personality {p}"))
                    }
                    _ if system.is_native_on(self.host_arch, self.host_cpu) => (String::new(), "natively".to_owned()),
                    (_, Some(cpu)) => (format!("QEMU_CPU={} ", quote::sh(cpu)), format!("qemu CPU {cpu}")),
                    _ => (String::new(), "qemu's default CPU".to_owned()),
                };
                let what = if payload == system {
                    format!("a static {} binary runs ({how})", system.double)
                } else {
                    format!("a static {} binary runs as {} ({how})", payload.double, system.double)
                };
                let machine = printed_machine(system, payload, self.host_arch, self.host_cpu);
                (format!("{what}; `uname -m` prints {machine}"), format!("{prefix}{bin} uname -m"), Some(machine))
            }
            ProbeKind::Build => {
                let name = format!("crosslab-probe{index}-{}", system.double);
                let options: String = spec
                    .nix_options
                    .iter()
                    .map(|(k, v)| format!("--option {} {} ", quote::sh(k), quote::sh(v)))
                    .collect();
                let command = format!(
                    "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/{payload_dir})\n\
                     out=$(nix-build {options}--no-out-link --argstr name {name} --argstr system {system} \\\n  \
                     --argstr payload \"$payload\" --argstr qemuCpu {cpu}{features} \\\n  \
                     --expr {expr}) || exit 1\n\
                     cat \"$out\"",
                    payload_dir = quote::sh(payload.double),
                    name = quote::sh(&name),
                    system = quote::sh(system.double),
                    cpu = quote::sh(cpu.unwrap_or("")),
                    features = if spec.required_features.is_empty() {
                        String::new()
                    } else {
                        format!(" --argstr features {}", quote::sh(&spec.required_features.join(" ")))
                    },
                    expr = quote::sh(BUILD_EXPR),
                );
                let how = if self.nix_conf.sandbox { "sandboxed" } else { "unsandboxed" };
                let machine = printed_machine(system, payload, self.host_arch, self.host_cpu);
                let mut title = format!("{how} nix-build of a {} derivation", system.double);
                if payload != system {
                    title.push_str(&format!(" running a program for {}", payload.double));
                }
                if !spec.required_features.is_empty() {
                    title.push_str(&format!(" that requires {{{}}}", spec.required_features.join(", ")));
                }
                let with: Vec<String> = spec.nix_options.iter().map(|(k, v)| format!("--option {k} {v}")).collect();
                if !with.is_empty() {
                    title.push_str(&format!(" with {}", with.join(", ")));
                }
                (title, command, Some(machine))
            }
            ProbeKind::Compile => {
                let language = spec.language;
                let (source, file, compile) = program_of(language);
                let name = format!("crosslab-probe{index}-compile-{}", system.double);
                let link = language.toolchain_link(system);
                let mut command = format!(
                    "payload=$(readlink -f \"$CROSSLAB_PAYLOADS\"/{dir})\n\
                     toolchain=$(readlink -e \"${{CROSSLAB_TOOLCHAINS:-/nonexistent}}\"/{link_q}) \\\n  \
                     || {{ echo 'no {system} toolchain: $CROSSLAB_TOOLCHAINS/{link} is missing'; exit 1; }}\n\
                     source={source}\n\
                     out=$(nix-build --no-out-link --argstr name {name} --argstr system {system} \\\n  \
                     --argstr payload \"$payload\" --argstr toolchain \"$toolchain\" --argstr qemuCpu {cpu} \\\n  \
                     --argstr source \"$source\" --argstr file {file} --argstr compile {compile} \\\n  \
                     --expr {expr}) || exit 1\n\
                     cat \"$out\"",
                    dir = quote::sh(system.double),
                    link_q = quote::sh(&link),
                    system = system.double,
                    source = quote::sh(source),
                    name = quote::sh(&name),
                    cpu = quote::sh(cpu.unwrap_or("")),
                    file = quote::sh(file),
                    compile = quote::sh(compile),
                    expr = quote::sh(COMPILE_EXPR),
                );
                if language == Language::C {
                    let cross = format!("{}-gcc", system.gcc_triple);
                    command.push_str(&format!(
                        "\n# The same program with the host's cross compiler, for the time it takes.\n\
                         if command -v {cross} >/dev/null 2>&1; then\n  \
                         d=$(mktemp -d) && printf '%s' \"$source\" > \"$d/hello.c\" && start=$(date +%s%N) \\\n    \
                         && {cross} -O2 -o \"$d/hello\" \"$d/hello.c\" && end=$(date +%s%N) \\\n    \
                         && echo \"cross compile: $(( (end - start) / 1000000 )) ms\"\n  \
                         rm -rf \"$d\"\n\
                         fi\n\
                         true"
                    ));
                }
                let how = if self.nix_conf.sandbox { "sandboxed" } else { "unsandboxed" };
                (
                    format!(
                        "the {} {} toolchain compiles and runs a program in a {how} nix-build; it prints {:?}",
                        system.double,
                        language.name(),
                        hello_line(system)
                    ),
                    command,
                    None,
                )
            }
            ProbeKind::NixConfEdit => {
                let lines: Vec<String> = spec.set.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                let mut command = format!(
                    "printf '%s\\n' {} >> \"$NIX_CONF_DIR/nix.conf\"\ncat \"$NIX_CONF_DIR/nix.conf\"",
                    lines.iter().map(|l| quote::sh(l)).collect::<Vec<_>>().join(" ")
                );
                let then = match (&self.nix_conf.daemon, spec.restart_daemon) {
                    (Some(daemon), true) => {
                        command.push('\n');
                        command.push_str(&daemon.start_script());
                        "then restart the daemon"
                    }
                    (Some(_), false) => "the daemon keeps running",
                    (None, _) => "single-user: the next Nix command reads it",
                };
                (format!("add to nix.conf: {} ({then})", lines.join(", ")), command, None)
            }
            ProbeKind::Command => {
                let mut command = format!("export CROSSLAB_SYSTEM={}\n", quote::sh(system.double));
                if let Some(cpu) = &spec.qemu_cpu {
                    command.push_str(&format!("export QEMU_CPU={}\n", quote::sh(cpu)));
                }
                command.push_str(spec.run.as_deref().unwrap_or_default());
                (command_title(spec.run.as_deref().unwrap_or_default()), command, None)
            }
        };
        let mut expect = Expectation { status: spec.expect, contains: Vec::new(), line: None, by_stack: Vec::new() };
        if spec.expect == Expect::Pass {
            expect.line = builtin_line.map(str::to_owned);
            if spec.kind == ProbeKind::Compile {
                expect.line = Some(hello_line(system));
            }
        }
        // `expect-output` is the whole expectation of the output: it
        // replaces the kind's own line rather than adding to it.
        if let Some(out) = &spec.expect_output {
            if let Some(text) = &out.default {
                expect.contains = vec![text.clone()];
                expect.line = None;
            }
            expect.by_stack = out.stacks.clone();
        }
        Probe {
            index,
            kind: spec.kind,
            system,
            payload,
            title,
            command,
            expect,
            timeout: Duration::from_secs(spec.timeout_secs),
            language: spec.language,
            as_client: self.nix_conf.daemon.is_some()
                && !matches!(spec.kind, ProbeKind::Command | ProbeKind::NixConfEdit),
        }
    }

    /// The command a backend runs for `probe`: in daemon mode every Nix
    /// command goes through the daemon, and a client's probe drops to
    /// [`CLIENT_USER`] first.
    pub fn command_to_run(&self, probe: &Probe) -> String {
        if self.nix_conf.daemon.is_none() {
            return probe.command.clone();
        }
        if probe.as_client {
            format!(
                "export NIX_REMOTE=daemon\nexec setpriv --reuid={CLIENT_ID} --regid={CLIENT_ID} --init-groups -- /bin/sh -c {}",
                quote::sh(&probe.command)
            )
        } else {
            format!("export NIX_REMOTE=daemon\n{}", probe.command)
        }
    }

    fn binfmt_probe(&self, system: &'static NixSystem) -> (String, String, Option<&'static str>) {
        // A NixOS host registers systems it runs natively too.
        let registered = self.registration_for(system).is_some();
        if system.is_native_on(self.host_arch, self.host_cpu) && !registered {
            let names = [format!("qemu-{}", system.qemu), system.double.to_owned()];
            let checks: Vec<String> =
                names.iter().map(|n| format!("test ! -e {BINFMT_DIR}/{}", quote::sh(n))).collect();
            return (
                format!("{} runs natively on {}: no entry may take it over", system.double, self.host_arch),
                format!("ls {BINFMT_DIR}\n{}", checks.join(" && ")),
                None,
            );
        }
        let Some(reg) = self.registration_for(system) else {
            let names = [format!("qemu-{}", system.qemu), system.double.to_owned()];
            let checks: Vec<String> =
                names.iter().map(|n| format!("test ! -e {BINFMT_DIR}/{}", quote::sh(n))).collect();
            return (
                format!("no binfmt_misc entry for {} (interpreter = \"none\")", system.double),
                format!("ls {BINFMT_DIR}\n{}", checks.join(" && ")),
                None,
            );
        };
        let entry = format!("{BINFMT_DIR}/{}", quote::sh(&reg.name));
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let lines = [
            "enabled".to_owned(),
            format!("interpreter {}", reg.interpreter),
            format!("flags: {}", reg.kernel_flags()),
            format!("magic {}", hex(decode_binfmt_escapes(reg.magic))),
            format!("mask {}", hex(decode_binfmt_escapes(reg.mask))),
        ];
        let checks: Vec<String> = lines.iter().map(|l| format!("grep -qxF -- {} {entry}", quote::sh(l))).collect();
        (
            format!("binfmt_misc entry `{}` is enabled with {} and flags `{}`", reg.name, reg.interpreter, reg.flags),
            format!("cat {entry} || exit 1\n{}", checks.join(" && ")),
            None,
        )
    }

    fn nix_config_probe(&self, system: &'static NixSystem) -> (String, String, Option<&'static str>) {
        let mut wants = vec![("sandbox", self.nix_conf.sandbox.to_string())];
        if !system.is_native_on(self.host_arch, self.host_cpu) {
            wants.push(("extra-platforms", system.double.to_owned()));
        }
        for p in &self.nix_conf.extra_sandbox_paths {
            wants.push(("sandbox-paths", p.clone()));
        }
        let mut command = String::from(
            "conf=$(nix --extra-experimental-features nix-command show-config) || exit 1\n\
             printf '%s\\n' \"$conf\" | grep -E '^(sandbox|sandbox-paths|extra-platforms) = '\n\
             has() { printf '%s\\n' \"$conf\" | grep -E \"^$1 = \" | tr ' ' '\\n' | grep -qxF -- \"$2\" \
             || { printf 'missing from %s: %s\\n' \"$1\" \"$2\"; exit 1; }; }\n",
        );
        for (key, value) in &wants {
            command.push_str(&format!("has {key} {}\n", quote::sh(value)));
        }
        let summary: Vec<String> = wants.iter().map(|(k, v)| format!("{k} ∋ {v}")).collect();
        (format!("Nix reports {}", summary.join(", ")), command.trim_end().to_owned(), None)
    }
}

/// A `command` probe's title: its leading `# comment` if it starts with one,
/// else the last line of `run` that is not blank (usually the command that
/// decides), cut to 100 characters.
fn command_title(run: &str) -> String {
    let mut lines = run.lines().map(str::trim).filter(|l| !l.is_empty());
    let (is_comment, line) = match lines.clone().next() {
        Some(first) if first.starts_with('#') && !first.starts_with("#!") => {
            (true, first.trim_start_matches('#').trim())
        }
        _ => (false, lines.rfind(|l| !l.starts_with('#')).unwrap_or("")),
    };
    let mut title: String = line.chars().filter(|c| !c.is_control()).take(100).collect();
    if line.chars().count() > 100 {
        title.push('…');
    }
    if is_comment {
        title
    } else {
        format!("runs `{title}`")
    }
}

/// The systems and languages some `compile` probe of `plans` compiles for.
pub fn compile_toolchains(plans: &[&Plan]) -> Vec<(&'static NixSystem, Language)> {
    let mut wanted: Vec<(&'static NixSystem, Language)> = plans
        .iter()
        .flat_map(|p| &p.probes)
        .filter(|p| p.kind == ProbeKind::Compile)
        .map(|p| (p.system, p.language))
        .collect();
    wanted.sort_by_key(|(s, l)| (s.double, l.as_str()));
    wanted.dedup();
    wanted
}

/// The systems whose static payload some probe of `plans` runs.
pub fn payload_systems(plans: &[&Plan]) -> Vec<&'static NixSystem> {
    let mut systems: Vec<&'static NixSystem> = plans
        .iter()
        .flat_map(|p| &p.probes)
        .filter(|p| matches!(p.kind, ProbeKind::Exec | ProbeKind::Build | ProbeKind::Compile | ProbeKind::Command))
        .map(|p| p.payload)
        .collect();
    systems.sort_by_key(|s| s.double);
    systems.dedup();
    systems
}

#[cfg(test)]
mod tests {
    use super::{command_title, parse_shared_objects};

    #[test]
    fn shared_objects_are_bound_where_the_loader_looks_for_them() {
        let output = "/lib64/ld-linux-x86-64.so.2=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n\
                      /lib/x86_64-linux-gnu/libc.so.6=/usr/lib/x86_64-linux-gnu/libc.so.6\n\
                      /usr/lib/libz.so=/usr/lib/libz.so\n\
                      not a path\n/odd path=/x\n/lib64/ld-linux-x86-64.so.2=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n";
        assert_eq!(
            parse_shared_objects(output),
            [
                "/lib64/ld-linux-x86-64.so.2=/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                "/lib/x86_64-linux-gnu/libc.so.6=/usr/lib/x86_64-linux-gnu/libc.so.6",
                "/usr/lib/libz.so",
            ]
        );
    }

    #[test]
    fn a_command_probe_is_titled_by_its_comment_or_its_last_line() {
        assert_eq!(command_title("# the child is foreign\nqemu-aarch64 ./a.out\n"), "the child is foreign");
        assert_eq!(command_title("set -e\n\ncd /tmp\nuname -m  \n# done\n"), "runs `uname -m`");
        assert_eq!(command_title("#!/bin/sh\nid"), "runs `id`");
        let long = format!("echo {}", "x".repeat(200));
        assert_eq!(command_title(&long).chars().count(), "runs ``".len() + 101);
        assert!(command_title(&long).ends_with("x…`"));
    }
}

#[cfg(test)]
mod report_shapes {
    use super::*;

    fn plan_of(text: &str) -> Plan<'static> {
        let lab = Box::leak(Box::new(crate::spec::parse("t", std::path::Path::new("t.toml"), text).unwrap()));
        Plan::new(lab, "x86_64")
    }

    #[test]
    fn a_native_build_of_a_foreign_program_expects_that_program_s_machine_and_registers_it() {
        let plan = plan_of(
            "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"x86_64-linux\"]\n[binfmt]\nflags = \"PF\"\n[[probe]]\nkind = \"build\"\npayload = \"aarch64-linux\"\n",
        );
        assert_eq!(plan.probes[0].expect.line.as_deref(), Some("aarch64"));
        assert!(plan.probes[0].runs_foreign_natively("x86_64", None));
        assert_eq!(plan.registrations.iter().map(|r| r.system.double).collect::<Vec<_>>(), ["aarch64-linux"]);
        // An armv7l program as armv6l runs on the same qemu with the armv6 CPU.
        let arm = crate::systems::NixSystem::find("armv6l-linux").unwrap();
        let armv7 = crate::systems::NixSystem::find("armv7l-linux").unwrap();
        assert_eq!(printed_machine(arm, armv7, "x86_64", None), "armv6l");
        let i686 = crate::systems::NixSystem::find("i686-linux").unwrap();
        let x86 = crate::systems::NixSystem::find("x86_64-linux").unwrap();
        assert_eq!(printed_machine(i686, x86, "x86_64", None), "i686");
    }

    #[test]
    fn expect_output_replaces_the_line_and_a_run_takes_its_stack_s_then_its_nix_s_text() {
        let plan = plan_of(
            "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"build\"\nexpect-output = { default = \"new\", \"nix-2.8\" = \"old\", trixie = \"t\" }\n[[probe]]\nkind = \"build\"\nexpect-output = \"aarch64\"\n",
        );
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let e = &plan.probes[0].expect;
        assert_eq!(
            (e.on(&keys(&["bookworm", "nix-2.8"])).contains, e.on(&keys(&["bookworm", "nix-2.8"])).line),
            (vec!["old".to_owned()], None)
        );
        assert_eq!(e.on(&keys(&["trixie", "nix-2.8"])).contains, ["t"]);
        assert_eq!(e.on(&keys(&["host", "nix-2.26"])).contains, ["new"]);
        assert_eq!(
            (plan.probes[1].expect.contains.clone(), plan.probes[1].expect.line.clone()),
            (vec!["aarch64".to_owned()], None)
        );
        // Met by its own text alone, not by the built-in line added to it.
        assert!(plan.probes[1].expect.is_met(true, "building…\naarch64\n"));
    }

    #[test]
    fn machine_state_and_system_features_are_data_of_the_plan() {
        let plan = plan_of(
            "description = \"d\"\nhost = \"nixos\"\nsystems = [\"aarch64-linux\"]\n[nix]\nsystem-features = [\"kvm\", \"gccarch-armv8-a\"]\n[machine]\nproc = \"partly-hidden\"\nmissing = [\"/run/binfmt\"]\n[[probe]]\nkind = \"build\"\nrequired-system-features = [\"gccarch-armv8-a\"]\n",
        );
        assert_eq!(plan.machine.proc_covered, ["/proc/uptime"]);
        let command = plan.machine.command().unwrap();
        assert!(
            command.contains("rm -rf -- /run/binfmt")
                && command.contains("mount --bind /run/crosslab-proc-cover /proc/uptime"),
            "{command}"
        );
        assert!(plan.nix_conf.to_nix_conf(&[]).contains("\nsystem-features = kvm gccarch-armv8-a\n"));
        assert!(plan.probes[0].command.contains("--argstr features gccarch-armv8-a"), "{}", plan.probes[0].command);
        let plain = plan_of(
            "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"build\"\n",
        );
        assert_eq!(plain.machine.command(), None);
        assert!(!plain.nix_conf.to_nix_conf(&[]).contains("system-features"));
    }
}
