//! OCI images of real function binaries (examples/hello), checked with the tools users have:
//! `skopeo inspect` reads the layout, `umoci unpack` unpacks it into a runtime bundle, and the
//! unpacked binary serves a request — chroot'ed into the bundle's rootfs when running as root, which
//! proves the image carries every library it needs.

use quilt_deploy::oci::{self as images, ImageSpec};
use quilt_harness::oci;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// examples/hello built once (in the shared app target folder, under the shared build lock).
fn hello() -> &'static quilt_manifest::Manifest {
    static BUILT: OnceLock<quilt_manifest::Manifest> = OnceLock::new();
    BUILT.get_or_init(|| quilt_harness::built("examples/hello"))
}

fn image_of(name: &str, dir: &Path) -> images::Image {
    let m = hello();
    let mut labels = BTreeMap::new();
    labels.insert("dev.quilt.app".to_string(), "hello".to_string());
    images::write_image(
        dir,
        &ImageSpec {
            name: name.into(),
            binary: m.work_dir().join("bin").join(name),
            env: vec![("QUILT_FUNCTION".into(), name.into())],
            labels,
            tag: None,
        },
    )
    .unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Posts `body` to `/` of 127.0.0.1:port and returns the reply body.
fn post(port: u16, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
}

#[test]
fn images_are_valid_layouts_that_unpack_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("upper");
    let image = image_of("upper", &dir);
    let libs: Vec<String> = image
        .libraries
        .iter()
        .map(|l| l.display().to_string())
        .collect();
    assert!(
        libs.iter().any(|l| l.contains("libc.so")),
        "libc is packaged: {libs:?}"
    );
    assert!(
        libs.iter().any(|l| l.contains("ld-linux")),
        "the loader is packaged"
    );

    // skopeo reads the layout.
    let reference = format!("oci:{}:{}", dir.display(), image.tag);
    let inspect: Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", &reference])))
            .expect("skopeo inspect prints JSON");
    assert_eq!(inspect["Digest"], image.manifest_digest.as_str());
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2);
    let env: Vec<&str> = inspect["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&"QUILT_PORT=8888"), "{env:?}");
    assert!(env.contains(&"QUILT_BIND=0.0.0.0"), "{env:?}");
    assert_eq!(inspect["Labels"]["dev.quilt.app"], "hello");
    let config: Value = serde_json::from_str(&run(
        Command::new("skopeo").args(["inspect", "--config", &reference])
    ))
    .unwrap();
    assert_eq!(config["config"]["Entrypoint"][0], "/quilt/bin/upper");
    assert!(config["config"]["ExposedPorts"]["8888/tcp"].is_object());

    // umoci unpacks it into a runtime bundle.
    let bundle = tmp.path().join("bundle");
    let runtime = oci::unpack(&dir, &image.tag, &bundle);
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("quilt/bin/upper").is_file());
    for lib in &image.libraries {
        let inside = rootfs.join(lib.strip_prefix("/").unwrap());
        assert!(inside.is_file(), "{} is in the rootfs", inside.display());
    }
    assert_eq!(runtime["process"]["args"][0], "/quilt/bin/upper");

    // The unpacked binary serves: inside the rootfs alone (chroot) when root, else in place.
    let served = oci::serve(&bundle, &runtime);
    assert_eq!(
        post(served.port, r#"{"text":"quilt"}"#),
        r#"{"text":"QUILT"}"#
    );
}

#[test]
fn images_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let a = image_of("decorate", &tmp.path().join("a"));
    let b = image_of("decorate", &tmp.path().join("b"));
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.tag, b.tag);
    // The runtime layer is shared between functions: same libraries, same blob.
    let c = image_of("hello", &tmp.path().join("c"));
    let blobs = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let shared = blobs(&tmp.path().join("a"))
        .into_iter()
        .filter(|x| blobs(&tmp.path().join("c")).contains(x))
        .count();
    assert_eq!(shared, 1, "exactly the runtime layer is shared");
    assert_ne!(a.manifest_digest, c.manifest_digest);
}
