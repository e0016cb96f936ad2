//! A Debian mirror whose files contradict its signed `Release` file (a mirror
//! mid-sync): apt's and mmdebstrap's complaints are recognised, and crosslab
//! fetches from the next suite of the system's row instead. The inconsistent
//! mirror is real apt talking to a local HTTP relay of the host's Debian
//! mirror that serves one suite's index of one architecture short (or with a
//! byte changed) and its by-hash files not at all, as the broken mirror did.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

use xtask::provision::payload::{self, inconsistent_index};
use xtask::provision::rootfs::{self, Recipe, Variant};
use xtask::provision::toolchain;
use xtask::spec::Language;
use xtask::systems::NixSystem;

mod common;

/// `apt-get -qq update` of trixie for riscv64 and arm64, as crosslab runs it,
/// from the project machine's Debian mirror on 2026-11-23 (its trixie riscv64 index was mid-sync for
/// days), the mirror's host name replaced by a placeholder.
const APT_UPDATE_TRIXIE_RISCV64: &str = "\
E: Failed to fetch http://mirror.invalid/debian/dists/trixie/main/binary-riscv64/Packages.xz  File has unexpected size (9385284 != 9387120). Mirror sync in progress? [IP: 203.0.113.80 80]
   Hashes of expected file:
    - Filesize:9387120 [weak]
    - SHA256:f60294dc64d700afa90c1833cda096d8b8de1f033e99ab2969a99fb9ea4aff1b
    - MD5Sum:576c5642117fbf5e949c05740c8aa3eb [weak]
   Release file created at: Sat, 21 Nov 2026 09:15:44 +0000
E: Some index files failed to download. They have been ignored, or old ones used instead.
";

/// `mmdebstrap --variant=extract --architectures=riscv64 --include=busybox-static trixie …`, same day.
const MMDEBSTRAP_TRIXIE_RISCV64: &str = "\
I: running apt-get update...
Get:1 http://mirror.invalid/debian trixie InRelease [140 kB]
Ign:2 http://mirror.invalid/debian trixie/main riscv64 Packages
Get:2 http://mirror.invalid/debian trixie/main riscv64 Packages [9387 kB]
Err:2 http://mirror.invalid/debian trixie/main riscv64 Packages
  File has unexpected size (9385284 != 9387120). Mirror sync in progress? [IP: 203.0.113.80 80]
  Hashes of expected file:
   - Filesize:9387120 [weak]
  Release file created at: Sat, 21 Nov 2026 09:15:44 +0000
Fetched 140 kB in 1s (279 kB/s)
Reading package lists...
E: Failed to fetch http://mirror.invalid/debian/dists/trixie/main/binary-riscv64/Packages.xz  File has unexpected size (9385284 != 9387120). Mirror sync in progress? [IP: 203.0.113.80 80]
E: Some index files failed to download. They have been ignored, or old ones used instead.
E: apt-get update --error-on=any -oAPT::Status-Fd=<$fd> -oDpkg::Use-Pty=false failed
E: mmdebstrap failed to run
";

#[test]
fn apts_complaints_about_an_inconsistent_mirror_are_recognised() {
    common::test_packages();
    for (what, output) in [("apt-get update", APT_UPDATE_TRIXIE_RISCV64), ("mmdebstrap", MMDEBSTRAP_TRIXIE_RISCV64)] {
        let bad = inconsistent_index("trixie", output).unwrap_or_else(|| panic!("{what}'s output not recognised"));
        assert_eq!(bad.suite, "trixie");
        assert_eq!(bad.complaint, "File has unexpected size (9385284 != 9387120). Mirror sync in progress?", "{what}");
        assert_eq!(bad.arches, ["riscv64"], "{what}");
    }
    let hash = "E: Failed to fetch http://m/debian/pool/main/b/busybox/busybox-static_1.35.0-4+b3_arm64.deb  Hash Sum mismatch\n   Hashes of expected file:\n";
    let bad = inconsistent_index("bookworm", hash).expect("a package's Hash Sum mismatch");
    assert_eq!((bad.complaint.as_str(), bad.arches.as_slice()), ("Hash Sum mismatch", ["arm64".to_owned()].as_slice()));
}

#[test]
fn other_apt_failures_are_not_taken_for_an_inconsistent_mirror() {
    common::test_packages();
    // Real outputs from this machine: an expired Release file, a package
    // that does not exist, a suite the mirror does not have.
    for output in [
        "E: Release file for http://mirror.invalid/debian/dists/forky/InRelease is expired (invalid since 17d 3h 24min 13s). Updates for this repository will not be applied.\n",
        "Building dependency tree...\nE: Unable to locate package no-such-package-crosslab\nE: apt download failed\nE: mmdebstrap failed to run\n",
        "E: The repository 'http://mirror.invalid/debian nosuchsuite Release' does not have a Release file.\n",
    ] {
        assert_eq!(inconsistent_index("forky", output), None, "{output}");
    }
}

/// A local relay of `upstream` (a Debian archive URL) on which
/// `dists/<suite>/main/binary-<arch>/` is inconsistent: its by-hash files are
/// missing and `Packages.xz` comes one KiB short (`short`) or with its last
/// byte changed (a hash mismatch at the right size). Returns its URL and the
/// paths asked for.
fn broken_mirror(upstream: String, suite: &str, arch: &str, short: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/debian", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let broken = format!("dists/{suite}/main/binary-{arch}/");
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (upstream, broken, log) = (upstream.clone(), broken.clone(), log.clone());
            std::thread::spawn(move || serve(stream, &upstream, &broken, short, &log));
        }
    });
    (url, asked)
}

/// One request per connection (`Connection: close`; apt asks again).
fn serve(stream: TcpStream, upstream: &str, broken: &str, short: bool, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches("/debian/").to_owned();
    log.lock().unwrap().push(path.clone());
    let body = if path.starts_with(broken) && path.contains("/by-hash/") {
        None
    } else {
        let out = Command::new("curl").args(["-sSfL", &format!("{upstream}/{path}")]).output().unwrap();
        out.status.success().then_some(out.stdout).map(|mut body| {
            if path.starts_with(broken) && path.ends_with("/Packages.xz") {
                if short {
                    body.truncate(body.len().saturating_sub(1024));
                } else if let Some(last) = body.last_mut() {
                    *last ^= 0xff;
                }
            }
            body
        })
    };
    let mut stream = stream;
    let _ = match body {
        Some(body) => stream
            .write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes(),
            )
            .and_then(|()| stream.write_all(&body)),
        None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// Runs test `test` again in a child process with its own cache and mirror
/// (crosslab reads both from the environment, and its one line about falling
/// back goes to the child's stderr, which is kept here). The child runs the
/// test's child part (see [`as_parent_or_child`]); that it ran, and ran one
/// test, is checked: a filter that matched nothing would pass unseen.
fn in_child(test: &str, cache: &std::path::Path, mirror: &str, child: &str) -> (bool, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("CROSSLAB_MIRROR_FALLBACK_CHILD", child)
        .env("CROSSLAB_CACHE", cache)
        .env("CROSSLAB_DEBIAN_MIRROR", mirror)
        .output()
        .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(output.contains("running 1 test\n"), "the child process did not run test `{test}` (renamed?):\n{output}");
    (out.status.success(), output)
}

/// A test of this file runs in two processes: here, `parent`, which starts
/// the child with [`in_child`]; there, `child` with the child's environment.
fn as_parent_or_child(parent: impl FnOnce(), child: impl FnOnce(&str)) {
    match std::env::var("CROSSLAB_MIRROR_FALLBACK_CHILD") {
        Ok(what) => child(&what),
        Err(_) => parent(),
    }
}

fn asked_of(log: &Mutex<Vec<String>>) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// The child part: fetching aarch64's payload, from the fallback suite.
fn fetch_the_aarch64_payload(_: &str) {
    let aarch64 = NixSystem::find("aarch64-linux").unwrap();
    let dir = payload::ensure(&xshell::Shell::new().unwrap(), &[aarch64]).unwrap_or_else(|e| panic!("{e:#}"));
    let header = std::fs::read(dir.join("aarch64-linux/busybox")).unwrap();
    assert!(aarch64.matches_header(&header), "the payload is no aarch64 program");
}

/// The child part: a bookworm arm64 root, whose index is inconsistent.
fn build_a_bookworm_arm64_root(_: &str) {
    let recipe = Recipe {
        name: "mirror-test".into(),
        suite: "bookworm".into(),
        arch: "arm64".into(),
        variant: Variant::Extract,
        packages: vec!["busybox-static".into()],
        dpkg_filters: Vec::new(),
        links: Vec::new(),
    };
    let error = rootfs::ensure(&xshell::Shell::new().unwrap(), &recipe).expect_err("the index is inconsistent");
    let bad = error.downcast_ref::<payload::InconsistentIndex>().unwrap_or_else(|| panic!("not recognised: {error:#}"));
    println!("recognised: suite {} arches {:?} complaint {}", bad.suite, bad.arches, bad.complaint);
}

/// The child part: riscv64's toolchain is `suite`'s, from the cache.
fn pick_the_riscv64_toolchain(suite: &str) {
    let riscv64 = NixSystem::find("riscv64-linux").unwrap();
    let made = toolchain::ensure(&xshell::Shell::new().unwrap(), &[(riscv64, Language::C)])
        .unwrap_or_else(|e| panic!("{e:#}"))
        .remove(0);
    assert_eq!(made.manifest.suite, suite);
    assert!(made.store_name().ends_with(&format!("-crosslab-gcc-{suite}-riscv64")), "{}", made.store_name());
}

/// aarch64's row says bookworm, then trixie: with bookworm's arm64 index
/// short on the mirror, the payload comes from trixie, and one line says so.
#[test]
fn a_payload_comes_from_the_next_suite_when_the_mirrors_index_is_inconsistent() {
    common::test_packages();
    as_parent_or_child(
        || {
            let aarch64 = NixSystem::find("aarch64-linux").unwrap();
            assert_eq!(
                aarch64.debian_suites().collect::<Vec<_>>(),
                ["bookworm", "trixie"],
                "the row this test relies on"
            );
            let (mirror, mirror_asked) = broken_mirror(payload::debian_mirror().unwrap(), "bookworm", "arm64", true);
            let cache = tempfile::tempdir().unwrap();
            let (ok, output) = in_child(
                "a_payload_comes_from_the_next_suite_when_the_mirrors_index_is_inconsistent",
                cache.path(),
                &mirror,
                "1",
            );
            println!("{output}");
            assert!(ok, "{output}");
            let lines: Vec<&str> = output.lines().filter(|l| l.contains("is inconsistent")).collect();
            assert_eq!(lines.len(), 1, "one line says crosslab fell back:\n{output}");
            for part in [
                "Debian bookworm for arm64",
                "File has unexpected size",
                "Mirror sync in progress?",
                "from trixie instead",
            ] {
                assert!(lines[0].contains(part), "`{part}` missing from: {}", lines[0]);
            }
            let asked = asked_of(&mirror_asked);
            assert!(asked.iter().any(|p| p == "dists/bookworm/main/binary-arm64/Packages.xz"), "{asked:?}");
            assert!(asked.iter().any(|p| p.starts_with("dists/trixie/main/binary-arm64/")), "{asked:?}");
            assert!(!cache.path().join("apt/bookworm").exists(), "the failed suite's lists are left behind");

            // Cached: the next run asks the mirror nothing.
            let before = asked.len();
            let (ok, output) = in_child(
                "a_payload_comes_from_the_next_suite_when_the_mirrors_index_is_inconsistent",
                cache.path(),
                &mirror,
                "1",
            );
            assert!(ok && !output.contains("crosslab:"), "{output}");
            assert_eq!(before, asked_of(&mirror_asked).len());
        },
        fetch_the_aarch64_payload,
    );
}

/// mmdebstrap sees the same: a root whose index has the right size but
/// the wrong bytes fails with "Hash Sum mismatch", as its own error.
#[test]
fn an_inconsistent_index_fails_a_root_with_its_own_error() {
    common::test_packages();
    as_parent_or_child(
        || {
            let (mirror, _) = broken_mirror(payload::debian_mirror().unwrap(), "bookworm", "arm64", false);
            let cache = tempfile::tempdir().unwrap();
            let (ok, output) =
                in_child("an_inconsistent_index_fails_a_root_with_its_own_error", cache.path(), &mirror, "1");
            println!("{output}");
            assert!(ok, "{output}");
            assert!(
                output.contains("recognised: suite bookworm arches [\"arm64\"] complaint Hash Sum mismatch"),
                "{output}"
            );
        },
        build_a_bookworm_arm64_root,
    );
}

/// A toolchain in the cache is used without asking the mirror (here one
/// nothing listens on): the primary suite's when there is one, else a
/// fallback suite's, so a machine that fell back once does not try the
/// inconsistent index again at every run.
#[test]
fn a_cached_toolchain_of_the_primary_suite_then_of_a_fallback_is_used_without_the_mirror() {
    common::test_packages();
    as_parent_or_child(
        || {
            let riscv64 = NixSystem::find("riscv64-linux").unwrap();
            assert_eq!(riscv64.debian_suites().collect::<Vec<_>>(), ["trixie", "forky"], "the row this test relies on");
            let mirror = "http://127.0.0.1:9/debian";
            let cache = tempfile::tempdir().unwrap();
            let put = |suite: &str| {
                let recipe = toolchain::recipe_of(riscv64, Language::C, suite);
                assert_eq!(recipe.name, format!("toolchain-{suite}-riscv64"));
                let name = toolchain::store_name(riscv64, Language::C, &recipe, mirror);
                let dir = cache.path().join("toolchains").join(&name);
                std::fs::create_dir_all(dir.join("tree")).unwrap();
                let manifest = toolchain::Manifest {
                    store_path: format!("/nix/store/{name}"),
                    nar_hash: "0".repeat(64),
                    nar_size: 0,
                    suite: suite.to_owned(),
                    arch: "riscv64".to_owned(),
                    interpreter: "/lib/ld-linux-riscv64-lp64d.so.1".to_owned(),
                    bytes: 0,
                    build_secs: 0.0,
                };
                std::fs::write(dir.join("toolchain.json"), serde_json::to_string(&manifest).unwrap()).unwrap();
            };
            let pick = |suite: &str| {
                let (ok, output) = in_child(
                    "a_cached_toolchain_of_the_primary_suite_then_of_a_fallback_is_used_without_the_mirror",
                    cache.path(),
                    mirror,
                    suite,
                );
                assert!(ok && !output.contains("crosslab:"), "expected {suite}'s toolchain:\n{output}");
            };
            put("forky");
            pick("forky");
            put("trixie");
            pick("trixie");
        },
        pick_the_riscv64_toolchain,
    );
}
