//! `cargo xtask bench`: what `lab run` costs over the bare commands it wraps.
//!
//! Both sides do the same work for a one-build-probe lab: a user namespace
//! with an identity map, private mount and PID namespaces, a tmpfs store, a
//! private binfmt_misc with qemu-aarch64 registered (F flag), a root of its
//! own made of the stack's (`--stack`) and pivoted into, and a sandboxed
//! `nix-build` of an aarch64 busybox derivation. "bare" is that sequence as a
//! shell script; "lab run" is the xtask binary itself (cargo's start-up is not
//! counted). Target: lab run within 2× of bare.
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
/// mapped to itself, from outside), mount and PID namespaces.
const IN_NAMESPACES: &str = r#"set -eu
fifo=$(mktemp -u /tmp/crosslab-bench.XXXXXX); mkfifo "$fifo"
unshare --user -- sh -c 'read -r _ < "$0"; exec unshare --mount --pid --fork --mount-proc -- sh -c "$1"' "$fifo" "$1" &
pid=$!
while [ "$(readlink /proc/$pid/ns/user)" = "$(readlink /proc/self/ns/user)" ]; do :; done
echo '0 0 4294967295' > /proc/$pid/uid_map
echo '0 0 4294967295' > /proc/$pid/gid_map
echo go > "$fifo"
wait $pid
rm -f "$fifo"
"#;

/// A command running the bare sequence `script` in [`IN_NAMESPACES`].
fn bare_command(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", IN_NAMESPACES, "sh", script]);
    c
}

/// The bare sequence. `$LOWER`: the stack's root (`/` for the host's);
/// `$PAYLOAD`: the aarch64-linux payload directory. As a lab does, it makes a
/// root of its own (the lower root's entries bound read-only beside a fresh
/// /nix, /run and /tmp) and pivots into it: a fresh machine has no /nix.
const BARE_SCRIPT: &str = r#"set -eu
exec 7< "$LOWER" 8< "$PAYLOAD"
r=/tmp
mount -t tmpfs tmpfs "$r"
for d in nix run tmp proc sys dev .old; do mkdir "$r/$d"; done
for e in /proc/self/fd/7/*; do
  n=${e##*/}
  case "$n" in nix|run|tmp|proc|sys|dev) continue;; esac
  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$r/$n"
  elif [ -d "$e" ]; then mkdir "$r/$n"; mount --no-canonicalize --rbind "$e" "$r/$n"; mount -o remount,bind,ro "$r/$n"; fi
done
mount -t tmpfs tmpfs "$r/nix"
mount -t tmpfs tmpfs "$r/run"
mkdir "$r/run/payload"
mount --no-canonicalize --bind /proc/self/fd/8 "$r/run/payload"
mount -t tmpfs tmpfs "$r/tmp"
mount --rbind /dev "$r/dev"
mount -t proc proc "$r/proc"
mount -t binfmt_misc binfmt_misc "$r/proc/sys/fs/binfmt_misc"
cd "$r"; pivot_root . .old; cd /; umount -l /.old
printf "%s" ":qemu-aarch64:M::$MAGIC:$MASK:/usr/bin/qemu-aarch64-static:PF" > /proc/sys/fs/binfmt_misc/register
mkdir -p /tmp/etc
printf "sandbox = true\nsubstituters =\nbuild-users-group =\nextra-platforms = aarch64-linux\n" > /tmp/etc/nix.conf
out=$(NIX_CONF_DIR=/tmp/etc NIX_REMOTE=local HOME=/tmp nix-build --no-out-link --argstr name bench \
  --argstr system aarch64-linux --argstr payload /run/payload --expr "$EXPR" 2>/dev/null)
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

        let bare = || {
            let mut c = bare_command(BARE_SCRIPT);
            c.env("MAGIC", aarch64.magic)
                .env("MASK", aarch64.mask)
                .env("PAYLOAD", &payload)
                .env("LOWER", &lower)
                .env("EXPR", BUILD_EXPR);
            c
        };
        let lab_run = || lab_run_command(&exe, &spec, stack.name);
        let ratio =
            compare(("bare commands", "the bare sequence", bare), ("lab run", "the bench lab", lab_run), self.runs)?;

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
        )?;
        let (probes, per_lab) = report_cost(self.runs)?;
        println!(
            "report         {:>7.3} ms per lab of {probes} probes (progress, table, surprises, JUnit)",
            ms(per_lab)
        );
        Ok(if ratio <= 2.0 && compile_ratio <= 2.0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
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
    c.env("MAGIC", aarch64.magic)
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

/// Times `lab` against the `bare` commands it wraps: both once to warm up
/// (page cache, payload cache) and check they work, then `runs` times each;
/// prints both and the ratio of their medians, and returns that ratio.
fn compare(
    (bare_label, bare_what, bare): Side<impl Fn() -> Command>,
    (lab_label, lab_what, lab): Side<impl Fn() -> Command>,
    runs: u32,
) -> anyhow::Result<f64> {
    time_once(bare()).with_context(|| format!("{bare_what} failed"))?;
    time_once(lab()).with_context(|| format!("`lab run` of {lab_what} failed"))?;
    let bare_times = time_runs(bare, runs)?;
    let lab_times = time_runs(lab, runs)?;
    let (b, l) = (median(&bare_times), median(&lab_times));
    for (label, median, times) in [(bare_label, b, &bare_times), (lab_label, l, &lab_times)] {
        println!("{label:<14} median {:>7.1} ms  min {:>7.1} ms  ({runs} runs)", ms(median), ms(min(times)));
    }
    let ratio = l.as_secs_f64() / b.as_secs_f64();
    println!("ratio          {ratio:.2}× (target: within 2×)");
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

fn time_runs(make: impl Fn() -> Command, runs: u32) -> anyhow::Result<Vec<Duration>> {
    (0..runs.max(1)).map(|_| time_once(make())).collect()
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
