//! `quilt build`: one binary per function.
//!
//! The build generates a cargo workspace under `<app>/.quilt/build/` with one small binary crate per
//! function. Each binary's `main` serves the function's entry through `quilt-runtime`; a Rust
//! function's crate is a dependency, a C/C++ function is compiled by clang-22 into a static library
//! that the binary links. A single `cargo build` builds them all, so dependencies are compiled once
//! and a build with nothing changed is a cargo no-op. Binaries land in `<app>/.quilt/bin/<function>`.

pub mod native;
pub mod paths;
mod workspace;

use anyhow::{bail, Context, Result};
use quilt_manifest::{Language, Manifest};
use std::path::{Path, PathBuf};
use std::process::Command;

pub use workspace::{
    rust_package_name, temp_path, write_if_changed, write_workspace, GeneratedCrate,
};

/// Builds every function of the app; returns `(function name, binary path)` in manifest order.
pub fn build_app(manifest: &Manifest) -> Result<Vec<(String, PathBuf)>> {
    let work = manifest.work_dir();
    let build_dir = work.join("build");
    let mut crates = Vec::new();
    for f in &manifest.functions {
        let mut krate = GeneratedCrate::new(manifest, &format!("fn-{}", f.name));
        match f.language {
            Language::Rust => {
                krate.add_rust_function(f)?;
            }
            Language::C | Language::Cpp => {
                let lib = native::compile_static(f, &work.join("native"))?;
                krate.add_native_function(f, &lib);
            }
        }
        krate.main_single(f);
        crates.push(krate);
    }
    workspace::write_workspace(&build_dir, &crates, false)?;
    cargo_build(&build_dir, &paths::target_dir(manifest))?;
    let bin_dir = work.join("bin");
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    let mut out = Vec::new();
    for (f, krate) in manifest.functions.iter().zip(&crates) {
        let built = paths::target_dir(manifest)
            .join("release")
            .join(krate.bin_name());
        let dest = bin_dir.join(&f.name);
        install_file(&built, &dest)?;
        out.push((f.name.clone(), dest));
    }
    Ok(out)
}

/// Runs `cargo build --release` on a generated workspace.
pub fn cargo_build(build_dir: &Path, target_dir: &Path) -> Result<()> {
    let status = Command::new(paths::cargo())
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(build_dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!(
            "cargo build failed in {} (its errors are above)",
            build_dir.display()
        );
    }
    Ok(())
}

/// Copies `from` to `to` through a temporary file and a rename, so that a reader never sees a half
/// written file.
pub fn install_file(from: &Path, to: &Path) -> Result<()> {
    let tmp = temp_path(to);
    std::fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("installing {}", to.display()))?;
    Ok(())
}
