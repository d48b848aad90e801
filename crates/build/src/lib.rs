//! `quilt build`: one binary per function.
//!
//! The build generates a cargo workspace under `<app>/.quilt/build/` with one small binary crate per
//! function. Each binary's `main` serves the function's entry through `quilt-runtime`; a Rust
//! function's crate is a dependency, a C/C++ function is compiled by clang-22 into a static library
//! that the binary links. Each function is built as if it were alone, with its own cargo features
//! ([`features`]): one `cargo build` builds every function whose features agree with the others' (all
//! of them, usually), so dependencies are compiled once and a build with nothing changed is a cargo
//! no-op. Binaries land in `<app>/.quilt/bin/<function>`.

pub mod features;
pub mod native;
pub mod paths;
pub mod progress;
mod workspace;

use anyhow::{bail, Context, Result};
use quilt_manifest::{Language, Manifest};
use std::path::{Path, PathBuf};
use std::process::Command;

pub use workspace::{rust_package_name, write_if_changed, write_workspace, GeneratedCrate};

/// Builds every function of the app; returns `(function name, binary path)` in manifest order.
pub fn build_app(manifest: &Manifest) -> Result<Vec<(String, PathBuf)>> {
    let all: Vec<&str> = manifest.functions.iter().map(|f| f.name.as_str()).collect();
    build_functions(manifest, &all)
}

/// Builds the functions named in `names` only (a merge needs its members, not the whole app) into
/// `<app>/.quilt/bin/`; returns `(function name, binary path)` in manifest order.
pub fn build_functions(manifest: &Manifest, names: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    if let Some(unknown) = names.iter().find(|n| manifest.function(n).is_none()) {
        bail!("{}: no function named {unknown:?}", manifest.name);
    }
    let work = manifest.work_dir();
    let (build_dir, crates) = write_function_workspace(manifest)?;
    let (functions, crates): (Vec<_>, Vec<_>) = manifest
        .functions
        .iter()
        .zip(crates)
        .filter(|(f, _)| names.contains(&f.name.as_str()))
        .unzip();
    let native: Vec<_> = functions
        .iter()
        .copied()
        .filter(|f| matches!(f.language, Language::C | Language::Cpp))
        .collect();
    let packages: Vec<String> = crates.iter().map(GeneratedCrate::package_name).collect();
    // The C/C++ functions compile while cargo resolves the features (one thread each, mostly).
    let resolutions = std::thread::scope(|scope| {
        let compiling = scope.spawn(|| compile_native(manifest, &native));
        let resolutions = features::resolve(&build_dir, &packages);
        compiling
            .join()
            .expect("compiling C/C++ functions panicked")?;
        resolutions
    })?;
    let batches = features::batches(&resolutions);
    if batches.len() > 1 {
        tracing::info!(
            "building in {} cargo runs so that each function keeps its own features",
            batches.len()
        );
    }
    // Cargo draws its own progress on a terminal.
    let stage = progress::Stage::start_plain(format!(
        "build {}: cargo build of {} function binar{}",
        manifest.name,
        packages.len(),
        if packages.len() == 1 { "y" } else { "ies" }
    ));
    for batch in batches {
        let batch: Vec<&str> = batch.iter().map(|&i| packages[i].as_str()).collect();
        cargo_build(&build_dir, &paths::target_dir(manifest), &batch)?;
    }
    stage.done();
    let bin_dir = work.join("bin");
    std::fs::create_dir_all(&bin_dir).with_context(|| format!("creating {}", bin_dir.display()))?;
    let mut out = Vec::new();
    for f in &functions {
        let dest = bin_dir.join(&f.name);
        install_file(&built_binary(manifest, &f.name), &dest)?;
        out.push((f.name.clone(), dest));
    }
    Ok(out)
}

/// Compiles the static library of each C/C++ function in `native`.
fn compile_native(manifest: &Manifest, native: &[&quilt_manifest::Function]) -> Result<()> {
    if native.is_empty() {
        return Ok(());
    }
    let stage = progress::Stage::start(format!(
        "build {}: compile {} C/C++ function{}",
        manifest.name,
        native.len(),
        if native.len() == 1 { "" } else { "s" }
    ));
    for f in native {
        native::compile_static(f, &manifest.work_dir().join("native"))?;
    }
    stage.done();
    Ok(())
}

/// Where cargo leaves function `name`'s binary; cargo writes it again only when the function (or
/// anything linked into it) is compiled again.
pub fn built_binary(manifest: &Manifest, name: &str) -> PathBuf {
    let krate = GeneratedCrate::new(manifest, &function_crate_name(name));
    paths::target_dir(manifest)
        .join("release")
        .join(krate.bin_name())
}

/// The generated crate (and folder) of function `name`.
fn function_crate_name(name: &str) -> String {
    format!("fn-{name}")
}

/// Writes the generated workspace of the app's functions, `<app>/.quilt/build`, without compiling
/// anything (a C/C++ function's crate links the static library [`native::compile_static`] makes);
/// returns the folder and the crates in manifest order.
pub fn write_function_workspace(manifest: &Manifest) -> Result<(PathBuf, Vec<GeneratedCrate>)> {
    let work = manifest.work_dir();
    let mut crates = Vec::new();
    for f in &manifest.functions {
        let mut krate = GeneratedCrate::new(manifest, &function_crate_name(&f.name));
        match f.language {
            Language::Rust => krate.add_rust_function(f)?,
            Language::C | Language::Cpp => {
                krate.add_native_function(f, &native::static_lib_path(f, &work.join("native")));
            }
        }
        krate.main_single(f);
        crates.push(krate);
    }
    let build_dir = work.join("build");
    workspace::write_workspace(&build_dir, &crates, false)?;
    Ok((build_dir, crates))
}

/// The rustc flag every crate Quilt builds gets on top of the user's `RUSTFLAGS`: each object file
/// keeps the optimized LLVM bitcode it was generated from (section `.llvmbc`). The merging compiler
/// rewrites that bitcode, so a merge reuses the crates the app's own build compiled.
pub const EMBED_BITCODE: &str = "-Cembed-bitcode=yes";

/// `cargo` for an app's builds: target folder `target_dir`, and [`EMBED_BITCODE`] after the user's
/// `RUSTFLAGS` (as `CARGO_ENCODED_RUSTFLAGS`, which cargo prefers) so that function builds and merges
/// share their compiled crates. Cargo then ignores `build.rustflags` from its configuration files:
/// flags for an app's functions go in `RUSTFLAGS`.
pub fn cargo(target_dir: &Path) -> Command {
    let mut flags: Vec<String> = std::env::var("RUSTFLAGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    flags.push(EMBED_BITCODE.to_string());
    let mut cmd = Command::new(paths::cargo());
    cmd.env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
    cmd
}

/// Runs `cargo build --release` of `packages` (their features unified) in a generated workspace.
pub fn cargo_build(build_dir: &Path, target_dir: &Path, packages: &[&str]) -> Result<()> {
    let status = cargo(target_dir)
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(build_dir.join("Cargo.toml"))
        .args(packages.iter().flat_map(|p| ["-p", p]))
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
    quilt_atomic_file::replace_with(to, |tmp| std::fs::copy(from, tmp).map(drop))
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}
