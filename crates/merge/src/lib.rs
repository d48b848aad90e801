//! `quilt merge`: the merging compiler.
//!
//! For each group (a root and its members) it
//! 1. **compiles**: the Rust members together through a generated crate with fat LTO into one
//!    whole-program bitcode module (std included once), the C/C++ members with clang-22 into
//!    bitcode;
//! 2. **merges**: links the modules in-process (inkwell / LLVM 22) and rewrites every invocation of
//!    a member into a local call ([`rewrite`]);
//! 3. **cleans up**: removes what the rewrite left unreachable ([`POST_MERGE_PASSES`]); the code
//!    itself was optimized before (rustc's fat LTO at O3, clang-22 at -O2), and a second O3 run
//!    measured slower to merge and to run (docs/PERFORMANCE.md, "Merge time and size");
//! 4. **links**: emits object code and links it with clang-22.
//!
//! Steps 2–4 read only the compiled bitcode: when it is unchanged, the binary comes from the
//! [`cache`].
//!
//! The result is installed atomically as `<app>/.quilt/merged/<root>-merged` with a deployment
//! file beside it, which `quilt up` serves next to the original functions.

pub mod cache;
pub mod deployment;
pub mod features;
mod llvm;
pub mod rewrite;
pub mod structors;
pub mod tree;

use anyhow::{anyhow, bail, Context, Result};
use cache::{Cache, Findings};
use deployment::MergedDeployment;
use inkwell::context::Context as LlvmContext;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine,
};
use inkwell::OptimizationLevel;
use quilt_build::native::{self, Emit};
use quilt_build::progress::Stage;
use quilt_build::{paths, GeneratedCrate};
use quilt_manifest::{Language, Manifest};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

use tree::Tree;

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Local asynchronous executions allowed in flight per callee and instance; above it calls go
    /// remote. 0 merges unconditionally.
    pub fanout_threshold: usize,
    /// Write the optimized module as text (`merged.ll`) beside the binary.
    pub keep_ir: bool,
    /// Merge functions of different trust domains or isolated functions anyway (logged).
    pub allow_cross_domain: bool,
    /// Compile C and C++ members with [`quilt_build::native::HARDENING_FLAGS`].
    pub harden: bool,
    /// The merged binary also serves the root's own route (see [`MergedDeployment::serves_root`]).
    pub serve_root: bool,
    /// Merge, optimize and link even when the merge cache holds this group (the result replaces
    /// the entry).
    pub refresh: bool,
}

/// Seconds spent in each stage, as in the reference's merge-time table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    /// Compiling members to bitcode (cargo with fat LTO, clang-22).
    pub compile_s: f64,
    /// Loading and linking modules, rewriting call sites.
    pub merge_s: f64,
    /// The post-merge pipeline ([`POST_MERGE_PASSES`]).
    pub optimize_s: f64,
    /// Object emission and linking with clang-22.
    pub link_s: f64,
}

/// What merging one group did.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// The deployment name, `<root>-merged`.
    pub name: String,
    /// The group's root.
    pub root: String,
    /// Every member, root first.
    pub members: Vec<String>,
    /// The installed binary.
    pub binary: PathBuf,
    /// Stage times.
    pub times: StageTimes,
    /// Size of the merged binary in bytes.
    pub merged_bytes: u64,
    /// Sum of the sizes of the members' own binaries (0 where not built).
    pub originals_bytes: u64,
    /// Every invocation site found, and what became of it.
    pub sites: Vec<rewrite::Site>,
    /// Global constructors and destructors of the members, moved into `.init_array`/`.fini_array`.
    pub structors: structors::Lowered,
    /// The optimized module as text, when kept.
    pub ir: Option<PathBuf>,
    /// Whether C and C++ members were compiled with hardening.
    pub hardened: bool,
    /// Whether the binary came from the merge cache (merge, optimize and link skipped).
    pub cached: bool,
}

/// Checks a group against the app: members exist, trust domains and isolation are respected.
pub fn check_group(manifest: &Manifest, tree: &Tree, opts: &MergeOptions) -> Result<()> {
    for m in &tree.members {
        if manifest.function(m).is_none() {
            let line = tree
                .edges
                .iter()
                .find(|(a, b, _)| a == m || b == m)
                .map(|e| format!(":{}", e.2))
                .unwrap_or_default();
            let role = if *m == tree.root { "root" } else { "function" };
            bail!(
                "{}{line}: unknown {role} '{m}': app '{}' has no such function",
                tree.source.display(),
                manifest.name
            );
        }
    }
    if tree.members.len() > 1 {
        let mut problems = Vec::new();
        let funcs: Vec<_> = tree
            .members
            .iter()
            .map(|m| manifest.function(m).unwrap())
            .collect();
        for f in &funcs {
            if f.isolate {
                problems.push(format!("'{}' is isolated", f.name));
            }
        }
        let first = &funcs[0];
        for f in &funcs[1..] {
            if f.domain != first.domain {
                problems.push(format!(
                    "'{}' (domain {}) and '{}' (domain {}) are in different trust domains",
                    first.name,
                    first.domain.as_deref().unwrap_or("none"),
                    f.name,
                    f.domain.as_deref().unwrap_or("none")
                ));
            }
        }
        if !problems.is_empty() {
            let what = problems.join("; ");
            if !opts.allow_cross_domain {
                bail!(
                    "{}: refusing to merge group '{}': {what} (pass --allow-cross-domain to override)",
                    tree.source.display(),
                    tree.root
                );
            }
            tracing::warn!(group = %tree.root, "merging across a trust boundary by request: {what}");
        }
    }
    Ok(())
}

/// The LLVM pipeline run over a merged module: dead-code elimination of what the rewrite left
/// unreferenced. The members arrive optimized (the Rust ones by rustc's fat LTO, the C/C++ ones at
/// -O2), so `default<O3>` again took 7.4 s of compose-post's merge for 3% more instructions per
/// request and a larger binary.
pub const POST_MERGE_PASSES: &str = "globaldce";

/// Merges one group into a binary and installs it.
pub fn merge_group(manifest: &Manifest, tree: &Tree, opts: &MergeOptions) -> Result<GroupReport> {
    check_group(manifest, tree, opts)?;
    features::check(manifest, tree)?;
    let work = manifest.work_dir();
    let out_dir = work.join("merge").join(format!("out-{}", tree.root));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut times = StageTimes::default();

    let stage = |what: &str| Stage::start(format!("merge {}: {what}", tree.root));
    let compiling = stage("compile members to bitcode (fat LTO)");
    let (rust_bc, native_bcs, cpp) = compile(manifest, tree, opts, &out_dir)?;
    times.compile_s = compiling.done();

    let bitcode: Vec<&Path> = std::iter::once(rust_bc.as_path())
        .chain(native_bcs.iter().map(PathBuf::as_path))
        .collect();
    let cache = Cache::new(work.join("merge").join("cache"));
    let key = Cache::key(&bitcode, &tree.members, opts.fanout_threshold, cpp)?;
    let hit = if opts.keep_ir || opts.refresh {
        None
    } else {
        cache.lookup(&key)
    };
    let cached = hit.is_some();
    let (linked, findings, ir) = match hit {
        Some((binary, findings)) => {
            stage("merge, optimize and link").done_with("(cached: the members are unchanged)");
            (binary, findings, None)
        }
        None => {
            let (linked, findings, ir) =
                merge_optimize_link(&bitcode, cpp, tree, opts, &out_dir, &mut times)?;
            if let Err(e) = cache.store(&key, &linked, &findings) {
                tracing::warn!(group = %tree.root, "not cached: {e:#}");
            }
            (linked, findings, ir)
        }
    };

    let name = format!("{}-merged", tree.root);
    let mut deployment = MergedDeployment::new(manifest, &name, tree, opts.fanout_threshold);
    deployment.serves_root = opts.serve_root;
    let binary = deployment.install(manifest, &linked)?;
    let merged_bytes = std::fs::metadata(&binary)?.len();
    let originals_bytes = tree
        .members
        .iter()
        .filter_map(|m| std::fs::metadata(work.join("bin").join(m)).ok())
        .map(|m| m.len())
        .sum();
    Ok(GroupReport {
        name,
        root: tree.root.clone(),
        members: tree.members.clone(),
        binary,
        times,
        merged_bytes,
        originals_bytes,
        sites: findings.sites,
        structors: findings.structors,
        ir,
        hardened: opts.harden,
        cached,
    })
}

/// The merge, optimize and link stages: the linked binary, what the rewrite found, and the
/// optimized module as text when kept.
fn merge_optimize_link(
    bitcode: &[&Path],
    cpp: bool,
    tree: &Tree,
    opts: &MergeOptions,
    out_dir: &Path,
    times: &mut StageTimes,
) -> Result<(PathBuf, Findings, Option<PathBuf>)> {
    let stage = |what: &str| Stage::start(format!("merge {}: {what}", tree.root));
    let merging = stage("link modules and rewrite calls");
    let ctx = LlvmContext::create();
    let (rust_bc, native_bcs) = bitcode.split_first().expect("the Rust module comes first");
    let module = Module::parse_bitcode_from_path(rust_bc, &ctx)
        .map_err(|e| anyhow!("reading {}: {e}", rust_bc.display()))?;
    for bc in native_bcs {
        let m = Module::parse_bitcode_from_path(bc, &ctx)
            .map_err(|e| anyhow!("reading {}: {e}", bc.display()))?;
        module
            .link_in_module(m)
            .map_err(|e| anyhow!("linking {}: {e}", bc.display()))?;
    }
    // SAFETY: the module is valid and owned by `ctx` for this whole block.
    let (sites, structors) = unsafe {
        llvm_sys::debuginfo::LLVMStripModuleDebugInfo(module.as_mut_ptr());
        let structors = structors::lower(module.as_mut_ptr());
        for m in &tree.members {
            if !rewrite::defines(module.as_mut_ptr(), &rewrite::entry_symbol(m)) {
                bail!(
                    "member '{m}' defines no entry {} (C/C++: QUILT_FUNCTION({}, handler))",
                    rewrite::entry_symbol(m),
                    quilt_manifest::ident_of(m)
                );
            }
        }
        let sites = rewrite::rewrite(module.as_mut_ptr(), &tree.members).map_err(|e| anyhow!(e))?;
        rewrite::set_fanout_threshold(module.as_mut_ptr(), opts.fanout_threshold)
            .map_err(|e| anyhow!(e))?;
        (sites, structors)
    };
    module
        .verify()
        .map_err(|e| anyhow!("the rewritten module is invalid: {e}"))?;
    times.merge_s = merging.done();

    let optimizing = stage("remove dead code");
    let machine = target_machine()?;
    module
        .run_passes(POST_MERGE_PASSES, &machine, PassBuilderOptions::create())
        .map_err(|e| anyhow!("optimizing: {e}"))?;
    times.optimize_s = optimizing.done();
    let ir = if opts.keep_ir {
        let path = out_dir.join("merged.ll");
        module
            .print_to_file(&path)
            .map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
        Some(path)
    } else {
        None
    };

    let linking = stage("generate code and link");
    let object = out_dir.join("merged.o");
    machine
        .write_to_file(&module, FileType::Object, &object)
        .map_err(|e| anyhow!("emitting {}: {e}", object.display()))?;
    let linked = out_dir.join("merged.bin");
    link(&object, &linked, cpp)?;
    times.link_s = linking.done();

    Ok((linked, Findings { sites, structors }, ir))
}

/// Builds the monolith fixture of a group, `<root>-monolith`: one binary that links every member's
/// handler and dispatches their calls in-process by name at run time, built by cargo as usual —
/// no IR rewrite. It is the physical limit a merged binary is measured against.
pub fn build_monolith(manifest: &Manifest, tree: &Tree) -> Result<PathBuf> {
    check_group(manifest, tree, &MergeOptions::default())?;
    features::check(manifest, tree)?;
    let work = manifest.work_dir();
    let mut krate = GeneratedCrate::new(manifest, &format!("monolith-{}", tree.root));
    for m in &tree.members {
        let f = manifest.function(m).expect("checked");
        match f.language {
            Language::Rust => krate.add_rust_function(f)?,
            Language::C | Language::Cpp => {
                let lib = native::compile_static(f, &work.join("native"))?;
                krate.add_native_function(f, &lib);
            }
        }
    }
    krate.main_merged();
    let dir = work.join("monolith");
    quilt_build::write_workspace(&dir, std::slice::from_ref(&krate), true)?;
    let target = paths::target_dir(manifest);
    quilt_build::cargo_build(&dir, &target, &[&krate.package_name()])?;
    let name = format!("{}-monolith", tree.root);
    MergedDeployment::new(manifest, &name, tree, 0)
        .install(manifest, &target.join("release").join(krate.bin_name()))
}

/// Compiles the group: returns the Rust whole-program bitcode, the C/C++ bitcode files, and
/// whether a C++ member needs the C++ standard library.
fn compile(
    manifest: &Manifest,
    tree: &Tree,
    opts: &MergeOptions,
    out_dir: &Path,
) -> Result<(PathBuf, Vec<PathBuf>, bool)> {
    let merge_dir = manifest.work_dir().join("merge");
    let mut krate = GeneratedCrate::new(manifest, &format!("merged-{}", tree.root));
    let mut native_bcs = Vec::new();
    let mut cpp = false;
    for m in &tree.members {
        let f = manifest.function(m).expect("checked");
        match f.language {
            Language::Rust => krate.add_rust_function(f)?,
            Language::C | Language::Cpp => {
                krate.add_external_function(f);
                cpp |= f.language == Language::Cpp;
                let dir = if opts.harden {
                    "native-hardened"
                } else {
                    "native"
                };
                native_bcs.extend(native::compile(
                    f,
                    &out_dir.join(dir).join(&f.name),
                    Emit::Bitcode,
                    opts.harden,
                )?);
            }
        }
    }
    krate.main_merged();
    quilt_build::write_workspace(&merge_dir, std::slice::from_ref(&krate), true)?;
    let rust_bc = out_dir.join("rust.bc");
    let package = krate.package_name();
    let linker = write_empty_linker(&merge_dir)?;
    for attempt in 0..2 {
        let output = Command::new(paths::cargo())
            .arg("rustc")
            .args(["--profile", "merge", "--manifest-path"])
            .arg(merge_dir.join("Cargo.toml"))
            .args(["-p", &package, "--bin", &krate.bin_name(), "--"])
            .arg(format!("--emit=llvm-bc={}", rust_bc.display()))
            .arg(format!("-Clinker={}", linker.display()))
            .env("CARGO_TARGET_DIR", paths::target_dir(manifest))
            .output()
            .context("running cargo")?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("{}", describe_compile_failure(manifest, tree, &stderr));
        }
        if rust_bc.is_file() {
            break;
        }
        // Cargo found the crate fresh but the bitcode is gone: force one rebuild.
        if attempt == 0 {
            let main = merge_dir.join(krate.dir_name()).join("main.rs");
            let text = std::fs::read_to_string(&main)?;
            std::fs::write(&main, text)?;
        } else {
            bail!("cargo produced no bitcode at {}", rust_bc.display());
        }
    }
    Ok((rust_bc, native_bcs, cpp))
}

/// Writes `<dir>/empty-linker`: a linker for the bitcode-only compile that writes an empty output
/// file. The bitcode is all that is needed, but cargo takes a crate whose binary is missing as
/// changed and would compile it again on every merge.
fn write_empty_linker(dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("empty-linker");
    quilt_build::write_if_changed(
        &path,
        "#!/bin/sh\n# Generated by quilt: writes an empty output file instead of linking.\n\
         while [ $# -gt 0 ]; do\n  if [ \"$1\" = -o ]; then : > \"$2\"; fi\n  shift\ndone\n",
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))?;
    Ok(path)
}

/// Names the member whose crate failed to compile, with cargo's errors.
fn describe_compile_failure(manifest: &Manifest, tree: &Tree, stderr: &str) -> String {
    let failed = stderr.lines().find_map(|l| {
        let rest = l.split("could not compile `").nth(1)?;
        Some(rest.split('`').next()?.to_string())
    });
    let member = failed.as_deref().and_then(|pkg| {
        tree.members.iter().find(|m| {
            manifest.function(m).is_some_and(|f| {
                quilt_build::rust_package_name(&f.source).ok().as_deref() == Some(pkg)
            })
        })
    });
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim_start().starts_with("Compiling") && !l.trim().is_empty())
        .collect();
    match member {
        Some(m) => format!(
            "group '{}': member '{m}' failed to compile:\n{}",
            tree.root,
            errors.join("\n")
        ),
        None => format!(
            "group '{}': compiling the merged crate failed:\n{}",
            tree.root,
            errors.join("\n")
        ),
    }
}

fn target_machine() -> Result<TargetMachine> {
    Target::initialize_x86(&InitializationConfig::default());
    let triple = TargetMachine::get_default_triple();
    let target = Target::from_triple(&triple).map_err(|e| anyhow!("LLVM target: {e}"))?;
    // Generic x86-64, as rustc targets by default: merged and original binaries compare fairly.
    target
        .create_target_machine(
            &triple,
            "x86-64",
            "",
            OptimizationLevel::Aggressive,
            RelocMode::PIC,
            CodeModel::Default,
        )
        .ok_or_else(|| anyhow!("cannot create an LLVM target machine for {triple}"))
}

/// Links an object file into an executable with clang-22, with what Rust's std needs.
fn link(object: &Path, out: &Path, cpp: bool) -> Result<()> {
    let mut cmd = Command::new(paths::llvm_tool("clang"));
    cmd.arg(object).arg("-o").arg(out).arg("-fuse-ld=lld");
    if cpp {
        cmd.arg("-lstdc++");
    }
    cmd.args([
        "-lgcc_s",
        "-lutil",
        "-lrt",
        "-lpthread",
        "-lm",
        "-ldl",
        "-lc",
    ]);
    let output = cmd.output().context("running clang-22 to link")?;
    if !output.status.success() {
        bail!(
            "linking {} failed:\n{}",
            out.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}
