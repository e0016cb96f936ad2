# generated from labs/nixpkgs-218465-own-system-emulated.toml by `cargo xtask lab render`; do not edit
# The testScript of checks/nixpkgs-218465-own-system-emulated.nix: the probes of `cargo xtask lab show nixpkgs-218465-own-system-emulated`,
# run in the VM as the host backend runs them. checks/nixpkgs-218465-own-system-emulated.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed("mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc")

with subtest("exec[0]@x86_64-linux: a static x86_64-linux binary runs (natively); `uname -m` prints x86_64"):
    status, output, seconds = run_probe(
        "\"$CROSSLAB_PAYLOADS\"/x86_64-linux/busybox uname -m",
        timeout=120,
    )
    check_outcome(
        "exec[0]@x86_64-linux",
        status,
        output,
        seconds,
        passes=False,
        contains=["Too many levels of symbolic links"],
        line=None,
    )

finish()
