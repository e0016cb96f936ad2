//! `lab schema`: the JSON Schema editors validate specs with. The committed
//! copy is fresh, the shipped labs name it and validate against it, and it is
//! never stricter than `lab check`: whatever the schema rejects, `lab check`
//! rejects too (checked on thousands of specs made by changing one value of
//! a shipped lab), so an editor never marks a working spec as wrong.

use std::path::Path;

use serde_json::Value as Json;
use toml::{Table, Value};
use xtask::schema::{lab_schema, schema_text, SCHEMA_PATH};
use xtask::spec;

mod common;

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&lab_schema()).expect("the schema is a valid draft-07 schema")
}

/// A spec as the editor sees it: TOML read as JSON.
fn as_json(table: &Table) -> Json {
    serde_json::to_value(table).expect("a TOML table converts to JSON")
}

fn schema_errors(validator: &jsonschema::Validator, table: &Table) -> Vec<String> {
    let json = as_json(table);
    validator.iter_errors(&json).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn check_accepts(text: &str) -> Result<(), String> {
    spec::parse("t", Path::new("labs/t.toml"), text).map(drop).map_err(|e| e.to_string())
}

fn shipped_labs() -> Vec<(std::path::PathBuf, String)> {
    let labs = spec::all_lab_files(&xtask::labs_dir(&xtask::project_root())).unwrap();
    assert!(labs.len() >= 9, "expected the catalogue in labs/, found {labs:?}");
    labs.into_iter().map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap())).collect()
}

#[test]
fn the_committed_schema_is_what_lab_schema_prints() {
    let committed = std::fs::read_to_string(xtask::project_root().join(SCHEMA_PATH)).unwrap_or_default();
    assert!(committed == schema_text(), "{SCHEMA_PATH} is stale: run `cargo xtask lab schema --write`");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "schema"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
    let check =
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "schema", "--check"]).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn every_shipped_lab_names_the_schema_and_validates_against_it() {
    let validator = validator();
    for (path, text) in shipped_labs() {
        assert_eq!(
            text.lines().next(),
            Some("#:schema ../schema/lab.schema.json"),
            "{} does not start with the `#:schema` line editors read",
            path.display()
        );
        let table: Table = text.parse().unwrap();
        let errors = schema_errors(&validator, &table);
        assert!(errors.is_empty(), "{} does not validate: {errors:#?}", path.display());
    }
}

/// The specs crosslab writes itself (`lab matrix --systems`, `lab capture`), and the fuzz corpus's valid ones (BOM,
/// CRLF, inline tables, hostile strings): whatever `lab check` accepts, the
/// schema accepts.
#[test]
fn written_and_corpus_specs_lab_check_accepts_validate_against_the_schema() {
    // `lab capture` reads this machine's Nix: installed first, as alone on a fresh machine.
    common::test_packages();
    let validator = validator();
    let mut checked = 0;
    // `lab matrix --systems` rewrites each lab for another system.
    for (path, _) in shipped_labs() {
        let lab = spec::load(&path).unwrap();
        for system in xtask::systems::SYSTEMS {
            let Ok(text) = xtask::matrix::spec_for_system(&lab, system) else { continue };
            if check_accepts(&text).is_ok() {
                let errors = schema_errors(&validator, &text.parse().unwrap());
                assert!(errors.is_empty(), "{} for {}: {errors:#?}\n{text}", path.display(), system.double);
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} rewritten specs");
    // `lab capture` writes this machine as a spec.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask")).args(["lab", "capture"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let captured = String::from_utf8(out.stdout).unwrap();
    check_accepts(&captured).unwrap_or_else(|e| panic!("{e}\n{captured}"));
    let errors = schema_errors(&validator, &captured.parse().unwrap());
    assert!(errors.is_empty(), "lab capture's spec: {errors:#?}\n{captured}");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    for entry in std::fs::read_dir(corpus).unwrap().flatten() {
        let path = entry.path();
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let text = text.trim_start_matches('\u{feff}');
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("valid-") {
            check_accepts(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            let errors = schema_errors(&validator, &text.parse().unwrap());
            assert!(errors.is_empty(), "{name}: {errors:#?}");
        }
    }
}

#[test]
fn the_readme_example_validates_against_the_schema_and_lab_check() {
    let readme = std::fs::read_to_string(xtask::project_root().join("README.md")).unwrap();
    let start = readme.find("```toml\n# labs/non-nixos-aarch64.toml").expect("README shows a spec") + "```toml\n".len();
    let text = &readme[start..start + readme[start..].find("```").unwrap()];
    let table: Table = text.parse().unwrap();
    assert_eq!(schema_errors(&validator(), &table), Vec::<String>::new());
    check_accepts(text).unwrap();
}

/// A small spec with one mistake each; both the schema and `lab check` reject it.
#[test]
fn typical_mistakes_are_rejected_by_the_schema_and_by_lab_check() {
    const HEAD: &str = "description = \"d\"\nhost = \"non-nixos\"\nsystems = [\"aarch64-linux\"]\n";
    let mistakes = [
        ("missing host", "description = \"d\"\nsystems = [\"aarch64-linux\"]\n[[probe]]\nkind = \"exec\"\n".to_owned()),
        ("no probes", HEAD.to_owned()),
        ("unknown key", format!("{HEAD}descripton = \"x\"\n[[probe]]\nkind = \"exec\"\n")),
        ("unknown system", HEAD.replace("aarch64-linux", "arm-linux") + "[[probe]]\nkind = \"exec\"\n"),
        ("lower-case flags", format!("{HEAD}[binfmt]\nflags = \"pf\"\n[[probe]]\nkind = \"exec\"\n")),
        ("sandbox as a string", format!("{HEAD}[nix]\nsandbox = \"yes\"\n[[probe]]\nkind = \"exec\"\n")),
        (
            "relative sandbox path",
            format!("{HEAD}[nix]\nextra-sandbox-paths = [\"qemu\"]\n[[probe]]\nkind = \"exec\"\n"),
        ),
        ("bad probe kind", format!("{HEAD}[[probe]]\nkind = \"biuld\"\n")),
        ("command without run", format!("{HEAD}[[probe]]\nkind = \"command\"\n")),
        ("run on a build probe", format!("{HEAD}[[probe]]\nkind = \"build\"\nrun = \"true\"\n")),
        ("timeout 0", format!("{HEAD}[[probe]]\nkind = \"exec\"\ntimeout = 0\n")),
        (
            "nixos interpreter on non-nixos",
            format!("{HEAD}[binfmt]\ninterpreter = \"nixos\"\n[[probe]]\nkind = \"exec\"\n"),
        ),
        ("unknown tool", format!("{HEAD}[binfmt]\ntool = \"debian\"\n[[probe]]\nkind = \"exec\"\n")),
        ("nixos tool on non-nixos", format!("{HEAD}[binfmt]\ntool = \"nixos-static\"\n[[probe]]\nkind = \"exec\"\n")),
        (
            "flags with no interpreter",
            format!("{HEAD}[binfmt]\ninterpreter = \"none\"\nflags = \"P\"\n[[probe]]\nkind = \"exec\"\n"),
        ),
        ("payload on binfmt", format!("{HEAD}[[probe]]\nkind = \"binfmt\"\npayload = \"aarch64-linux\"\n")),
        (
            "nixos release on non-nixos",
            format!("{HEAD}[binfmt]\nnixos-release = \"22.05\"\n[[probe]]\nkind = \"exec\"\n"),
        ),
        (
            "unknown nixos release",
            format!(
                "{}[binfmt]\nnixos-release = \"21.11\"\n[[probe]]\nkind = \"exec\"\n",
                HEAD.replace("non-nixos", "nixos")
            ),
        ),
    ];
    let validator = validator();
    for (what, text) in mistakes {
        let table: Table = text.parse().unwrap();
        assert!(!schema_errors(&validator, &table).is_empty(), "the schema accepts {what}:\n{text}");
        assert!(check_accepts(&text).is_err(), "lab check accepts {what}:\n{text}");
    }
}

/// Every way to change one value of a shipped lab: each value replaced by
/// each of a set of candidates, each key removed, each table given each key
/// it can take (and one it cannot).
fn variants(table: &Table) -> Vec<Table> {
    let candidates: Vec<Value> = [
        "",
        " ",
        "x",
        "P",
        "PF",
        "FP",
        "pf",
        "PP",
        "POCF",
        "pass",
        "fail",
        "command",
        "build",
        "exec",
        "binfmt",
        "nix-config",
        "fhs",
        "nixos",
        "none",
        "non-nixos",
        "aarch64-linux",
        "armv7l-linux",
        "riscv64-linux",
        "x86_64-linux",
        "aarch64-darwin",
        "/usr/bin/qemu-aarch64-static",
        "/a=/b",
        "/a?",
        "rel/path",
        "/a b",
        "arm926",
        "bad cpu",
    ]
    .into_iter()
    .map(|s| Value::String(s.to_owned()))
    .chain([
        Value::Integer(0),
        Value::Integer(1),
        Value::Integer(86_400),
        Value::Integer(86_401),
        Value::Boolean(true),
        Value::Boolean(false),
        Value::Float(1.5),
        Value::Array(vec![]),
        Value::Array(vec![Value::String("aarch64-linux".into())]),
        Value::Array(vec![Value::String("aarch64-linux".into()), Value::String("aarch64-linux".into())]),
        Value::Array(vec![Value::String("x".into())]),
        Value::Array(vec![Value::String("/usr/bin/qemu-aarch64-static".into())]),
        Value::Array(vec![Value::Integer(1)]),
        Value::Table(Table::new()),
    ])
    .collect();

    // Each place a value sits: (table path, key); `probe` tables by index.
    let mut out = Vec::new();
    let mut edit = |f: &dyn Fn(&mut Table)| {
        let mut t = table.clone();
        f(&mut t);
        out.push(t);
    };
    type Pick = fn(&mut Table) -> Option<&mut Table>;
    type Place<'k> = (Box<dyn Fn(&mut Table) -> Option<&mut Table>>, &'k [&'k str]);
    let mut places: Vec<Place> = vec![
        (Box::new((|t| Some(t)) as Pick), spec::TOP_KEYS),
        (Box::new((|t| t.get_mut("binfmt").and_then(Value::as_table_mut)) as Pick), spec::BINFMT_KEYS),
        (Box::new((|t| t.get_mut("nix").and_then(Value::as_table_mut)) as Pick), spec::NIX_KEYS),
    ];
    let probes = table.get("probe").and_then(Value::as_array).map_or(0, Vec::len);
    for i in 0..probes {
        places.push((
            Box::new(move |t: &mut Table| {
                t.get_mut("probe")
                    .and_then(Value::as_array_mut)
                    .and_then(|a| a.get_mut(i))
                    .and_then(Value::as_table_mut)
            }),
            spec::PROBE_KEYS,
        ));
    }
    for (pick, keys) in &places {
        for key in keys.iter().chain(&["unknown-key"]) {
            edit(&|t| {
                if let Some(t) = pick(t) {
                    t.remove(*key);
                }
            });
            for candidate in &candidates {
                edit(&|t| {
                    if let Some(t) = pick(t) {
                        t.insert((*key).to_owned(), candidate.clone());
                    }
                });
            }
        }
    }
    out
}

#[test]
fn lab_check_rejects_whatever_the_schema_rejects() {
    let validator = validator();
    let (mut total, mut both_reject, mut only_check_rejects) = (0, 0, 0);
    for (path, text) in shipped_labs() {
        let table: Table = text.parse().unwrap();
        for variant in variants(&table) {
            total += 1;
            let schema_ok = validator.is_valid(&as_json(&variant));
            let text = toml::to_string(&variant).unwrap();
            let check = check_accepts(&text);
            match (schema_ok, &check) {
                (false, Ok(())) => panic!(
                    "lab check accepts a spec the schema rejects ({} changed): {:#?}\n{text}",
                    path.display(),
                    schema_errors(&validator, &variant)
                ),
                (false, Err(_)) => both_reject += 1,
                (true, Err(_)) => only_check_rejects += 1,
                (true, Ok(())) => {}
            }
        }
    }
    eprintln!("{total} specs: {both_reject} rejected by both, {only_check_rejects} by lab check alone");
    assert!(total > 3000, "only {total} specs made");
    // The schema catches most mistakes itself, or editors would show little.
    assert!(
        both_reject > 4 * only_check_rejects,
        "{both_reject} rejected by both, {only_check_rejects} by lab check alone"
    );
}
