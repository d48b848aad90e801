//! Where Quilt's own sources and tools are, and where an app's build outputs go.

use quilt_manifest::Manifest;
use std::path::PathBuf;

/// The Quilt source tree (holds `crates/runtime`, `crates/sdk`, `Cargo.lock`): `$QUILT_HOME`, or the
/// tree this binary was built from.
pub fn quilt_home() -> PathBuf {
    match std::env::var_os("QUILT_HOME") {
        Some(home) => PathBuf::from(home),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")),
    }
}

/// The runtime crate.
pub fn runtime_crate() -> PathBuf {
    quilt_home().join("crates/runtime")
}

/// The folder holding `quilt.h`.
pub fn include_dir() -> PathBuf {
    quilt_home().join("crates/sdk/include")
}

/// The cargo target folder for an app's generated crates: `$QUILT_TARGET_DIR` (shareable between
/// apps: binary names carry the app name) or `<app>/.quilt/target`.
pub fn target_dir(manifest: &Manifest) -> PathBuf {
    match std::env::var_os("QUILT_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => manifest.work_dir().join("target"),
    }
}

/// The cargo executable (`$CARGO` when run under cargo).
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "cargo".into())
}

/// An LLVM 22 tool: `<name>-22` if on the PATH, else `/usr/lib/llvm-22/bin/<name>`, else `<name>`.
pub fn llvm_tool(name: &str) -> PathBuf {
    let versioned = format!("{name}-22");
    let in_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(&versioned).is_file()))
        .unwrap_or(false);
    if in_path {
        return versioned.into();
    }
    let llvm = PathBuf::from("/usr/lib/llvm-22/bin").join(name);
    if llvm.is_file() {
        llvm
    } else {
        name.into()
    }
}
