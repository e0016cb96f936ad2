//! `cargo xtask bench`: what `lab run` costs over the bare commands it wraps.
//!
//! A one-build-probe lab against the minimal sequence it wraps, as a person
//! would type it ([`MINIMAL_SCRIPT`]): a user namespace with an identity map
//! and a mount namespace, a private binfmt_misc with qemu-aarch64 registered
//! (F flag), a private tmpfs store, and one sandboxed `nix-build` of an
//! aarch64 busybox derivation with no substituters. `lab run` (the xtask
//! binary itself; cargo's start-up is not counted) adds everything that
//! makes it a lab: its own root of the stack's (`--stack`) entries, a PID
//! namespace, the plan, the report. Target: within 1.15× (issue 18), the
//! medians of paired runs.
//!
//! The same for a one-compile-probe lab: "bare" is the emulated compile it
//! wraps, without Nix (the toolchain bound at its store path, its `cc` run on
//! the probe's program under qemu-aarch64, the program run), in the same kind
//! of namespaces; "lab run" adds the lab's setup, the sandboxed `nix-build`
//! around the compile and the host's cross compile the probe also times.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::flags;
use crate::plan::BUILD_EXPR;
use crate::systems::NixSystem;

/// The one-build-probe lab both sides run.
const BENCH_LAB: &str = r#"description = "bench: one sandboxed aarch64 build, F flag"
host = "non-nixos"
systems = ["aarch64-linux"]

[binfmt]
interpreter = "fhs"
flags = "PF"

# Single-user, as the minimal sequence it is compared with builds: a lab in
# daemon mode (the default) also starts nix-daemon and its users.
[nix]
mode = "single-user"

[[probe]]
kind = "build"
"#;

/// The one-compile-probe lab.
const BENCH_COMPILE_LAB: &str = r#"description = "bench: one emulated aarch64 compile in a sandboxed build, F flag"
host = "non-nixos"
systems = ["aarch64-linux"]

[binfmt]
interpreter = "fhs"
flags = "PF"

[nix]
mode = "single-user"

[[probe]]
kind = "compile"
"#;

/// The bare emulated compile: a root of its own holding /nix (a tmpfs with the
/// top-level directories of the stack's root `$LOWER` bound in; the host may
/// have no /nix), the toolchain bound at `$STORE_PATH`, the stack's
/// qemu-aarch64 registered privately, `cc` run on `$SOURCE`, the program run.
const BARE_COMPILE_SCRIPT: &str = r#"set -eu
# The root is a tmpfs on this namespace's /tmp, as a lab's: nothing is left on
# the host (the toolchain, which may live under /tmp, is held by fd 7; the
# stack's root by fd 6).
exec 6< "$LOWER" 7< "$TREE"
r=/tmp
mount -t tmpfs tmpfs "$r"
for d in nix tmp proc dev old; do mkdir "$r/$d"; done
for e in /proc/self/fd/6/*; do
  n=${e##*/}
  case "$n" in nix|tmp|proc|dev|old) continue;; esac
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$r/$n"
  elif [ -d "$e" ]; then mkdir "$r/$n"; mount --no-canonicalize --rbind "$e" "$r/$n"; fi
done
mkdir -p "$r$STORE_PATH"
mount --no-canonicalize --bind /proc/self/fd/7 "$r$STORE_PATH"
mount -t tmpfs tmpfs "$r/tmp"
mount --rbind /dev "$r/dev"
mount -t proc proc "$r/proc"
cd "$r"; pivot_root . old; cd /; umount -l /old
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf "%s" ":qemu-aarch64:M::$MAGIC:$MASK:/usr/bin/qemu-aarch64-static:PF" > /proc/sys/fs/binfmt_misc/register
cd /tmp && printf "%s" "$SOURCE" > hello.c
"$STORE_PATH/bin/cc" -O2 -o hello hello.c
./hello | grep -qx "compiled for aarch64, runs as aarch64"
"#;

/// Runs its argument, a bare sequence, as a lab runs: in new user (every id
/// mapped to itself, from outside) and mount namespaces, plus a PID
/// namespace when `$PID_NS` is 1.
const IN_NAMESPACES: &str = r#"set -eu
# The child says when it has its user namespace and waits for its maps:
# two fifos, no polling.
d=$(mktemp -d /tmp/crosslab-bench.XXXXXX); mkfifo "$d/up" "$d/go"
if [ "${PID_NS:-0}" = 1 ]; then more="--pid --fork --mount-proc"; else more=; fi
unshare --user -- sh -c 'echo > "$0/up"; read -r _ < "$0/go"; exec unshare --mount $2 -- sh -c "$1"' "$d" "$1" "$more" &
pid=$!
read -r _ < "$d/up"
echo '0 0 4294967295' > /proc/$pid/uid_map
echo '0 0 4294967295' > /proc/$pid/gid_map
echo go > "$d/go"
wait $pid
rm -r "$d"
"#;

/// A command running the bare sequence `script` in [`IN_NAMESPACES`].
fn bare_command(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", IN_NAMESPACES, "sh", script]);
    c
}

/// The minimal bare sequence a one-build lab wraps, in a user and a mount
/// namespace: a private binfmt_misc, qemu-aarch64 registered, a private
/// store, one sandboxed `nix-build` with no substituters. Nothing of
/// crosslab's own root: what a person would type. The store is a tmpfs on
/// `$STORE`, an empty directory of crosslab's cache (a fresh machine has no
/// `/nix` to mount on; the host's own Nix may live in /nix/store).
///
/// On a Debian stack (`$LOWER` is not `/`) its Nix runs in its root: the
/// sequence first binds that root, with /dev, /proc, a tmpfs /tmp for the
/// store and the payload, and pivots into it (so it also needs a PID
/// namespace, for Nix's sandbox to mount its /proc).
const MINIMAL_SCRIPT: &str = r#"set -eu
if [ "$LOWER" != / ]; then
  r=$LOWER
  mount --rbind "$r" "$r"
  mount -t tmpfs tmpfs "$r/tmp"
  mkdir "$r/tmp/payload" "$r/tmp/old" "$r/tmp/store"
  mount --bind "$PAYLOAD" "$r/tmp/payload"
  mount --rbind /dev "$r/dev"
  mount -t proc proc "$r/proc"
  cd "$r"; pivot_root . tmp/old; cd /; umount -l /tmp/old
  PAYLOAD=/tmp/payload STORE=/tmp/store
fi
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf "%s" ":qemu-aarch64:M::$MAGIC:$MASK:/usr/bin/qemu-aarch64-static:PF" > /proc/sys/fs/binfmt_misc/register
mount -t tmpfs tmpfs "$STORE"
export NIX_STORE_DIR="$STORE/store" NIX_STATE_DIR="$STORE/var" NIX_LOG_DIR="$STORE/log" NIX_CONF_DIR="$STORE" HOME="$STORE" NIX_REMOTE=local
out=$(nix-build --no-out-link --option sandbox true --option substituters '' --option build-users-group '' \
  --option extra-platforms aarch64-linux --argstr name bench --argstr system aarch64-linux \
  --argstr payload "$PAYLOAD" --expr "$EXPR" 2>/dev/null)
test "$(cat "$out")" = aarch64
"#;

impl flags::Bench {
    pub fn run(self, _root: &Path) -> anyhow::Result<ExitCode> {
        let dir = tempfile::tempdir()?;
        let spec = dir.path().join("bench.toml");
        std::fs::write(&spec, BENCH_LAB)?;
        let exe = std::env::current_exe()?;
        let aarch64 = NixSystem::find("aarch64-linux").expect("in the table");
        let sh = xshell::Shell::new()?;
        let payloads = crate::provision::payload::ensure(&sh, &[aarch64])?;
        let payload = payloads.join(aarch64.double).canonicalize()?;
        let stack = crate::provision::stack::Stack::find(&self.stack)?;
        let lower = stack.lower_root(&sh)?;
        println!("stack `{}` ({})", stack.name, stack.about);

        // The minimal sequence's store mounts on an empty directory of the cache.
        let store = crate::provision::payload::cache_dir()?.join("bench-store");
        std::fs::create_dir_all(&store).with_context(|| format!("failed to create `{}`", store.display()))?;
        let bare = || {
            let mut c = bare_command(MINIMAL_SCRIPT);
            c.env("MAGIC", aarch64.magic)
                .env("MASK", aarch64.mask)
                .env("PAYLOAD", &payload)
                .env("LOWER", &lower)
                .env("PID_NS", if lower == Path::new("/") { "0" } else { "1" })
                .env("STORE", &store)
                .env("EXPR", BUILD_EXPR);
            c
        };
        let lab_run = || lab_run_command(&exe, &spec, stack.name);
        let ratio = compare(
            ("minimal", "the minimal bare sequence", bare),
            ("lab run", "the bench lab", lab_run),
            self.runs,
            BUILD_TARGET,
        )?;

        // The compile probe against the bare emulated compile it wraps.
        let compile_spec = dir.path().join("bench-compile.toml");
        std::fs::write(&compile_spec, BENCH_COMPILE_LAB)?;
        let toolchain = crate::provision::toolchain::ensure(&sh, &[(aarch64, crate::spec::Language::C)])?.remove(0);
        println!(
            "toolchain      {} ({} MB, {} MB as a NAR)",
            toolchain.manifest.store_path,
            toolchain.manifest.bytes >> 20,
            toolchain.manifest.nar_size >> 20
        );
        // Both sides on the stack asked for, as the build pair is.
        let bare_compile = || bare_compile_command(&lower, &toolchain.tree(), &toolchain.manifest.store_path);
        let lab_compile = || lab_run_command(&exe, &compile_spec, stack.name);
        let compile_ratio = compare(
            ("bare compile", "the bare emulated compile", bare_compile),
            ("compile probe", "the compile bench lab", lab_compile),
            self.runs,
            COMPILE_TARGET,
        )?;
        let (probes, per_lab) = report_cost(self.runs)?;
        println!(
            "report         {:>7.3} ms per lab of {probes} probes (progress, table, surprises, JUnit)",
            ms(per_lab)
        );
        Ok(if ratio <= BUILD_TARGET && compile_ratio <= COMPILE_TARGET { ExitCode::SUCCESS } else { ExitCode::from(1) })
    }
}

/// `lab run` of a bench lab, on the host backend and `stack`.
fn lab_run_command(exe: &Path, spec: &Path, stack: &str) -> Command {
    let mut c = Command::new(exe);
    c.args(["lab", "run", "--backend", "host", "--stack", stack]).arg(spec).env("CI", "1");
    c
}

/// The bare emulated compile in a root made of the stack's root `lower`,
/// with the toolchain `tree` bound at `store_path`.
fn bare_compile_command(lower: &Path, tree: &Path, store_path: &str) -> Command {
    let aarch64 = NixSystem::find("aarch64-linux").expect("in the table");
    let mut c = bare_command(BARE_COMPILE_SCRIPT);
    c.env("PID_NS", "1")
        .env("MAGIC", aarch64.magic)
        .env("MASK", aarch64.mask)
        .env("LOWER", lower)
        .env("TREE", tree)
        .env("STORE_PATH", store_path)
        .env("SOURCE", crate::plan::HELLO_C);
    c
}

/// What showing a run costs, without running it: the terminal report (with
/// a surprise to explain) and JUnit XML of `multiarch-uname`, every probe
/// given a plausible outcome.
fn report_cost(rounds: u32) -> anyhow::Result<(usize, Duration)> {
    use std::sync::{Arc, Mutex};

    use crate::outcome::Execution;
    use crate::outcome::{LabReport, Verdict};
    use crate::report::{junit, Terminal};

    let text = include_str!("../../labs/multiarch-uname.toml");
    let lab = crate::spec::parse("multiarch-uname", Path::new("labs/multiarch-uname.toml"), text)?;
    let plan = crate::plan::Plan::new(&lab, std::env::consts::ARCH);
    let verdicts = plan
        .probes
        .iter()
        .enumerate()
        .map(|(i, probe)| {
            let passed = probe.expect.status == crate::spec::Expect::Pass;
            let output = if passed { format!("{}\n", probe.system.uname) } else { "Illegal instruction\n".to_owned() };
            // The last probe is a surprise, so that a diagnosis is drawn too.
            let as_expected = i + 1 < plan.probes.len();
            let execution = Execution {
                exit_code: Some(if passed { 0 } else { 132 }),
                signal: None,
                timed_out: false,
                duration: Duration::from_millis(20),
                output,
            };
            Verdict { probe: probe.clone(), execution, passed, as_expected }
        })
        .collect();
    let report = LabReport { lab: lab.name.clone(), backend: "host", verdicts, versions: None };
    let started = Instant::now();
    for _ in 0..rounds.max(1) {
        let mut terminal = Terminal::new(Arc::new(Mutex::new(std::io::sink())), false);
        terminal.lab_started(&plan);
        for v in &report.verdicts {
            terminal.verdict(&plan, v);
        }
        terminal.lab_finished(&plan, &report);
        junit::render(&[(&plan, &report)]);
    }
    Ok((report.verdicts.len(), started.elapsed() / rounds.max(1)))
}

/// A side of a comparison: its label in the table, what it is in an error,
/// and how to make its command.
type Side<'a, F> = (&'a str, &'a str, F);

/// What `lab run` of the one-build lab may cost over the minimal sequence.
const BUILD_TARGET: f64 = 1.15;
/// What the compile probe may cost over the bare emulated compile (it adds
/// a sandboxed `nix-build` and the host's cross compile).
const COMPILE_TARGET: f64 = 2.0;

/// Times `lab` against the `bare` commands it wraps: both once to warm up
/// (page cache, payload cache) and check they work, then `runs` pairs, bare
/// and lab one after the other, so that a machine's load changing over the
/// runs weighs on both sides alike; prints both medians and their ratio,
/// and returns that ratio.
fn compare(
    (bare_label, bare_what, bare): Side<impl Fn() -> Command>,
    (lab_label, lab_what, lab): Side<impl Fn() -> Command>,
    runs: u32,
    target: f64,
) -> anyhow::Result<f64> {
    time_once(bare()).with_context(|| format!("{bare_what} failed"))?;
    time_once(lab()).with_context(|| format!("`lab run` of {lab_what} failed"))?;
    let (mut bare_times, mut lab_times) = (Vec::new(), Vec::new());
    let (mut bare_cpu, mut lab_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let cpu = children_cpu();
        bare_times.push(time_once(bare()).with_context(|| format!("{bare_what} failed"))?);
        bare_cpu.push(children_cpu() - cpu);
        let cpu = children_cpu();
        lab_times.push(time_once(lab()).with_context(|| format!("`lab run` of {lab_what} failed"))?);
        lab_cpu.push(children_cpu() - cpu);
    }
    let (b, l) = (median(&bare_times), median(&lab_times));
    for (label, median, times, cpu) in [(bare_label, b, &bare_times, &bare_cpu), (lab_label, l, &lab_times, &lab_cpu)] {
        println!(
            "{label:<14} median {:>7.1} ms  min {:>7.1} ms  ({runs} runs; CPU median {:.1} ms)",
            ms(median),
            ms(min(times)),
            ms(self::median(cpu))
        );
    }
    let ratio = l.as_secs_f64() / b.as_secs_f64();
    println!("ratio          {ratio:.2}× (target: within {target}×)");
    Ok(ratio)
}

fn time_once(mut c: Command) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let out = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).output()?;
    let elapsed = start.elapsed();
    if !out.status.success() {
        bail!("{:?} exited with {}: {}", c.get_program(), out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(elapsed)
}

/// The CPU time (user and system) of every child process reaped so far:
/// unlike wall time, hardly moved by what else the machine is doing.
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn min(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Issue 18: `bench --stack X` ran its compile pair on the host stack.
    /// Both sides of it run on the stack asked for.
    #[test]
    fn the_compile_pair_runs_on_the_stack_asked_for() {
        let lab = super::lab_run_command(Path::new("/x/xtask"), Path::new("/t/bench-compile.toml"), "trixie");
        let args: Vec<String> = lab.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["lab", "run", "--backend", "host", "--stack", "trixie", "/t/bench-compile.toml"]);
        let root = Path::new("/cache/roots/stack-trixie-x/root");
        let bare = super::bare_compile_command(root, Path::new("/cache/t/tree"), "/nix/store/x-cc");
        let lower = bare.get_envs().find(|(k, _)| *k == "LOWER").and_then(|(_, v)| v);
        assert_eq!(lower, Some(root.as_os_str()));
        assert!(super::BARE_COMPILE_SCRIPT.contains(r#"exec 6< "$LOWER""#));
        assert!(!super::BARE_COMPILE_SCRIPT.contains("for e in /*"), "the root is the stack's, not the host's");
    }
}
