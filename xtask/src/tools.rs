//! Installs the tools the build and the tests need, once: each is probed first and only
//! installed when missing or at the wrong version, so a second run starts in seconds.
//!
//! Versions and recipes are the verified ones from `../shared/TOOLCHAIN.md`.

use crate::cmd::{cmd, exists, probe, run};
use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;
use sync_test_support::{in_ci, postgres_admin_url};

/// Trunk 0.22 needs a newer rustc than this project's; 0.21.14 is the verified one.
const TRUNK_VERSION: &str = "0.21.14";
/// The npm build of binaryen that reads current rustc output (Debian's 108 cannot).
const BINARYEN_VERSION: &str = "132";
/// The JavaScript minifier of the release build (see xtask/post-build.mjs).
const TERSER_VERSION: &str = "5.51.2";
/// The gzip compressor of the release build's precompressed files (zopfli as
/// WebAssembly, no native build; see xtask/post-build.mjs).
const ZOPFLI_VERSION: &str = "1.0.15";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Which tools a task needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The wasm target, trunk, wasm-bindgen and wasm-opt: enough to build the app.
    Build,
    /// Build, plus Chromium, ChromeDriver and PostgreSQL for the test suites.
    All,
}

/// What is installed, and how child processes find it.
pub struct Toolchain {
    /// PATH with the project-local tool folders in front.
    pub path: OsString,
    /// ChromeDriver, when the machine has (or could install) it.
    pub chromedriver: Option<PathBuf>,
    /// An admin URL of a reachable PostgreSQL server, when there is one.
    pub postgres_admin_url: Option<String>,
}

impl Toolchain {
    pub fn ensure(needs: Needs) -> Result<Toolchain, String> {
        let root = crate::workspace::root();
        ensure_wasm_target()?;
        ensure_cargo_tool("trunk", "trunk", TRUNK_VERSION, true)?;
        let bindgen = wasm_bindgen_version(&root)?;
        // `--locked` fails for wasm-bindgen-cli on this registry (one locked dependency is
        // missing), so it is installed without it, as TOOLCHAIN.md records.
        ensure_cargo_tool("wasm-bindgen-cli", "wasm-bindgen", &bindgen, false)?;
        let binaryen_bin = ensure_binaryen(&root)?;

        let mut paths = vec![binaryen_bin];
        if let Some(existing) = std::env::var_os("PATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        let path = std::env::join_paths(paths).map_err(|e| e.to_string())?;

        let (chromedriver, postgres_admin_url) = if needs == Needs::All {
            (ensure_chromium()?, ensure_postgres()?)
        } else {
            (None, None)
        };
        Ok(Toolchain {
            path,
            chromedriver,
            postgres_admin_url,
        })
    }
}

fn ensure_wasm_target() -> Result<(), String> {
    let installed = probe("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|line| line.trim() == WASM_TARGET) {
        return Ok(());
    }
    run(&mut cmd("rustup", &["target", "add", WASM_TARGET]))
}

/// Installs `krate` with `cargo install` unless `binary --version` already reports `version`.
fn ensure_cargo_tool(krate: &str, binary: &str, version: &str, locked: bool) -> Result<(), String> {
    let reported = probe(binary, &["--version"]).unwrap_or_default();
    if reported.split_whitespace().any(|word| word == version) {
        return Ok(());
    }
    eprintln!("installing {krate} {version} (found: {reported:?}); this takes a few minutes once");
    let pinned = format!("={version}");
    let mut args = vec!["install", krate, "--version", &pinned];
    if locked {
        args.push("--locked");
    }
    // Some tools ship a release profile with fat LTO and one codegen unit, which makes
    // the one-time install minutes slower on a small machine (trunk: 578 s instead of
    // about 750 s on two cores) for no gain to us: build tools, not shipped code.
    run(cmd("cargo", &args)
        .env("CARGO_PROFILE_RELEASE_LTO", "off")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"))
}

/// The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
fn wasm_bindgen_version(root: &Path) -> Result<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(version.to_string());
            }
        }
    }
    Err("Cargo.lock does not list wasm-bindgen".into())
}

/// wasm-opt from the npm package `binaryen`, and terser and zopfli, with which the
/// release build's post-build hook (xtask/post-build.mjs) minifies the JavaScript and
/// precompresses the files, installed under target/tools (Trunk and the hook find them
/// through PATH and, being offline, never try to download anything).
fn ensure_binaryen(root: &Path) -> Result<PathBuf, String> {
    let prefix = root.join("target/tools/binaryen");
    let bin = prefix.join("node_modules/.bin");
    let tool = |name: &str| probe(&bin.join(name).to_string_lossy(), &["--version"]);
    let wasm_opt = tool("wasm-opt").unwrap_or_default();
    let terser = tool("terser").unwrap_or_default();
    let zopfli = std::fs::read_to_string(prefix.join("node_modules/@gfx/zopfli/package.json"))
        .unwrap_or_default();
    if wasm_opt.contains(&format!("version {BINARYEN_VERSION}"))
        && terser.split_whitespace().any(|word| word == TERSER_VERSION)
        && zopfli.contains(&format!("\"version\": \"{ZOPFLI_VERSION}\""))
    {
        return Ok(bin);
    }
    if !exists("npm") {
        return Err(
            "npm is needed to install wasm-opt (binaryen), terser and zopfli; install Node.js"
                .into(),
        );
    }
    std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
    let binaryen = format!("binaryen@{BINARYEN_VERSION}");
    let terser = format!("terser@{TERSER_VERSION}");
    let zopfli = format!("@gfx/zopfli@{ZOPFLI_VERSION}");
    let prefix_arg = prefix.to_string_lossy().into_owned();
    run(&mut cmd(
        "npm",
        &[
            "install",
            "--prefix",
            &prefix_arg,
            "--no-audit",
            "--no-fund",
            "--silent",
            &binaryen,
            &terser,
            &zopfli,
        ],
    ))?;
    Ok(bin)
}

fn is_root() -> bool {
    probe("id", &["-u"]).as_deref() == Some("0")
}

/// Installs Debian's packages as root, or through passwordless sudo.
fn apt_install(packages: &[&str]) -> Result<(), String> {
    let (program, mut prefix): (&str, Vec<&str>) = if is_root() {
        ("apt-get", vec![])
    } else if probe("sudo", &["-n", "true"]).is_some() {
        ("sudo", vec!["-n", "apt-get"])
    } else {
        return Err(format!(
            "{} missing and this user cannot install packages; run: sudo apt-get install {}",
            packages.join(", "),
            packages.join(" ")
        ));
    };
    let mut update = prefix.clone();
    update.extend(["update", "-q"]);
    run(cmd(program, &update).env("DEBIAN_FRONTEND", "noninteractive"))?;
    prefix.extend(["install", "-y", "-q", "--no-install-recommends"]);
    prefix.extend(packages);
    run(cmd(program, &prefix).env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Chromium and a ChromeDriver of the same version, from Debian's packages.
fn ensure_chromium() -> Result<Option<PathBuf>, String> {
    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if exists(&driver) && exists("/usr/bin/chromium") {
        return Ok(Some(PathBuf::from(driver)));
    }
    match apt_install(&["chromium", "chromium-driver"]) {
        Ok(()) => Ok(Some(PathBuf::from("/usr/bin/chromedriver"))),
        Err(e) if in_ci() => Err(e),
        Err(e) => {
            eprintln!("warning: {e}\nwarning: the browser suites will be skipped");
            Ok(None)
        }
    }
}

fn postgres_reachable() -> bool {
    let addr: SocketAddr = ([127, 0, 0, 1], 5432).into();
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// A reachable PostgreSQL: the one the machine runs, started if it is stopped, or
/// Debian's package installed and started where the user may do so.
fn ensure_postgres() -> Result<Option<String>, String> {
    // The same URL the suites will use (they read the variable too; xtask passes it on).
    let url = postgres_admin_url();
    if std::env::var_os("TEST_POSTGRES_URL").is_some() || postgres_reachable() {
        return Ok(Some(url));
    }
    if !Path::new("/etc/postgresql").is_dir() && is_root() {
        if let Err(e) = apt_install(&["postgresql"]) {
            eprintln!("warning: {e}");
        }
    }
    start_postgres_clusters();
    for _ in 0..20 {
        if postgres_reachable() {
            return Ok(Some(url));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let message =
        "PostgreSQL is not reachable on 127.0.0.1:5432 (set TEST_POSTGRES_URL to use another)";
    if in_ci() {
        Err(message.into())
    } else {
        eprintln!("warning: {message}; the PostgreSQL suites will be skipped");
        Ok(None)
    }
}

fn start_postgres_clusters() {
    let Ok(versions) = std::fs::read_dir("/etc/postgresql") else {
        return;
    };
    for version in versions.flatten() {
        let version = version.file_name().to_string_lossy().into_owned();
        let _ = run(&mut cmd(
            "pg_ctlcluster",
            &["--skip-systemctl-redirect", &version, "main", "start"],
        ));
    }
}
