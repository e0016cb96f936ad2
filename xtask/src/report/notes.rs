//! Notes on a lab that hold whatever its verdicts are, read from its plan
//! alone: what the report should say even when every probe is as expected.

use crate::plan::Plan;

/// The notes of `plan`, one paragraph each.
pub fn notes(plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    // nixpkgs#61537: a native build that runs a foreign program passes or
    // fails with the host's binfmt_misc, not with anything in the derivation.
    let mut ids = Vec::new();
    let mut payloads = Vec::new();
    for p in plan.probes.iter().filter(|p| p.runs_foreign_natively(plan.host_arch, plan.host_cpu)) {
        ids.push(p.id());
        if !payloads.contains(&p.payload.double) {
            payloads.push(p.payload.double);
        }
    }
    if !ids.is_empty() {
        notes.push(format!(
            "{} {} native to {} but {} a program for {}, which only this host's binfmt_misc makes run: the result depends on \
             the machine it builds on, not on the derivation (nixpkgs#61537). Host-independent choices: run the program \
             through an explicit emulator in the build (`${{stdenv.hostPlatform.emulator buildPackages}} ./prog`, i.e. \
             qemu-<arch> by store path); skip the foreign programs in the check when the build platform cannot execute \
             them (`stdenv.buildPlatform.canExecute stdenv.hostPlatform`); or, where the kernel has binfmt_misc \
             namespaces (Linux ≥ 6.7), register a private binfmt_misc entry for the build instead of the host's",
            ids.join(", "),
            if ids.len() == 1 { "is" } else { "are" },
            plan.host_arch,
            if ids.len() == 1 { "runs" } else { "run" },
            payloads.join(" and "),
        ));
    }
    notes
}
