//! Registrations as each tool writes them: `binfmt.tool` in a spec, what its
//! mistakes are told, and that a lab naming a Debian tool plans the very
//! bytes of that release's `/usr/lib/binfmt.d/qemu-<arch>.conf`. The bookworm
//! files are the host's (the README's test command installs
//! qemu-user-static); trixie's come from the trixie stack's root.

use std::path::Path;

use expect_test::{expect, Expect};
use xtask::plan::Plan;
use xtask::registrations::Tool;
use xtask::spec;
use xtask::systems::SYSTEMS;

fn parse(text: &str) -> Result<spec::Lab, String> {
    spec::parse("t", Path::new("labs/t.toml"), text).map_err(|e| e.to_string())
}

/// The registration lines a lab plans on x86_64, or its spec error.
fn check(text: &str, expected: Expect) {
    let actual = match parse(text) {
        Ok(lab) => {
            let plan = Plan::new(&lab, "x86_64");
            let lines: Vec<String> = plan.registrations.iter().map(|r| r.line()).collect();
            format!(
                "ok: interpreter={} emulator={} flags={}\n{}",
                lab.binfmt.interpreter.as_str(),
                lab.binfmt.emulator.as_str(),
                lab.binfmt.flags,
                lines.join("\n")
            )
        }
        Err(e) => e,
    };
    expected.assert_eq(&actual);
}

fn lab(host: &str, systems: &str, binfmt: &str) -> String {
    format!("description = \"d\"\nhost = \"{host}\"\nsystems = [{systems}]\n[binfmt]\n{binfmt}\n[[probe]]\nkind = \"build\"\n")
}

#[test]
fn an_unknown_tool_is_told_with_the_nearest_one_and_every_choice() {
    check(
        &lab("non-nixos", "\"aarch64-linux\"", "tool = \"debian-bookwrom\""),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:8`: `binfmt.tool`: unknown registration tool `debian-bookwrom`
              help: did you mean "debian-bookworm"? the tools are: "debian-bookworm", "debian-trixie", "debian-forky", "ubuntu-static-legacy", "qemu-binfmt-conf", "tonistiigi-binfmt", "multiarch-qemu-user-static", "nixos-dynamic", "nixos-static""#]],
    );
    check(
        &lab("non-nixos", "\"aarch64-linux\"", "tool = \"docker\""),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:8`: `binfmt.tool`: unknown registration tool `docker`
              help: the tools are: "debian-bookworm", "debian-trixie", "debian-forky", "ubuntu-static-legacy", "qemu-binfmt-conf", "tonistiigi-binfmt", "multiarch-qemu-user-static", "nixos-dynamic", "nixos-static""#]],
    );
}

#[test]
fn what_the_tool_decides_cannot_be_contradicted() {
    check(
        &lab("non-nixos", "\"aarch64-linux\"", "tool = \"nixos-dynamic\""),
        expect![[r#"
            invalid lab spec `labs/t.toml:5:8`: `binfmt.tool`: `nixos-dynamic` is NixOS's boot.binfmt module (NixOS boot.binfmt.emulatedSystems (/run/binfmt/<system>, flags P)): it needs `host = "nixos"`
              help: set `host = "nixos"`, or name the tool of a Debian-like host, e.g. `tool = "debian-bookworm"`"#]],
    );
    check(
        &lab("non-nixos", "\"aarch64-linux\"", "tool = \"debian-bookworm\"\ninterpreter = \"none\""),
        expect![[r#"
            invalid lab spec `labs/t.toml:6:15`: `binfmt.interpreter`: `none` contradicts `tool = "debian-bookworm"`, which registers with interpreter `fhs` (Debian 12's qemu-user-static (/usr/lib/binfmt.d/qemu-<arch>.conf, loaded by systemd-binfmt))
              help: remove `interpreter` (the tool decides it), or remove `tool`"#]],
    );
    check(
        &lab("nixos", "\"aarch64-linux\"", "tool = \"nixos-static\"\nemulator = \"dynamic\""),
        expect![[r#"
            invalid lab spec `labs/t.toml:6:12`: `binfmt.emulator`: `dynamic` contradicts `tool = "nixos-static"`, which registers with emulator `static` (NixOS boot.binfmt.emulatedSystems with preferStaticEmulators (/run/binfmt/<system>, flags PF))
              help: remove `emulator` (the tool decides it), or remove `tool`"#]],
    );
}

#[test]
fn a_tool_registers_its_own_bytes_and_flags_may_override_its_flags() {
    check(
        &lab("non-nixos", "\"aarch64-linux\", \"armv7l-linux\"", "tool = \"debian-bookworm\""),
        expect![[r#"
            ok: interpreter=fhs emulator=static flags=POF
            :qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF
            :qemu-arm:M::\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/arm-binfmt-P:OPF"#]],
    );
    // An admin's edit of the tool's entry: its bytes, other flags.
    check(
        &lab("non-nixos", "\"aarch64-linux\"", "tool = \"debian-bookworm\"\nflags = \"OP\""),
        expect![[r#"
            ok: interpreter=fhs emulator=static flags=PO
            :qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:PO"#]],
    );
    check(
        &lab("non-nixos", "\"riscv64-linux\"", "tool = \"tonistiigi-binfmt\""),
        expect![[r#"
            ok: interpreter=fhs emulator=static flags=CF
            :qemu-riscv64:M:0:\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-riscv64:CF"#]],
    );
    // NixOS's module: the lines `interpreter = "nixos"` already plans.
    let by_tool = parse(&lab("nixos", "\"aarch64-linux\"", "tool = \"nixos-dynamic\"")).unwrap();
    let by_keys = parse(&lab("nixos", "\"aarch64-linux\"", "interpreter = \"nixos\"")).unwrap();
    let lines = |l: &spec::Lab| Plan::new(l, "x86_64").registrations.iter().map(|r| r.line()).collect::<Vec<_>>();
    assert_eq!(lines(&by_tool), lines(&by_keys));
    assert_eq!(
        lines(&by_tool),
        [
            r":aarch64-linux:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff:/run/binfmt/aarch64-linux:P"
        ]
    );
}

/// For each system whose file `dir` has, a lab naming `tool` plans that
/// file's line byte for byte (the file ends with a newline); a row of the
/// tool has no file only for a system this machine runs natively (Debian's
/// package leaves out the build machine's family).
fn plans_the_files_of(tool: &str, dir: &Path) -> usize {
    let t = Tool::find(tool).unwrap();
    let mut compared = 0;
    for s in SYSTEMS {
        let file = dir.join(format!("qemu-{}.conf", s.qemu));
        let Ok(text) = std::fs::read_to_string(&file) else {
            assert!(
                t.entry_for(s).is_none() || s.is_native_here(),
                "{tool} has a row for {} but {} is missing",
                s.double,
                file.display()
            );
            continue;
        };
        let lab = parse(&lab("non-nixos", &format!("\"{}\"", s.double), &format!("tool = \"{tool}\"")))
            .unwrap_or_else(|e| panic!("{tool} {}: {e}", s.double));
        // Planned as on a machine that runs none of these natively.
        let plan = Plan::new(&lab, "none");
        let [reg] = &plan.registrations[..] else { panic!("{tool} {}: {:?}", s.double, plan.registrations) };
        assert_eq!(format!("{}\n", reg.line()), text, "{tool} {} against {}", s.double, file.display());
        compared += 1;
    }
    compared
}

#[test]
fn the_debian_rows_are_the_packages_files_byte_for_byte() {
    // bookworm, as installed here: qemu-user-static's own files (amd64: no
    // x86_64 or i386 file).
    let bookworm = plans_the_files_of("debian-bookworm", Path::new("/usr/lib/binfmt.d"));
    assert_eq!(bookworm, 6 + 2, "aarch64, arm (three ARM systems), riscv64, s390x, ppc64le, mips64el");
    // trixie: the stack's root; qemu-user ships every file in
    // /usr/share/qemu/binfmt.d, qemu-user-binfmt links the foreign ones.
    let sh = xshell::Shell::new().unwrap();
    let trixie =
        xtask::provision::stack::Stack::find("trixie").unwrap().lower_root(&sh).expect("the trixie stack's root");
    assert_eq!(plans_the_files_of("debian-trixie", &trixie.join("usr/share/qemu/binfmt.d")), SYSTEMS.len());
    assert_eq!(plans_the_files_of("debian-trixie", &trixie.join("usr/lib/binfmt.d")), 6 + 2);
}

/// `lab capture`'s model of a machine whose entries are a tool's own: the
/// spec names the tool, so the lab registers the machine's bytes and keeps
/// the sandbox path that shows the real interpreter.
#[test]
fn a_machine_with_a_tool_s_own_entries_is_captured_as_that_tool() {
    use xtask::capture::Machine;
    use xtask::machine::binfmt::Entry;
    let aarch64 = xtask::systems::NixSystem::find("aarch64-linux").unwrap();
    let debian = Tool::find("debian-bookworm").unwrap();
    let entry = |tool| Entry {
        name: "qemu-aarch64".into(),
        enabled: true,
        interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P".into(),
        flags: "POF".into(),
        system: Some(aarch64),
        tool,
    };
    let machine = |tool| Machine {
        host: spec::HostKind::NonNixos,
        host_arch: "x86_64",
        entries: vec![entry(tool)],
        skipped: Vec::new(),
        sandbox: true,
        sandbox_relaxed: false,
        sandbox_paths: vec!["/usr/libexec/qemu-binfmt".into()],
        extra_platforms: vec!["aarch64-linux".into()],
    };
    let text = machine(Some(debian)).to_spec();
    let lab = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(lab.binfmt.tool.map(|t| t.name), Some("debian-bookworm"), "{text}");
    assert_eq!(lab.nix.extra_sandbox_paths, ["/usr/libexec/qemu-binfmt"], "{text}");
    let plan = Plan::new(&lab, "x86_64");
    assert_eq!(plan.registrations[0].line(), debian.entry_for(aarch64).unwrap().line());
    // The same entry from no known tool: modelled with the keys, as before.
    let text = machine(None).to_spec();
    let lab = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!((lab.binfmt.tool, lab.binfmt.interpreter), (None, spec::Interpreter::Fhs), "{text}");
    assert_eq!(lab.nix.extra_sandbox_paths, ["/usr/bin/qemu-aarch64-static"], "{text}");
}

/// `lab run` of a lab naming `tool`, with a build probe expecting `build`
/// (`pass`, or the error text of a failure): whether every probe went as
/// expected, and the run's output.
fn run_tool_lab(tool: &str, build: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{tool}.toml"));
    let expect = match build {
        "pass" => String::new(),
        text => format!("expect = \"fail\"\nexpect-output = \"{text}\"\n"),
    };
    let text = format!(
        "description = \"registered by {tool}\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n[binfmt]\ntool = \"{tool}\"\n[[probe]]\nkind = \"binfmt\"\n[[probe]]\nkind = \"exec\"\n[[probe]]\nkind = \"build\"\n{expect}"
    );
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "run"]).arg(&path).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.code().is_some_and(|c| c < 2), "lab run could not run the {tool} lab:\n{all}");
    (out.status.success(), all)
}

/// Each tool's interpreter is where the tool has it when the lab runs: a
/// container's F entry holds a static qemu whatever the host's file at that
/// path is (on bookworm /usr/bin/qemu-aarch64 is the dynamically linked
/// qemu-user, which a sandbox could not start); QEMU's script's
/// /usr/local/bin/qemu-aarch64 runs binaries but, without F, is not in the
/// sandbox; the pre-5.2 Debian entry has no F either.
#[test]
fn each_tool_s_lab_builds_as_a_machine_with_that_tool_does() {
    for (tool, build) in [
        ("tonistiigi-binfmt", "pass"),
        ("multiarch-qemu-user-static", "pass"),
        ("debian-bookworm", "pass"),
        ("debian-forky", "pass"),
        ("qemu-binfmt-conf", "No such file or directory"),
        ("ubuntu-static-legacy", "No such file or directory"),
    ] {
        let (as_expected, output) = run_tool_lab(tool, build);
        assert!(as_expected, "{tool}: build should {build}:\n{output}");
    }
}

#[test]
fn a_system_nixos_s_module_cannot_emulate_is_told_once() {
    check(
        &lab("nixos", "\"armv5tel-linux\"", "tool = \"nixos-dynamic\""),
        expect![[r#"
            invalid lab spec `labs/t.toml:3:12`: `systems[0]`: `armv5tel-linux` is not in nixpkgs' binfmt magics, so boot.binfmt.emulatedSystems rejects it
              help: use `interpreter = "fhs"` with a hand-written registration, or another system"#]],
    );
}

/// What a simulated NixOS on `host_arch` registers for each of its systems:
/// the entry's interpreter link and flags, and what the link points to
/// (a script's text, or the P wrapper of the qemu it execs).
fn nixos_registers(text: &str, host_arch: &'static str) -> String {
    let lab = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let plan = Plan::new(&lab, host_arch);
    let sim = plan
        .nixos_simulation(
            &mut |_| Ok("/lib/ld-linux-aarch64.so.1=/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1\n".into()),
            &mut |w| Ok(format!("/cache/{} -> {}", w.name, w.qemu)),
        )
        .unwrap();
    let mut out = Vec::new();
    for reg in &plan.registrations {
        out.push(format!("{} flags={:?}", reg.line(), reg.flags));
    }
    for (link, target) in &sim.links {
        out.push(format!("{link} -> {target}"));
    }
    for (path, content) in &sim.files {
        out.push(format!("{path}:\n{content}"));
    }
    out.join("\n")
}

#[test]
fn armv7l_on_aarch64_is_native_to_nixpkgs_22_05_and_emulated_from_23_05() {
    // nixpkgs#171297: on aarch64, 22.05's canExecute says yes to armv7l, so
    // the module registers its bash wrapper, not qemu: on a CPU without
    // AArch32 every armv7l exec loops bash -> program -> bash.
    let lab = |release: &str| {
        format!(
            "description = \"d\"\nhost = \"nixos\"\nsystems = [\"armv7l-linux\"]\n[binfmt]\ninterpreter = \"nixos\"\n{release}[[probe]]\nkind = \"build\"\n"
        )
    };
    expect![[r#"
        :armv7l-linux:M::\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff:/run/binfmt/armv7l-linux: flags=""
        /run/binfmt/armv7l-linux -> /run/crosslab/binfmt/armv7l-linux-interpreter
        /run/crosslab/binfmt/armv7l-linux-interpreter:
        #!/bin/sh
        exec /bin/sh -c '"$@"' -- "$@"
    "#]]
    .assert_eq(&nixos_registers(&lab("nixos-release = \"22.05\"\n"), "aarch64"));
    expect![[r#"
        :armv7l-linux:M::\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\x00\xff\xfe\xff\xff\xff:/run/binfmt/armv7l-linux:P flags="P"
        /run/binfmt/armv7l-linux -> /cache/qemu-arm-binfmt-P -> /usr/bin/qemu-arm"#]]
    .assert_eq(&nixos_registers(&lab(""), "aarch64"));
    // 23.05 already emulates it; on x86_64 no release runs armv7l natively.
    assert_eq!(nixos_registers(&lab("nixos-release = \"23.05\"\n"), "aarch64"), nixos_registers(&lab(""), "aarch64"));
    assert_eq!(nixos_registers(&lab("nixos-release = \"22.05\"\n"), "x86_64"), nixos_registers(&lab(""), "x86_64"));
}

#[test]
fn the_hosts_own_system_is_registered_only_before_nixos_asserted_against_it() {
    // nixpkgs#218465: 23.11 registers x86_64-linux on an x86_64 host with the
    // shell wrapper, whose /bin/sh is x86_64 ELF again.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../labs/nixpkgs-218465-own-system-emulated.toml"),
    )
    .unwrap();
    expect![[r#"
        :x86_64-linux:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00:\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/run/binfmt/x86_64-linux: flags=""
        /run/binfmt/x86_64-linux -> /run/crosslab/binfmt/x86_64-linux-interpreter
        /run/crosslab/binfmt/x86_64-linux-interpreter:
        #!/bin/sh
        exec /bin/sh -c '"$@"' -- "$@"
    "#]]
    .assert_eq(&nixos_registers(&text, "x86_64"));
    // Only a binfmt_misc private to the lab may get that entry: the vm
    // backend and --allow-global refuse a plan that has it.
    let lab = parse(&text).unwrap();
    assert_eq!(xtask::run::executor::own_system_entry(&Plan::new(&lab, "x86_64")), Some("x86_64-linux"));
    let i686 = parse(&text.replace("[\"x86_64-linux\"]", "[\"i686-linux\"]")).unwrap();
    assert_eq!(xtask::run::executor::own_system_entry(&Plan::new(&i686, "x86_64")), None);
    // From 24.05 on the spec refuses it (tests/spec.rs).
    let release = xtask::systems::NixosRelease::find("24.05").unwrap();
    assert!(release.own_system_assertion);
    assert!(!xtask::systems::NixosRelease::find("23.11").unwrap().own_system_assertion);
}
