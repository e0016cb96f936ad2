//! Whether this machine's Nix can run a lab's NixOS test, decided before any
//! Nix command that opens a store. Nix run as root on a machine without /nix
//! creates /nix (store, database, gcroots) the moment it opens its default
//! store, so crosslab asks Nix only for its settings (`nix show-config`
//! opens no store), reads the file system and the flake's lock, and stops
//! (exit 2) saying why when there is no store or the flake's inputs can be
//! neither found nor fetched. When it runs, it is the user's Nix with the
//! user's settings: their store, their daemon.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

/// How long resolving a host and connecting to it may take.
const CONNECT_BOUND: Duration = Duration::from_secs(5);

/// Checks, touching no store, that Nix can build the flake rendered in
/// `flake_dir` with these `--override-input` pairs.
pub fn check(flake_dir: &Path, overrides: &[(String, String)]) -> anyhow::Result<()> {
    let config = nix_config()?;
    let setting = |name: &str| config[name]["value"].as_str().unwrap_or_default().to_owned();
    let store_files = store_files(&setting("store"))?;
    let lock_path = flake_dir.join(crate::render::FLAKE_LOCK);
    let lock: Value = serde_json::from_str(
        &std::fs::read_to_string(&lock_path).with_context(|| format!("failed to read `{}`", lock_path.display()))?,
    )
    .with_context(|| format!("`{}` is not JSON", lock_path.display()))?;
    let nodes = &lock["nodes"];
    let root = &nodes[lock["root"].as_str().unwrap_or("root")];
    for (name, key) in root["inputs"].as_object().into_iter().flatten() {
        if let Some((_, reference)) = overrides.iter().find(|(input, _)| input == name) {
            check_override(name, reference, &setting("flake-registry"))?;
            continue;
        }
        let node = key.as_str().map(|k| &nodes[k]).unwrap_or(&Value::Null);
        check_locked(name, node, store_files.as_deref())?;
    }
    Ok(())
}

/// Nix's effective settings as JSON (`nix show-config --json`; `nix config
/// show --json` where the first is gone). Neither opens a store.
fn nix_config() -> anyhow::Result<Value> {
    let mut why = String::new();
    for words in [&["show-config", "--json"][..], &["config", "show", "--json"]] {
        let out = match Command::new("nix").args(["--extra-experimental-features", "nix-command flakes"]).args(words).output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "the nixos backend builds the lab with this machine's Nix, and there is no `nix` in PATH\n  help: install Nix with its store (the official installer; on Debian or Ubuntu `apt-get install nix-bin nix-setup-systemd`), or run the lab with `--backend host` or `--backend vm`, which need no Nix of yours"
            ),
            Err(e) => return Err(e).context("could not execute `nix`"),
        };
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).context("`nix show-config --json` printed no JSON");
        }
        why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    }
    bail!("`nix show-config --json` failed: {why}")
}

/// Where the store Nix would open keeps its paths, for looking inputs up
/// (None: a store elsewhere, such as `ssh-ng://`, that the user chose);
/// an error when Nix would have to create the store to open it.
fn store_files(store: &str) -> anyhow::Result<Option<PathBuf>> {
    let env_path = |var: &str, default: &str| PathBuf::from(std::env::var_os(var).unwrap_or_else(|| default.into()));
    let store_dir = env_path("NIX_STORE_DIR", "/nix/store");
    let state_dir = env_path("NIX_STATE_DIR", "/nix/var/nix");
    let socket = std::env::var_os("NIX_DAEMON_SOCKET_PATH")
        .map_or_else(|| state_dir.join("daemon-socket/socket"), PathBuf::from);
    let (scheme, params) = store.split_once('?').unwrap_or((store, ""));
    let param = |key: &str| params.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
    let local_exists = state_dir.is_dir() && store_dir.is_dir();
    let help = "  help: install Nix with its store and daemon (the official installer; on Debian or Ubuntu `apt-get install nix-bin nix-setup-systemd`), or point Nix at a store of your choosing (NIX_REMOTE, or `store =` in nix.conf); `--backend host` and `--backend vm` need neither";
    match scheme {
        // Nix's `auto`: a local store where its state directory is, else
        // the daemon's; else it would make one (/nix as root, under
        // ~/.local/share/nix/root otherwise).
        "" | "auto" if socket.exists() || local_exists => Ok(Some(store_dir)),
        "" | "auto" => bail!(
            "there is no Nix store here for the nixos backend: Nix's `store` setting is `auto`, and neither {} nor a daemon socket ({}) exists, so Nix would create a store to build the lab; crosslab leaves that to you, and ran nothing\n{help}",
            store_dir.display(),
            socket.display()
        ),
        "daemon" | "unix://" if socket.exists() => Ok(Some(store_dir)),
        "daemon" | "unix://" => bail!(
            "Nix's `store` setting is `{store}`, but no Nix daemon listens here ({} does not exist); nothing was run\n  help: start the daemon (`systemctl start nix-daemon`), or point Nix at another store",
            socket.display()
        ),
        unix if unix.starts_with("unix://") => {
            let path = Path::new(&unix["unix://".len()..]);
            if !path.exists() {
                bail!(
                    "Nix's `store` setting is `{store}`, but {} does not exist: no daemon listens there; nothing was run",
                    path.display()
                );
            }
            Ok(Some(store_dir))
        }
        // A chroot store the user chose: Nix makes it where they said.
        "local" if param("root").is_some() => Ok(param("root").map(|r| Path::new(r).join("nix/store"))),
        "local" if local_exists => Ok(Some(store_dir)),
        "local" => bail!(
            "there is no Nix store here for the nixos backend: Nix's `store` setting is `local`, and {} does not exist, so Nix would create it to build the lab; crosslab leaves that to you, and ran nothing\n{help}",
            store_dir.display()
        ),
        path if path.starts_with('/') => Ok(Some(Path::new(path).join("nix/store"))),
        _ => Ok(None),
    }
}

/// A locked input is there when its source is in the store already, or
/// when where Nix fetches it from can be reached.
fn check_locked(name: &str, node: &Value, store_files: Option<&Path>) -> anyhow::Result<()> {
    let locked = &node["locked"];
    let in_store = store_files.zip(locked["narHash"].as_str().and_then(source_path_name)).map(|(d, p)| d.join(p));
    if in_store.as_ref().is_some_and(|path| path.exists()) {
        return Ok(());
    }
    let Err(why) = source_reachable(locked) else { return Ok(()) };
    let original = &node["original"];
    let branch = original["ref"].as_str().map(|r| format!("{r}, ")).unwrap_or_default();
    let revision = locked["rev"].as_str().map(|r| format!("{branch}revision {r}")).unwrap_or_default();
    bail!(
        "{name} could not be fetched, so the NixOS tests cannot be built here: its locked source is not in the Nix store{} and {why}; nothing was run, and no store was touched\n  help: use a local checkout of {name} ({revision} as flake.lock locks it): `cargo xtask lab run … --backend nixos --override-input {name} path:/path/to/{name}`",
        in_store.map(|path| format!(" ({})", path.display())).unwrap_or_default()
    )
}

/// An `--override-input` is there when it is a local path that exists, a
/// registry entry pointing at one, or a source whose host can be reached.
fn check_override(name: &str, reference: &str, global_registry: &str) -> anyhow::Result<()> {
    let given = format!("--override-input {name} {reference}");
    if let Some(path) = local_path(reference) {
        if !Path::new(path).exists() {
            bail!("{given}: {path} does not exist\n  help: give the path of a local checkout");
        }
        return Ok(());
    }
    let attrs = if reference.contains(':') {
        attrs_of_url(reference)
    } else {
        // An indirect reference (`nixpkgs`, `nixpkgs/nixos-25.05`): the
        // user's and the system's registry first, as Nix looks it up.
        let id = reference.split('/').next().unwrap_or(reference);
        match registry_entry(id) {
            Some(to) => to,
            None => attrs_of_url(global_registry),
        }
    };
    if attrs["type"] == "path" {
        let path = attrs["path"].as_str().unwrap_or_default();
        if !Path::new(path).exists() {
            bail!("{given}: the registry points `{reference}` at {path}, which does not exist");
        }
        return Ok(());
    }
    if let Err(why) = source_reachable(&attrs) {
        bail!(
            "{given} could not be fetched: {why}; nothing was run, and no store was touched\n  help: give a local checkout: `--override-input {name} path:/path/to/{name}`"
        );
    }
    Ok(())
}

/// The local path a flake reference names, if it names one.
fn local_path(reference: &str) -> Option<&str> {
    let reference = reference.split('?').next().unwrap_or(reference);
    for prefix in ["path:", "git+file://", "file://"] {
        if let Some(path) = reference.strip_prefix(prefix) {
            return Some(path);
        }
    }
    (reference.starts_with('/') || reference.starts_with('.')).then_some(reference)
}

/// The `to` attributes of `id` in the user's or the system's flake registry.
fn registry_entry(id: &str) -> Option<Value> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")));
    let files =
        config_home.map(|c| c.join("nix/registry.json")).into_iter().chain([PathBuf::from("/etc/nix/registry.json")]);
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let Ok(registry) = serde_json::from_str::<Value>(&text) else { continue };
        for entry in registry["flakes"].as_array().into_iter().flatten() {
            if entry["from"]["id"] == id {
                return Some(entry["to"].clone());
            }
        }
    }
    None
}

/// A URL-like flake reference as lock attributes: enough for its type and host.
fn attrs_of_url(reference: &str) -> Value {
    let scheme = reference.split(':').next().unwrap_or_default();
    if matches!(scheme, "github" | "gitlab" | "sourcehut") {
        serde_json::json!({ "type": scheme })
    } else {
        serde_json::json!({ "type": "url", "url": reference })
    }
}

/// Whether the place Nix fetches a source from can be reached (a TCP
/// connection to its host, or to the proxy curl would use).
fn source_reachable(attrs: &Value) -> Result<(), String> {
    let host_attr = attrs["host"].as_str();
    let hosts: Vec<String> = match attrs["type"].as_str().unwrap_or_default() {
        // Nix 2.8 downloads GitHub tarballs from api.github.com, later ones
        // from github.com/…/archive: either will do.
        "github" => match host_attr.unwrap_or("github.com") {
            "github.com" => vec!["api.github.com".into(), "github.com".into()],
            host => vec![host.into()],
        },
        "gitlab" => vec![host_attr.unwrap_or("gitlab.com").into()],
        "sourcehut" => vec![host_attr.unwrap_or("git.sr.ht").into()],
        "path" => {
            let path = attrs["path"].as_str().unwrap_or_default();
            return if Path::new(path).exists() { Ok(()) } else { Err(format!("{path} does not exist")) };
        }
        _ => match attrs["url"].as_str().and_then(url_host) {
            Some(host) => vec![host.to_owned()],
            // Nothing to reach (a local git repository) or a source type
            // this check does not know: Nix decides.
            None => return Ok(()),
        },
    };
    let proxy = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|p| !p.is_empty()));
    let targets: Vec<(String, u16)> = match proxy.as_deref().and_then(url_host_port) {
        Some((host, port)) => vec![(host.to_owned(), port.unwrap_or(1080))],
        None => hosts.iter().map(|h| (h.clone(), 443)).collect(),
    };
    let mut why = Vec::new();
    for (host, port) in &targets {
        match connect(host, *port) {
            Ok(()) => return Ok(()),
            Err(e) => why.push(format!("{host}:{port}: {e}")),
        }
    }
    let via = if proxy.is_some() { "the proxy cannot be reached" } else { "it cannot be downloaded" };
    Err(format!("{via} ({})", why.join("; ")))
}

/// The host of `scheme://[user@]host[:port]/…`.
fn url_host(url: &str) -> Option<&str> {
    url_host_port(url).map(|(h, _)| h)
}

fn url_host_port(url: &str) -> Option<(&str, Option<u16>)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.is_empty() {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => Some((host, port.parse().ok())),
        _ => Some((authority, None)),
    }
}

/// A TCP connection to `host:port` within [`CONNECT_BOUND`] (name lookup
/// included: a resolver that hangs must not hang the run).
fn connect(host: &str, port: u16) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let target = (host.to_owned(), port);
    std::thread::spawn(move || {
        let _ = tx.send(target.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    let addresses = match rx.recv_timeout(CONNECT_BOUND) {
        Ok(Ok(addresses)) => addresses,
        Ok(Err(e)) => return Err(format!("name lookup failed: {e}")),
        Err(_) => return Err(format!("name lookup took longer than {} s", CONNECT_BOUND.as_secs())),
    };
    let mut last = "no address".to_owned();
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_BOUND) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// The store path name (`<hash>-source`) of a locked input's source, from
/// its `narHash` (SRI `sha256-…`): a fixed-output path of a recursive
/// sha256 named `source`, as Nix's `makeFixedOutputPath` makes it
/// (src/libstore/store-api.cc: `makeStorePath("source", hash, name)`, the
/// fingerprint `source:sha256:<base16>:/nix/store:source`, its sha256 folded
/// to 20 bytes by `compressHash` and written in Nix's base32).
pub fn source_path_name(nar_hash: &str) -> Option<String> {
    use sha2::Digest;
    let digest = base64_decode(nar_hash.strip_prefix("sha256-")?)?;
    if digest.len() != 32 {
        return None;
    }
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let fingerprint = format!("source:sha256:{hex}:/nix/store:source");
    let full = sha2::Sha256::digest(fingerprint.as_bytes());
    let mut folded = [0u8; 20];
    for (i, byte) in full.iter().enumerate() {
        folded[i % 20] ^= byte;
    }
    Some(format!("{}-source", crate::provision::toolchain::nix_base32(&folded)))
}

/// Standard base64 (with padding), as SRI hashes write digests.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut bits, mut count) = (0u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}
