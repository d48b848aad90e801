//! Running an OCI image as a container runtime would, with the tools users have: `umoci unpack`
//! into a runtime bundle, then the bundle's entrypoint with the image's environment — chroot'ed
//! into the bundle's rootfs when running as root (which proves the image carries every library it
//! needs), in place otherwise.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Unpacks the image `tag` of the OCI layout `layout` into the runtime bundle `bundle` with umoci
/// (rootless unless root); returns the bundle's runtime configuration (`config.json`).
pub fn unpack(layout: &Path, tag: &str, bundle: &Path) -> Value {
    let mut umoci = Command::new("umoci");
    umoci.arg("unpack");
    if !is_root() {
        umoci.arg("--rootless");
    }
    let out = umoci
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .expect("running umoci");
    assert!(
        out.status.success(),
        "umoci unpack {}:{tag} failed: {}",
        layout.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(bundle.join("config.json")).expect("the bundle's config");
    serde_json::from_str(&config).expect("the bundle's config is JSON")
}

/// A bundle's entrypoint serving on 127.0.0.1; killed when dropped.
pub struct Served {
    child: Child,
    /// The port it announced.
    pub port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the entrypoint of the unpacked `bundle` (whose runtime configuration is `config`) with
/// the image's environment only, on a free port of 127.0.0.1, and waits up to 20 s for it to
/// announce its port.
pub fn serve(bundle: &Path, config: &Value) -> Served {
    let rootfs = bundle.join("rootfs");
    let entry = config["process"]["args"][0]
        .as_str()
        .expect("the bundle has an entrypoint");
    let mut cmd = if is_root() {
        let mut c = Command::new("chroot");
        c.arg(&rootfs).arg(entry);
        c
    } else {
        Command::new(rootfs.join(entry.trim_start_matches('/')))
    };
    cmd.env_clear();
    for kv in config["process"]["env"].as_array().into_iter().flatten() {
        if let Some((k, v)) = kv.as_str().and_then(|kv| kv.split_once('=')) {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .env("QUILT_PORT", "0")
        .env("QUILT_BIND", "127.0.0.1")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {entry}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let started = Instant::now();
    let port = loop {
        let line = lines
            .next()
            .expect("the entrypoint announces its port")
            .expect("reading the entrypoint's output");
        if let Some(p) = line.strip_prefix("QUILT_LISTENING ") {
            break p.trim().parse().expect("a port number");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no port after 20 s"
        );
    };
    Served { child, port }
}
