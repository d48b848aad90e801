//! OCI images written by Quilt itself: no Docker daemon, no image builder.
//!
//! An image is an [OCI image layout] folder (`oci-layout`, `index.json`, `blobs/sha256/…`) holding
//! one manifest with two gzip'd tar layers:
//!
//! 1. the runtime: the shared libraries the binary needs (found with `ldd`: libc, libgcc_s, libm,
//!    …) and the dynamic loader, at the paths the loader looks for them, plus a minimal `/etc`
//!    (`nsswitch.conf`, `passwd`, `group`) — so the image needs nothing from a base image and runs
//!    on any Linux of the same architecture;
//! 2. the binary, at `/quilt/bin/<name>`, the entrypoint.
//!
//! Everything is deterministic (sorted entries, zero timestamps, owner 0, gzip without a name or a
//! time): the same binary gives the same digests, so a registry stores the runtime layer once
//! however many functions share it, and a redeploy of an unchanged function changes nothing.
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

use anyhow::{bail, Context, Result};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The port a function listens on inside its container (`QUILT_PORT`).
pub const PORT: u16 = 8888;
/// Media type of an image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an image configuration.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a gzip'd tar layer.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What goes into one image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The deployable's name: the binary is installed as `/quilt/bin/<name>`.
    pub name: String,
    /// The binary to package.
    pub binary: PathBuf,
    /// Environment of the container, after `PATH`, `QUILT_PORT` and `QUILT_BIND`.
    pub env: Vec<(String, String)>,
    /// Labels of the image configuration.
    pub labels: BTreeMap<String, String>,
    /// The tag (`org.opencontainers.image.ref.name`); None: derived from the manifest's digest.
    pub tag: Option<String>,
}

/// An image written to a layout folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Image {
    /// The layout folder.
    pub dir: PathBuf,
    /// Its tag inside the layout (`oci:<dir>:<tag>`).
    pub tag: String,
    /// `sha256:…` of the manifest (the image's identity in a registry).
    pub manifest_digest: String,
    /// `sha256:…` of the configuration.
    pub config_digest: String,
    /// Compressed size of the layers, in bytes.
    pub layers_bytes: u64,
    /// The files of the runtime layer (libraries and loader), as found on this machine.
    pub libraries: Vec<PathBuf>,
}

/// The path of the binary inside the image.
pub fn entrypoint(name: &str) -> String {
    format!("/quilt/bin/{name}")
}

/// The shared libraries and the dynamic loader `binary` needs, from `ldd` (absolute paths on this
/// machine, in `ldd`'s order). Empty for a static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd (install libc-bin) to find the binary's shared libraries")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if text.contains("not a dynamic executable")
        || err.contains("not a dynamic executable")
        || text.contains("statically linked")
    {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        bail!("ldd {} failed: {}", binary.display(), err.trim());
    }
    parse_ldd(&text).with_context(|| format!("ldd {}", binary.display()))
}

/// Parses `ldd` output: `name => /path (addr)`, `/path (addr)`; the vDSO has no file.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!("shared library {} not found", name.trim());
                }
                rest
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or("");
        if path.starts_with('/') && !libs.iter().any(|l: &PathBuf| l == Path::new(path)) {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// A file of a layer.
struct Entry {
    /// Path inside the image, without the leading `/`.
    path: String,
    mode: u32,
    data: Vec<u8>,
}

/// A deterministic tar of `entries` (parents first, sorted), gzip'd: (tar, gzip).
fn layer(mut entries: Vec<Entry>) -> Result<(Vec<u8>, Vec<u8>)> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut dirs = std::collections::BTreeSet::new();
    for e in &entries {
        let mut p = Path::new(&e.path).parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(d.to_string_lossy().into_owned());
            p = d.parent();
        }
    }
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    for dir in &dirs {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        builder.append_data(&mut h, format!("{dir}/"), std::io::empty())?;
    }
    for e in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(e.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(e.data.len() as u64);
        builder.append_data(&mut h, &e.path, e.data.as_slice())?;
    }
    let tar = builder.into_inner()?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    let gz = gz.finish()?;
    Ok((tar, gz))
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Writes a blob under `blobs/sha256/` (once) and returns its descriptor.
fn blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    let d = digest(bytes);
    let path = dir.join("blobs/sha256").join(&d["sha256:".len()..]);
    if !path.exists() {
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(json!({ "mediaType": media_type, "digest": d, "size": bytes.len() }))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The runtime layer's files: libraries at the paths `ldd` found them, the loader, and `/etc`.
fn runtime_entries(libraries: &[PathBuf]) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for lib in libraries {
        // Symlinks (e.g. /lib64/ld-linux-x86-64.so.2) become regular files at the same path.
        let data = read_file(lib)?;
        let path = lib.to_string_lossy().trim_start_matches('/').to_string();
        entries.push(Entry {
            path,
            mode: 0o755,
            data,
        });
    }
    let etc = [
        (
            "etc/nsswitch.conf",
            "hosts: files dns\npasswd: files\ngroup: files\n",
        ),
        (
            "etc/passwd",
            "root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ];
    for (path, text) in etc {
        entries.push(Entry {
            path: path.to_string(),
            mode: 0o644,
            data: text.as_bytes().to_vec(),
        });
    }
    Ok(entries)
}

/// Writes the image of `spec` as an OCI image layout into `dir` (created; must not exist or be
/// empty).
pub fn write_image(dir: &Path, spec: &ImageSpec) -> Result<Image> {
    let libraries = shared_libraries(&spec.binary)?;
    std::fs::create_dir_all(dir.join("blobs/sha256"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join("oci-layout"),
        json!({ "imageLayoutVersion": "1.0.0" }).to_string(),
    )?;

    let (runtime_tar, runtime_gz) = layer(runtime_entries(&libraries)?)?;
    let binary = read_file(&spec.binary)?;
    let (app_tar, app_gz) = layer(vec![Entry {
        path: entrypoint(&spec.name).trim_start_matches('/').to_string(),
        mode: 0o755,
        data: binary,
    }])?;
    let layers = vec![
        blob(dir, LAYER_MEDIA_TYPE, &runtime_gz)?,
        blob(dir, LAYER_MEDIA_TYPE, &app_gz)?,
    ];

    let mut env = vec![
        "PATH=/quilt/bin".to_string(),
        format!("QUILT_PORT={PORT}"),
        "QUILT_BIND=0.0.0.0".to_string(),
    ];
    env.extend(spec.env.iter().map(|(k, v)| format!("{k}={v}")));
    let config = json!({
        "created": "1970-01-01T00:00:00Z",
        "architecture": oci_arch(),
        "os": "linux",
        "config": {
            "User": "65534:65534",
            "Entrypoint": [entrypoint(&spec.name)],
            "Env": env,
            "ExposedPorts": { format!("{PORT}/tcp"): {} },
            "WorkingDir": "/",
            "Labels": spec.labels,
        },
        "rootfs": {
            "type": "layers",
            "diff_ids": [digest(&runtime_tar), digest(&app_tar)],
        },
        "history": [
            { "created": "1970-01-01T00:00:00Z", "created_by": "quilt deploy: runtime libraries" },
            { "created": "1970-01-01T00:00:00Z", "created_by": format!("quilt deploy: {}", spec.name) },
        ],
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_desc = blob(dir, CONFIG_MEDIA_TYPE, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config_desc,
        "layers": layers,
        "annotations": spec.labels,
    });
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let mut manifest_desc = blob(dir, MANIFEST_MEDIA_TYPE, &manifest_bytes)?;
    let manifest_digest = manifest_desc["digest"].as_str().unwrap_or("").to_string();
    let tag = match &spec.tag {
        Some(t) => {
            check_tag(t)?;
            t.clone()
        }
        // The manifest's digest does not depend on the tag: a content-derived tag.
        None => manifest_digest["sha256:".len()..]
            .chars()
            .take(16)
            .collect(),
    };
    manifest_desc["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    manifest_desc["platform"] = json!({ "architecture": oci_arch(), "os": "linux" });
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [manifest_desc],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index)?)?;
    Ok(Image {
        dir: dir.to_path_buf(),
        tag,
        manifest_digest,
        config_digest: config_desc["digest"].as_str().unwrap_or("").to_string(),
        layers_bytes: (runtime_gz.len() + app_gz.len()) as u64,
        libraries,
    })
}

/// A tag as registries accept it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!("tag '{tag}' is not valid: use [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}");
    }
    Ok(())
}

/// This machine's architecture, as OCI names it.
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ldd() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f59)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f59)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f59)\n";
        let libs = parse_ldd(text).unwrap();
        assert_eq!(
            libs,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    #[test]
    fn layers_are_deterministic_and_list_parents_first() {
        let entries = || {
            vec![
                Entry {
                    path: "quilt/bin/x".into(),
                    mode: 0o755,
                    data: b"abc".to_vec(),
                },
                Entry {
                    path: "etc/passwd".into(),
                    mode: 0o644,
                    data: b"root".to_vec(),
                },
            ]
        };
        let (tar1, gz1) = layer(entries()).unwrap();
        let (tar2, gz2) = layer(entries()).unwrap();
        assert_eq!((digest(&tar1), digest(&gz1)), (digest(&tar2), digest(&gz2)));
        let mut archive = tar::Archive::new(tar1.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["etc/", "quilt/", "quilt/bin/", "etc/passwd", "quilt/bin/x"]
        );
    }

    #[test]
    fn tags_are_checked() {
        assert!(check_tag("v1.2_3-a").is_ok());
        assert!(check_tag("-x").is_err());
        assert!(check_tag("a/b").is_err());
        assert!(check_tag("").is_err());
    }
}
