# generated from {{ source }} by `cargo xtask lab render`; do not edit
# The testScript of checks/{{ name }}.nix: the probes of `cargo xtask lab show {{ name }}`,
# run in the VM as the host backend runs them. checks/{{ name }}.nix puts a
# JSON prelude before this file that defines `crosslab_node`.
import shlex

payloads_dir: str = crosslab_node["payloads_dir"]


def run_probe(command: str, timeout: int) -> tuple[int, str]:
    """Runs a probe's command as the host backend does: under /bin/sh -c with
    CROSSLAB_PAYLOADS set, stderr merged into the output the probe is judged on."""
    return machine.execute(
        f"CROSSLAB_PAYLOADS={shlex.quote(payloads_dir)} /bin/sh -c {shlex.quote(command)} 2>&1",
        timeout=timeout,
    )


def check_outcome(
    status: int, output: str, passes: bool, contains: list[str], line: str | None
) -> None:
    """Raises, showing the probe's status and output, unless the expectation is met."""
    shown = f"exit status {status}; output:\n{output}"
    if passes and status != 0:
        raise AssertionError(f"expected the command to succeed, {shown}")
    if not passes and status == 0:
        raise AssertionError(f"expected the command to fail, {shown}")
    for text in contains:
        if text not in output:
            raise AssertionError(f"expected the output to contain {text!r}, {shown}")
    if line is not None and line not in [o.rstrip() for o in output.split("\n")]:
        raise AssertionError(f"expected the output to have the line {line!r}, {shown}")


start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed({{ mount_binfmt_misc }})
{% for registration in registrations %}
with subtest({{ registration.subtest }}):
    machine.succeed({{ registration.command }})
{% endfor %}
{%- for probe in probes %}
with subtest({{ probe.subtest }}):
    status, output = run_probe(
        {{ probe.command }},
        timeout={{ probe.timeout }},
    )
    check_outcome(
        status,
        output,
        passes={{ probe.passes }},
        contains=[{% for text in probe.contains %}{{ text }}{% if !loop.last %}, {% endif %}{% endfor %}],
        line={{ probe.line }},
    )
{% endfor -%}
