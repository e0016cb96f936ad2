# generated from {{ source }} by `cargo xtask lab render`; do not edit
# The testScript of checks/{{ name }}.nix: the probes of `cargo xtask lab show {{ name }}`,
# run in the VM as the host backend runs them. checks/{{ name }}.nix puts a
# JSON prelude and modules/crosslab_probe.py (run_probe, check_outcome)
# before this file.

start_all()
machine.wait_for_unit("multi-user.target")

with subtest("binfmt_misc is mounted"):
    machine.succeed({{ mount_binfmt_misc }})
{% for registration in registrations %}
with subtest({{ registration.subtest }}):
    machine.succeed({{ registration.command }})
{% endfor %}
{%- if let Some(state) = machine_state %}
with subtest("the machine is in the state the lab's [machine] describes"):
    machine.succeed({{ state }})
{% endif %}
{%- for probe in probes %}
with subtest({{ probe.subtest }}):
    status, output, seconds = run_probe(
        {{ probe.command }},
        timeout={{ probe.timeout }},
    )
    check_outcome(
        {{ probe.id }},
        status,
        output,
        seconds,
        passes={{ probe.passes }},
        contains=[{% for text in probe.contains %}{{ text }}{% if !loop.last %}, {% endif %}{% endfor %}],
        line={{ probe.line }},
    )
{% endfor %}
finish()
