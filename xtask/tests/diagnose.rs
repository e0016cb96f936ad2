//! Diagnoses for every probe kind, each from a real failure in a real
//! host-backend run: a `command` probe earlier in the lab breaks what a later
//! probe checks (disables, re-registers or removes the entry; overrides or
//! breaks Nix's configuration), and the later probe's diagnosis must name
//! that from its own output. The matrix note names the most informative
//! surprise of a row, not the first.
//!
//! Then Nix's and qemu's own words, each produced for real on the stack
//! whose Nix says it (host: Debian 12's Nix 2.8; trixie: 2.26): a foreign
//! payload run through qemu with F, Exec format error, "not found" in the
//! sandbox, Debian 13's symlinked interpreter, required features and
//! platforms, a missing sandbox path, a /proc with something mounted over
//! part of it, a daemon ignoring an untrusted user's setting, a foreign
//! loader, and — through a seccomp filter on the test's thread, which the
//! lab inherits — a kernel refusing the 32-bit personality (as an aarch64
//! CPU without AArch32 does) or Nix's own seccomp filter (as qemu-user does).
//! Needs root, Nix, qemu-user-static and gcc-aarch64-linux-gnu (the README's
//! test command installs them) and the trixie stack.

use xtask::diagnose::{diagnose, Cause, Diagnosis, SpecChange};
use xtask::outcome::LabReport;
use xtask::plan::Plan;
use xtask::provision::payload;
use xtask::run::run_host;
use xtask::spec::{self, Lab};
use xtask::{flags, provision::stack::Stack, run::Session};

mod common;

fn lab(name: &str, text: &str) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    spec::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn run(plan: &Plan) -> LabReport {
    // Every system's payload: a command probe may run another system's.
    let mut systems: Vec<_> = plan.probes.iter().map(|p| p.payload).chain(plan.lab.systems.iter().copied()).collect();
    systems.sort_by_key(|s| s.double);
    systems.dedup();
    let payloads = payload::ensure(&xshell::Shell::new().unwrap(), &systems).unwrap();
    run_host(plan, &payloads, false, &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A lab whose first probe is the `command` `breaks`, then `probe` (a
/// `[[probe]]` body): the diagnosis of that second probe, and its output.
fn diagnosis_after(breaks: &str, probe: &str, nix: &str) -> (Diagnosis, String) {
    let text = format!(
        "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"P\"\n[nix]\n{nix}\n[[probe]]\nkind = \"command\"\nrun = '''\n{breaks}\n'''\n[[probe]]\n{probe}\n"
    );
    let lab = lab("breaks", &text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    assert!(report.verdicts[0].passed, "the breaking command failed:\n{}", report.verdicts[0].execution.output);
    let v = &report.verdicts[1];
    let shown = format!("{}: {}\n{}", v.probe.id(), v.label(), v.execution.output);
    (diagnose(&plan, v).unwrap_or_else(|| panic!("no diagnosis:\n{shown}")), shown)
}

const ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

#[test]
fn a_disabled_entry_is_diagnosed_from_the_binfmt_probe() {
    common::test_packages();
    let (d, out) = diagnosis_after(&format!("echo 0 > {ENTRY}"), "kind = \"binfmt\"", "");
    assert_eq!(d.cause, Cause::EntryDisabled, "{out}");
    assert!(d.fix.contains(&format!("echo 1 > {ENTRY}")), "{d:?}");
    // No spec change applies; the machine's step is the cause's own.
    assert!(d.changes.is_empty(), "{d:?}");
    assert!(d.on_machine[0].contains(&format!("echo 1 | sudo tee {ENTRY}")), "{d:?}");
}

#[test]
fn an_entry_registered_again_differently_is_diagnosed_with_what_it_is() {
    common::test_packages();
    let magic = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
    let mask = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff";
    let again = format!(
        "echo -1 > {ENTRY}\nprintf '%s' ':qemu-aarch64:M::{magic}:{mask}:/usr/bin/qemu-aarch64-static:PF' > /proc/sys/fs/binfmt_misc/register"
    );
    let (d, out) = diagnosis_after(&again, "kind = \"binfmt\"", "");
    assert_eq!(d.cause, Cause::EntryDiffers, "{out}");
    assert!(d.summary.contains("`PF`"), "{d:?}");
}

#[test]
fn a_removed_entry_is_diagnosed_as_gone() {
    common::test_packages();
    let (d, out) = diagnosis_after(&format!("echo -1 > {ENTRY}"), "kind = \"binfmt\"", "");
    assert_eq!(d.cause, Cause::EntryMissing, "{out}");
}

#[test]
fn a_platform_missing_from_nix_is_diagnosed_from_the_nix_config_probe() {
    common::test_packages();
    let (d, out) = diagnosis_after("true", "kind = \"nix-config\"", "extra-platforms = []");
    assert_eq!(d.cause, Cause::PlatformNotAllowed, "{out}");
    assert_eq!(d.changes, vec![SpecChange::AddPlatform("aarch64-linux")]);
}

#[test]
fn a_setting_another_nix_conf_overrides_is_diagnosed() {
    common::test_packages();
    let (d, out) =
        diagnosis_after("printf 'sandbox = false\\n' > \"$NIX_USER_CONF_FILES\"", "kind = \"nix-config\"", "");
    assert_eq!(d.cause, Cause::NixSettingMissing, "{out}");
    assert!(d.summary.contains("sandbox is not true"), "{d:?}");
    assert!(d.on_machine.iter().any(|s| s.contains("systemctl restart nix-daemon")), "{d:?}");
}

#[test]
fn a_configuration_nix_rejects_is_diagnosed_with_nix_s_words() {
    common::test_packages();
    let (d, out) =
        diagnosis_after("printf 'sandbox = maybe\\n' > \"$NIX_USER_CONF_FILES\"", "kind = \"nix-config\"", "");
    assert_eq!(d.cause, Cause::NixConfigRejected, "{out}");
    assert!(d.detail.contains("'maybe'"), "{d:?}");
}

#[test]
fn a_command_that_builds_gets_the_sandbox_diagnosis_of_a_build() {
    common::test_packages();
    // The lab's own build, written as a command: Nix's "executing '…'" is the evidence.
    let build = r#"kind = "command"
run = '''
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
nix-build --no-out-link --expr "derivation { name = \"c\"; system = \"$CROSSLAB_SYSTEM\"; builder = (builtins.path { path = $p; name = \"p\"; }) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }"
'''"#;
    let (d, out) = diagnosis_after("true", build, "");
    assert_eq!(d.cause, Cause::InterpreterOutsideSandbox, "{out}");
    assert_eq!(
        d.changes[0],
        SpecChange::AddSandboxPaths(vec!["/usr/bin/qemu-aarch64-static".into(), "/usr/bin/qemu-aarch64?".into()])
    );
}

#[test]
fn the_matrix_note_names_the_most_informative_surprise_not_the_first() {
    common::test_packages();
    // First a probe that times out (a weak note), then the sandbox failure.
    let text = r#"
description = "d"
host = "non-nixos"
systems = ["aarch64-linux"]
[binfmt]
flags = "P"
[[probe]]
kind = "command"
run = "sleep 10"
timeout = 1
[[probe]]
kind = "build"
"#;
    let lab = lab("notes", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run(&plan);
    let rows = xtask::matrix::rows_of(&plan, &report);
    assert_eq!(rows[0].note, "build: sandbox cannot see /usr/bin/qemu-aarch64-static", "{:?}", rows[0]);
}

/// Runs the lab `text` on the host backend and the stack `stack`; the
/// diagnosis of its last probe (which must be a surprise), and what it showed.
fn diagnosis_of(text: &str, stack: &str) -> (Diagnosis, String) {
    let lab = lab("words", text);
    let plan = Plan::new(&lab, std::env::consts::ARCH);
    let report = run_on(&plan, stack);
    let v = report.verdicts.last().unwrap();
    let shown = format!("{} on {stack}: {}\n{}", v.probe.id(), v.label(), v.execution.output);
    assert!(!v.as_expected, "no surprise:\n{shown}");
    (diagnose(&plan, v).unwrap_or_else(|| panic!("no diagnosis:\n{shown}")), shown)
}

/// Runs `plan` on the host backend and the stack `stack`.
fn run_on(plan: &Plan, stack: &str) -> LabReport {
    if stack == "host" {
        return run(plan);
    }
    let session = Session::start(flags::Backend::Host, Stack::find(stack).unwrap(), &[plan], false)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let report = session.run(plan, &mut |_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    session.finish();
    report
}

/// A lab for `systems` registered with `flags`, `[nix]` as given, and one
/// `[[probe]]` body.
/// Single-user Nix: the probes run Nix themselves as root, as the words
/// these tests provoke come from (a command probe may start its own daemon).
fn one_probe(systems: &str, flags: &str, nix: &str, probe: &str) -> String {
    format!("description = \"d\"\nhost = \"non-nixos\"\nsystems = [{systems}]\n[binfmt]\ninterpreter = \"fhs\"\nflags = \"{flags}\"\n[nix]\nmode = \"single-user\"\n{nix}\n[[probe]]\n{probe}\n")
}

/// A command probe that builds a derivation for `$CROSSLAB_SYSTEM` whose
/// builder is the payload's shell, with `attrs` as more of its attributes.
fn building_command(attrs: &str) -> String {
    format!(
        r#"kind = "command"
run = '''
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
nix-build --no-out-link --expr "derivation {{ name = \"w\"; system = \"$CROSSLAB_SYSTEM\"; {attrs} builder = (builtins.path {{ path = $p; name = \"p\"; }}) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }}"
'''"#
    )
}

#[test]
fn a_native_build_running_another_system_s_program_is_told_it_ran_emulated() {
    // nixpkgs#61537: an x86_64 build whose builder is aarch64's, which the
    // lab's qemu-aarch64 with F runs; it must not be called native. The lab
    // expects it to fail as in the report's CI, and here it passes (XPASS).
    let text = one_probe(
        "\"x86_64-linux\", \"aarch64-linux\"",
        "PF",
        "",
        "kind = \"build\"\nsystems = [\"x86_64-linux\"]\npayload = \"aarch64-linux\"\nexpect = \"fail\"",
    );
    let (d, out) = diagnosis_of(&text, "host");
    assert!(out.lines().any(|l| l.trim() == "aarch64"), "{out}");
    assert_eq!(d.cause, Cause::ForeignProgramEmulated, "{out}\n{d:?}");
    assert!(!d.detail.contains("natively") && !d.fix.contains("nothing to emulate"), "{d:?}");
    assert!(d.detail.contains("`qemu-aarch64`") && d.detail.contains("host's binfmt_misc"), "{d:?}");
    assert!(d.fix.contains("emulator the build names itself") && d.fix.contains("private binfmt_misc"), "{d:?}");
    assert_eq!(d.changes, vec![SpecChange::RemovePayload { probe: 0, system: "x86_64-linux" }]);
}

#[test]
fn a_command_that_runs_a_foreign_program_with_nothing_registered_gets_exec_format_error() {
    let text = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ninterpreter = \"none\"\n[[probe]]\nkind = \"command\"\nrun = '\"$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM/busybox\" uname -m'\n";
    let (d, out) = diagnosis_of(text, "host");
    assert!(out.contains("Exec format error"), "{out}");
    assert_eq!(d.cause, Cause::NothingRegistered, "{out}");
    assert_eq!(d.changes, vec![SpecChange::RegisterEmulator]);
}

#[test]
fn a_foreign_program_a_native_builder_runs_is_not_found_in_the_sandbox() {
    // The #61537 shape without F: x86_64's shell runs aarch64's busybox, and
    // the kernel looks for qemu-aarch64-static inside the sandbox.
    let probe = r#"kind = "command"
systems = ["x86_64-linux"]
run = '''
sh=$(readlink -f "$CROSSLAB_PAYLOADS/x86_64-linux")
arm=$(readlink -f "$CROSSLAB_PAYLOADS/aarch64-linux")
nix-build --no-out-link --expr "derivation { name = \"n\"; system = \"x86_64-linux\"; builder = (builtins.path { path = $sh; name = \"x\"; }) + \"/sh\"; args = [ \"-c\" \"\${builtins.path { path = $arm; name = \"a\"; }}/busybox uname -m > \$out\" ]; }"
'''"#;
    let text = one_probe("\"x86_64-linux\", \"aarch64-linux\"", "P", "", probe);
    let (d, out) = diagnosis_of(&text, "host");
    assert!(out.lines().any(|l| l.trim_end().ends_with(": not found")), "{out}");
    assert_eq!(d.cause, Cause::InterpreterOutsideSandbox, "{out}\n{d:?}");
    assert!(d.changes.contains(&SpecChange::AddFlag('F')), "{d:?}");
}

#[test]
fn a_listed_symlinked_interpreter_is_diagnosed_with_its_target_on_trixie() {
    // Debian 13: /usr/bin/qemu-aarch64-static -> qemu-aarch64, and Nix binds the link alone.
    let text = one_probe(
        "\"aarch64-linux\"",
        "P",
        "extra-sandbox-paths = [\"/usr/bin/qemu-aarch64-static\"]",
        "kind = \"build\"",
    );
    let (d, out) = diagnosis_of(&text, "trixie");
    assert!(out.contains("No such file or directory"), "{out}");
    assert_eq!(d.cause, Cause::InterpreterLinkOnly, "{out}\n{d:?}");
    assert!(d.detail.contains("symlink to /usr/bin/qemu-aarch64"), "{d:?}");
    // The path already listed is not proposed again; its target is.
    assert_eq!(
        d.changes,
        vec![SpecChange::AddSandboxPaths(vec!["/usr/bin/qemu-aarch64?".into()]), SpecChange::AddFlag('F')]
    );
}

#[test]
fn a_missing_system_feature_is_named_when_the_platform_is_already_there() {
    // nix-community/infra#1916: armv7l-linux in extra-platforms, the build
    // needs gccarch-armv7-a; adding the platform again would be a no-op.
    for stack in ["host", "trixie"] {
        let text = one_probe(
            "\"armv7l-linux\"",
            "PF",
            "extra-platforms = [\"armv7l-linux\"]",
            &building_command("requiredSystemFeatures = [ \\\"gccarch-armv7-a\\\" ];"),
        );
        let (d, out) = diagnosis_of(&text, stack);
        assert!(out.contains("with features {gccarch-armv7-a} is required to build"), "{out}");
        assert_eq!(d.cause, Cause::SystemFeatureMissing, "{out}\n{d:?}");
        assert_eq!(d.changes, vec![SpecChange::AddSystemFeatures(vec!["gccarch-armv7-a".into()])], "{stack}");
    }
}

#[test]
fn a_platform_nix_does_not_have_is_named_from_nix_s_words() {
    // raspberry-pi-nix#129: "a 'aarch64-linux' with features {} is required …, but I am a 'x86_64-linux'".
    let text = one_probe("\"aarch64-linux\"", "PF", "extra-platforms = []", &building_command(""));
    let (d, out) = diagnosis_of(&text, "host");
    assert!(out.contains("a 'aarch64-linux' with features {} is required to build"), "{out}");
    assert_eq!(d.cause, Cause::PlatformNotAllowed, "{out}");
    assert_eq!(d.changes, vec![SpecChange::AddPlatform("aarch64-linux")]);
}

#[test]
fn a_sandbox_path_that_does_not_exist_is_made_optional_or_removed() {
    // NixOS-WSL#552: /run/binfmt in the sandbox paths, and no /run/binfmt.
    let text = one_probe("\"aarch64-linux\"", "PF", "extra-sandbox-paths = [\"/run/binfmt\"]", "kind = \"build\"");
    let (d, out) = diagnosis_of(&text, "host");
    assert!(out.contains("getting attributes of path '/run/binfmt': No such file or directory"), "{out}");
    assert_eq!(d.cause, Cause::MissingSandboxPath, "{out}");
    assert_eq!(
        d.changes,
        vec![
            SpecChange::MakeSandboxPathOptional("/run/binfmt".into()),
            SpecChange::RemoveSandboxPath("/run/binfmt".into())
        ]
    );
}

#[test]
fn a_proc_that_is_not_fully_visible_is_diagnosed_on_each_nix() {
    // NixOS/nix#7783: something mounted over part of /proc. Nix 2.8 fails
    // mounting /proc; 2.26 says the namespaces are not supported.
    let probe = r#"kind = "command"
run = '''
unshare --mount --propagation private sh -c 'mount -t tmpfs crosslab-mask /proc/sys/kernel/random && exec sh' <<'BUILD'
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
nix-build --no-out-link --expr "derivation { name = \"m\"; system = \"$CROSSLAB_SYSTEM\"; builder = (builtins.path { path = $p; name = \"p\"; }) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }"
BUILD
'''"#;
    for (stack, words) in [
        ("host", "mounting /proc: Operation not permitted"),
        ("trixie", "does not support the kernel namespaces that are required for sandboxing"),
    ] {
        let text = one_probe("\"aarch64-linux\"", "PF", "", probe);
        let (d, out) = diagnosis_of(&text, stack);
        assert!(out.contains(words), "{stack}: {out}");
        assert_eq!(d.cause, Cause::SandboxNamespaces, "{out}");
        assert_eq!(d.changes, vec![SpecChange::SandboxOff]);
    }
}

#[test]
fn a_setting_an_untrusted_user_passes_is_diagnosed_as_restricted() {
    // Nix 2.26's daemon says so (2.8's ignores it silently); the client is
    // root, whom `trusted-users = nobody` does not trust.
    let probe = r#"kind = "command"
run = '''
export NIX_DAEMON_SOCKET_PATH=$(mktemp -d)/socket
NIX_CONFIG='trusted-users = nobody' nix-daemon & daemon=$!
for i in 1 2 3 4 5 6 7 8 9 10; do [ -S "$NIX_DAEMON_SOCKET_PATH" ] && break; sleep 0.2; done
p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
nix-build --store daemon --option extra-platforms "$CROSSLAB_SYSTEM" --no-out-link --expr "derivation { name = \"r\"; system = \"$CROSSLAB_SYSTEM\"; builder = (builtins.path { path = $p; name = \"p\"; }) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }"
status=$?
kill $daemon
exit $status
'''"#;
    let text = one_probe("\"aarch64-linux\"", "PF", "extra-platforms = []", probe);
    let (d, out) = diagnosis_of(&text, "trixie");
    assert!(out.contains("because it is a restricted setting and you are not a trusted user"), "{out}");
    assert_eq!(d.cause, Cause::RestrictedSetting, "{out}");
    assert!(d.summary.contains("`extra-platforms`"), "{d:?}");
    assert_eq!(d.changes, vec![SpecChange::AddPlatform("aarch64-linux")]);
}

#[test]
fn a_foreign_loader_qemu_cannot_open_is_named() {
    // A dynamically linked aarch64 program, run through qemu-aarch64-static
    // on a machine with no aarch64 libc at /.
    let probe = r#"kind = "command"
run = '''
d=$(mktemp -d) && printf 'int main(void) { return 0; }\n' > "$d/h.c" && aarch64-linux-gnu-gcc -o "$d/h" "$d/h.c" && "$d/h"
'''"#;
    let text = one_probe("\"aarch64-linux\"", "PF", "", probe);
    let (d, out) = diagnosis_of(&text, "host");
    assert!(out.contains("Could not open '/lib/ld-linux-aarch64.so.1': No such file or directory"), "{out}");
    assert_eq!(d.cause, Cause::TargetLoaderMissing, "{out}");
    assert!(d.fix.contains("QEMU_LD_PREFIX"), "{d:?}");
}

/// One instruction of a classic BPF program (linux/filter.h).
#[repr(C)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

// linux/filter.h, linux/seccomp.h, linux/audit.h.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
const ALLOW: u32 = 0x7fff_0000;
const EINVAL: u32 = 0x0005_0000 | libc::EINVAL as u32;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Loads the seccomp filter `program` into this thread, so every process it
/// starts from now on has it. As root (CAP_SYS_ADMIN), without
/// no_new_privs, which the lab's set-up would inherit.
fn load_filter(program: &[SockFilter]) {
    assert_eq!(std::env::consts::ARCH, "x86_64", "the filters are written for x86_64");
    let prog = SockFprog { len: program.len() as u16, filter: program.as_ptr() };
    let loaded = unsafe { libc::prctl(libc::PR_SET_SECCOMP, 2, &prog as *const SockFprog) };
    assert_eq!(loaded, 0, "{}", std::io::Error::last_os_error());
}

/// Runs the lab `text` on `stack` from a thread whose processes have the
/// seccomp filter `program`: its last probe's verdict, diagnosis and output.
fn run_under(program: Vec<SockFilter>, text: String, stack: &'static str) -> (bool, Option<Diagnosis>, String) {
    std::thread::spawn(move || {
        load_filter(&program);
        let lab = lab("filtered", &text);
        let plan = Plan::new(&lab, std::env::consts::ARCH);
        let report = run_on(&plan, stack);
        let v = report.verdicts.last().unwrap();
        (v.passed, diagnose(&plan, v), format!("{} on {stack}: {}\n{}", v.probe.id(), v.label(), v.execution.output))
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[test]
fn a_refused_32bit_personality_is_diagnosed() {
    // Nix sets PER_LINUX32 for every armv7l build; a filter makes the kernel
    // refuse it with EINVAL as an aarch64 CPU without AArch32 does (NixOS/nix#6473).
    let refuse_personality = vec![
        bpf(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        bpf(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        bpf(RET_K, 0, 0, ALLOW),
        bpf(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        bpf(JEQ_K, 1, 0, libc::SYS_personality as u32),
        bpf(RET_K, 0, 0, ALLOW),
        bpf(LD_W_ABS, 0, 0, 16),  // args[0], low half
        bpf(JEQ_K, 0, 1, 0x0008), // PER_LINUX32
        bpf(RET_K, 0, 0, EINVAL),
        bpf(RET_K, 0, 0, ALLOW),
    ];
    let text = one_probe("\"armv7l-linux\"", "PF", "", "kind = \"build\"");
    let (_, d, out) = run_under(refuse_personality, text, "host");
    assert!(out.contains("cannot set 32-bit personality: Invalid argument"), "{out}");
    let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
    assert_eq!(d.cause, Cause::NoPersonality32, "{out}");
    assert!(d.changes.is_empty(), "{d:?}");
}

/// A filter under which loading another seccomp filter fails with EINVAL,
/// through `seccomp()` or `prctl(PR_SET_SECCOMP)`, as under qemu-user (NixOS/nix#5258).
fn refuse_seccomp() -> Vec<SockFilter> {
    vec![
        bpf(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        bpf(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        bpf(RET_K, 0, 0, ALLOW),
        bpf(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        bpf(JEQ_K, 0, 1, libc::SYS_seccomp as u32),
        bpf(RET_K, 0, 0, EINVAL),
        bpf(JEQ_K, 0, 3, libc::SYS_prctl as u32),
        bpf(LD_W_ABS, 0, 0, 16), // args[0], low half
        bpf(JEQ_K, 0, 1, libc::PR_SET_SECCOMP as u32),
        bpf(RET_K, 0, 0, EINVAL),
        bpf(RET_K, 0, 0, ALLOW),
    ]
}

/// A command probe that builds for its system as the build user of a
/// `nixbld` group (Nix ignores a failed seccomp filter without build users),
/// the group and user bound over the host's /etc/group and /etc/passwd in a
/// mount namespace of its own; `options` are more of nix-build's.
fn build_as_build_user(options: &str) -> String {
    format!(
        r#"kind = "command"
run = '''
export p=$(readlink -f "$CROSSLAB_PAYLOADS/$CROSSLAB_SYSTEM")
unshare --mount --propagation private sh -c '
d=$(mktemp -d)
{{ cat /etc/group; echo "nixbld:x:30000:nixbld1"; }} > $d/group
{{ cat /etc/passwd; echo "nixbld1:x:30001:30000::/var/empty:/bin/false"; }} > $d/passwd
mount --bind $d/group /etc/group && mount --bind $d/passwd /etc/passwd && exec sh' <<'BUILD'
nix-build --option build-users-group nixbld {options} --no-out-link --expr "derivation {{ name = \"s\"; system = \"$CROSSLAB_SYSTEM\"; builder = (builtins.path {{ path = $p; name = \"p\"; }}) + \"/sh\"; args = [ \"-c\" \"echo > \$out\" ]; }}"
BUILD
'''"#
    )
}

#[test]
fn a_refused_seccomp_filter_is_diagnosed_and_filter_syscalls_false_is_the_way_out() {
    // The sandbox is off: with it on, Nix 2.8 reports the dead child's mount
    // namespace ("getting sandbox mount namespace") instead.
    let lab = |probe: String| {
        format!("description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"x86_64-linux\"]\n[nix]\nsandbox = false\n[[probe]]\n{probe}\n")
    };
    for stack in ["host", "trixie"] {
        let (passed, d, out) = run_under(refuse_seccomp(), lab(build_as_build_user("")), stack);
        assert!(!passed && out.contains("unable to load seccomp BPF program: Invalid argument"), "{out}");
        let d = d.unwrap_or_else(|| panic!("no diagnosis:\n{out}"));
        assert_eq!(d.cause, Cause::SeccompRefused, "{out}");
        assert_eq!(d.changes, vec![SpecChange::FilterSyscallsOff]);
        // What the change stands for passes under the same filter.
        let (passed, _, out) =
            run_under(refuse_seccomp(), lab(build_as_build_user("--option filter-syscalls false")), stack);
        assert!(passed, "{out}");
    }
}
