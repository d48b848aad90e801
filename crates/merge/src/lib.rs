//! `quilt merge`: the merging compiler.
//!
//! For each group (a root and its members) it
//! 1. **compiles**: a generated crate that depends on the Rust members, built like the app's own
//!    functions (so their compiled crates are reused) but with its link recorded instead of run
//!    ([`link`]); the C/C++ members with clang-22 into bitcode;
//! 2. **rewrites**: in every object that uses the invocation ABI (found by its symbols), the
//!    bitcode embedded beside the code, where every invocation of a member becomes a local call
//!    ([`rewrite`]); the C/C++ members' bitcode likewise;
//! 3. **cleans up** each rewritten module ([`POST_MERGE_PASSES`]): the code was optimized when it was
//!    compiled, and a second O3 measured slower to merge and to run (docs/PERFORMANCE.md, "Merge
//!    time and size");
//! 4. **links**: generates code for the rewritten modules, on every core, and replays rustc's link
//!    with them in place of the objects they came from.
//!
//! Rewritten objects and linked binaries are cached by what they depend on ([`cache`]): after one
//! member changes, only its objects are rewritten again.
//!
//! The result is installed atomically as `<app>/.quilt/merged/<root>-merged` with a deployment
//! file beside it, which `quilt up` serves next to the original functions.

pub mod cache;
pub mod deployment;
pub mod features;
pub mod link;
mod llvm;
pub mod private;
pub mod rewrite;
pub mod structors;
pub mod tree;

use anyhow::{anyhow, bail, Context, Result};
use cache::{Cache, Findings};
use deployment::MergedDeployment;
use inkwell::context::Context as LlvmContext;
use inkwell::memory_buffer::MemoryBuffer;
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

use tree::Tree;

/// How to merge.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Local asynchronous executions allowed in flight per callee and instance; above it calls go
    /// remote. 0 merges unconditionally.
    pub fanout_threshold: usize,
    /// Write each rewritten module as text, one `.ll` file per module (each one readable by
    /// `llvm-as` and `opt`), in the folder `ir/` beside the binary.
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

/// Seconds spent in each stage, as in the reference's merge-time table. The rewritten modules are
/// handled on every core at once: the last three add up the seconds each module took.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    /// Compiling (cargo with the link recorded, clang-22 to bitcode).
    pub compile_s: f64,
    /// Loading modules and rewriting call sites.
    pub merge_s: f64,
    /// The post-merge pipeline ([`POST_MERGE_PASSES`]).
    pub optimize_s: f64,
    /// Code generation, and the link.
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
    /// The folder of the rewritten modules as text, when kept (see [`MergeOptions::keep_ir`]).
    pub ir: Option<PathBuf>,
    /// Whether C and C++ members were compiled with hardening.
    pub hardened: bool,
    /// Whether the binary came from the merge cache (rewrite, clean-up and link skipped).
    pub cached: bool,
    /// The modules of the merge (objects that use the invocation ABI, C/C++ members).
    pub modules: ModuleCounts,
}

/// How many modules a merge rewrote, and how many it found unchanged in the object cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ModuleCounts {
    /// Rewritten and compiled to object code by this merge.
    pub rewritten: usize,
    /// Taken from the object cache (or, with the binary, from the merge cache).
    pub cached: usize,
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

/// The LLVM pipeline run over each rewritten module: dead-code elimination of what the rewrite left
/// unreferenced. The modules arrive optimized (rustc at O3, clang-22 at -O2), and a second
/// `default<O3>` took 7.4 s of compose-post's merge for 3% more instructions per request and a
/// larger binary (docs/PERFORMANCE.md, "Merge time and size").
pub const POST_MERGE_PASSES: &str = "globaldce";

/// Objects kept in an app's object cache (a group has one per C/C++ member and a few per Rust one).
const OBJECTS_KEPT: usize = 512;

/// Merged binaries kept in an app's merge cache.
const BINARIES_KEPT: usize = 32;

/// One module the merge rewrites and generates code for.
struct Job {
    /// Where it comes from: an object of the recorded link, or a C/C++ member's bitcode.
    origin: String,
    /// The link argument it replaces; `None` for a C/C++ member (linked in addition).
    arg: Option<usize>,
    /// The C/C++ member it is (its entry must be defined), if any.
    member: Option<String>,
    /// The names that member defines across its files, its entry aside: renamed its own in this
    /// module (see [`private`]). Empty for the merged crate's objects.
    member_names: std::collections::BTreeSet<String>,
    /// Whether it defines the fan-out threshold.
    defines_threshold: bool,
    bitcode: Vec<u8>,
    /// Its key in the object cache.
    key: String,
}

/// What generating code for one module produced.
struct Generated {
    object: Vec<u8>,
    findings: Findings,
    ir: Option<String>,
    /// Seconds rewriting, cleaning up and generating code.
    times: [f64; 3],
}

/// Merges one group into a binary and installs it.
pub fn merge_group(manifest: &Manifest, tree: &Tree, opts: &MergeOptions) -> Result<GroupReport> {
    check_group(manifest, tree, opts)?;
    features::check(manifest, tree)?;
    let work = manifest.work_dir();
    let out_dir = work.join("merge").join(format!("out-{}", tree.root));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // One merge of a root at a time: its recorded link and objects live in `out_dir`.
    let lock_path = out_dir.join(".lock");
    let lock = std::fs::File::create(&lock_path)
        .and_then(|f| f.lock().map(|()| f))
        .with_context(|| format!("locking {}", lock_path.display()))?;
    let mut times = StageTimes::default();

    let stage = |what: &str| Stage::start(format!("merge {}: {what}", tree.root));
    let compiling = stage("compile (cargo, clang-22)");
    let compiled = compile(manifest, tree, opts, &out_dir)?;
    times.compile_s = compiling.done();

    let finding = Stage::start(format!("merge {}: find the objects to rewrite", tree.root));
    let jobs = jobs(&compiled, tree, opts)?;
    let link = compiled.link.fingerprint()?;
    let cpp = [u8::from(compiled.cpp)];
    let mut group_key: Vec<&[u8]> = vec![b"group", &cpp, &link];
    group_key.extend(jobs.iter().map(|j| j.key.as_bytes()));
    let group_key = Cache::key(group_key)?;
    let binaries = Cache::new(
        work.join("merge").join("cache"),
        "merged.bin",
        BINARIES_KEPT,
    );
    let hit = if opts.keep_ir || opts.refresh {
        None
    } else {
        binaries.lookup(&group_key)
    };
    finding.done();
    let cached = hit.is_some();
    let mut modules = ModuleCounts {
        rewritten: 0,
        cached: jobs.len(),
    };
    let (linked, findings, ir) = match hit {
        Some((binary, findings)) => {
            stage("rewrite and link").done_with("(cached: nothing changed)");
            (binary, findings, None)
        }
        None => {
            let (linked, findings, ir) = rewrite_and_link(
                &compiled,
                &jobs,
                tree,
                opts,
                &out_dir,
                &mut times,
                &mut modules,
            )?;
            let linked = binaries
                .store(&group_key, &linked, &findings)
                .unwrap_or_else(|e| {
                    tracing::warn!(group = %tree.root, "not cached: {e:#}");
                    linked
                });
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
    drop(lock);
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
        modules,
    })
}

/// The modules to rewrite: every object of the link that uses the invocation ABI, then every C/C++
/// member's bitcode, each with its object-cache key.
fn jobs(compiled: &Compiled, tree: &Tree, opts: &MergeOptions) -> Result<Vec<Job>> {
    let members = tree.members.join("\0");
    let threshold = (opts.fanout_threshold as u64).to_le_bytes();
    // What the rewritten object depends on: the group's members, the threshold where it is set,
    // the member it is, and its bitcode.
    let key = |member: Option<&str>, names: &str, defines_threshold: bool, bitcode: &[u8]| {
        let threshold: &[u8] = if defines_threshold { &threshold } else { &[] };
        Cache::key([
            b"object".as_slice(),
            members.as_bytes(),
            threshold,
            member.unwrap_or_default().as_bytes(),
            names.as_bytes(),
            bitcode,
        ])
    };
    let mut jobs = Vec::new();
    for r in compiled.link.rewritable()? {
        jobs.push(Job {
            key: key(None, "", r.defines_threshold, &r.bitcode)?,
            origin: r.origin,
            arg: Some(r.arg),
            member: None,
            member_names: Default::default(),
            defines_threshold: r.defines_threshold,
            bitcode: r.bitcode,
        });
    }
    if !jobs.iter().any(|j| j.defines_threshold) {
        bail!(
            "no object of the merged crate's link defines {} (is quilt-runtime linked in?)",
            rewrite::FANOUT_THRESHOLD_SYMBOL
        );
    }
    let mut native = Vec::new();
    let mut names: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> =
        Default::default();
    for (member, path) in &compiled.native {
        let bitcode = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let origin = path.display().to_string();
        let defined = private::defined_names(&bitcode, &origin)?;
        names.entry(member).or_default().extend(defined);
        native.push((member, origin, bitcode));
    }
    for (member, set) in &mut names {
        set.remove(&rewrite::entry_symbol(member));
    }
    for (member, origin, bitcode) in native {
        let member_names = names[member.as_str()].clone();
        let listed: Vec<&str> = member_names.iter().map(String::as_str).collect();
        jobs.push(Job {
            key: key(Some(member), &listed.join("\n"), false, &bitcode)?,
            origin,
            arg: None,
            member: Some(member.clone()),
            member_names,
            defines_threshold: false,
            bitcode,
        });
    }
    Ok(jobs)
}

/// Rewrites the modules (or takes them from the object cache), generates their code on every core
/// and links: the linked binary, what the rewrite found, and the rewritten modules as text when
/// kept.
fn rewrite_and_link(
    compiled: &Compiled,
    jobs: &[Job],
    tree: &Tree,
    opts: &MergeOptions,
    out_dir: &Path,
    times: &mut StageTimes,
    modules: &mut ModuleCounts,
) -> Result<(PathBuf, Findings, Option<PathBuf>)> {
    let work = out_dir.parent().expect("out-<root> is in the merge folder");
    let objects = Cache::new(work.join("objects"), "object.o", OBJECTS_KEPT);
    let mut cached: Vec<Option<(PathBuf, Findings)>> = jobs
        .iter()
        .map(|j| {
            if opts.keep_ir || opts.refresh {
                None
            } else {
                objects.lookup(&j.key)
            }
        })
        .collect();
    let todo: Vec<&Job> = jobs
        .iter()
        .zip(&cached)
        .filter(|(_, c)| c.is_none())
        .map(|(j, _)| j)
        .collect();
    *modules = ModuleCounts {
        rewritten: todo.len(),
        cached: jobs.len() - todo.len(),
    };
    let generating = Stage::start(format!("merge {}: rewrite and generate code", tree.root));
    let generated = generate_all(&todo, &tree.members, opts)?;
    generating.done_with(&format!(
        "({} of {} modules; the others unchanged)",
        todo.len(),
        jobs.len()
    ));
    let mut ir_modules = Vec::new();
    // Objects the cache could not take: linked from the merge's folder, then removed.
    let mut uncached = Vec::new();
    let mut fresh = generated.into_iter();
    for (job, slot) in jobs.iter().zip(cached.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        let mut g = fresh.next().expect("one result per module generated");
        times.merge_s += g.times[0];
        times.optimize_s += g.times[1];
        times.link_s += g.times[2];
        if let Some(ir) = g.ir.take() {
            ir_modules.push((job.origin.as_str(), ir));
        }
        let tmp = quilt_atomic_file::temp_path(&out_dir.join("object.o"));
        std::fs::write(&tmp, &g.object).with_context(|| format!("writing {}", tmp.display()))?;
        let object = match objects.store(&job.key, &tmp, &g.findings) {
            Ok(stored) => {
                let _ = std::fs::remove_file(&tmp);
                stored
            }
            Err(e) => {
                tracing::warn!(group = %tree.root, "object of {} not cached: {e:#}", job.origin);
                uncached.push(tmp.clone());
                tmp
            }
        };
        *slot = Some((object, g.findings));
    }

    let linking = Stage::start(format!("merge {}: link", tree.root));
    let mut findings = Findings::default();
    let mut rewritten = Vec::new();
    let mut extra = Vec::new();
    for (job, slot) in jobs.iter().zip(cached) {
        let (object, found) = slot.expect("every module is generated or cached");
        findings.sites.extend(found.sites);
        findings.structors.constructors += found.structors.constructors;
        findings.structors.destructors += found.structors.destructors;
        findings.entries.extend(found.entries);
        match job.arg {
            Some(arg) => rewritten.push((arg, object)),
            None => extra.push(object),
        }
    }
    // A C/C++ member's entry may be in any of its files (QUILT_FUNCTION).
    let missing = jobs
        .iter()
        .filter_map(|j| j.member.as_deref())
        .find(|m| !findings.entries.contains(&rewrite::entry_symbol(m)));
    let linked = out_dir.join("merged.bin");
    let replayed = match missing {
        Some(m) => Err(anyhow!(
            "member '{m}' defines no entry {} (C/C++: QUILT_FUNCTION({}, handler))",
            rewrite::entry_symbol(m),
            quilt_manifest::ident_of(m)
        )),
        None => quilt_atomic_file::replace_with(&linked, |tmp| {
            compiled
                .link
                .replay(&rewritten, &extra, compiled.cpp, tmp)
                .map_err(std::io::Error::other)
        })
        .with_context(|| format!("linking {}", linked.display())),
    };
    for tmp in uncached {
        let _ = std::fs::remove_file(tmp);
    }
    replayed?;
    times.link_s += linking.done();

    let ir = if opts.keep_ir {
        Some(write_ir(&out_dir.join("ir"), &ir_modules)?)
    } else {
        None
    };
    Ok((linked, findings, ir))
}

/// Writes each module's text to `dir/<n>-<object or file name>.ll`, replacing the folder whole: a
/// temporary folder beside it is filled, then renamed over it.
fn write_ir(dir: &Path, modules: &[(&str, String)]) -> Result<PathBuf> {
    let tmp = quilt_atomic_file::temp_path(dir);
    let fill = || -> std::io::Result<()> {
        std::fs::create_dir(&tmp)?;
        for (i, (origin, text)) in modules.iter().enumerate() {
            std::fs::write(tmp.join(ir_file_name(i, origin)), text)?;
        }
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::rename(&tmp, dir)
    };
    fill().map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        anyhow!("writing the merged IR to {}: {e}", dir.display())
    })?;
    Ok(dir.to_path_buf())
}

/// `<n>-<name>.ll` for module `n` from `origin` (`archive.rlib(object.o)` or a path): the object's
/// or file's name without its extension, other characters than letters, digits, `-` and `_` as `_`.
fn ir_file_name(n: usize, origin: &str) -> String {
    let inner = origin
        .rsplit_once('(')
        .map_or(origin, |(_, o)| o.trim_end_matches(')'));
    let name = Path::new(inner)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{n:02}-{name}.ll")
}

/// Generates code for `jobs` on every core (each thread with its own LLVM context and target
/// machine); results in the order of `jobs`.
fn generate_all(jobs: &[&Job], members: &[String], opts: &MergeOptions) -> Result<Vec<Generated>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(jobs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<Generated>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    let machine = match target_machine() {
                        Ok(m) => m,
                        Err(e) => return vec![(usize::MAX, Err(e))],
                    };
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        done.push((i, generate(job, members, opts, &machine)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a code generation thread panicked"))
            .collect()
    });
    let mut all: Vec<(usize, Result<Generated>)> = results.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Puts every function defined in `module` without a section of its own into `.text.<name>`, as
/// rustc and clang do (`-ffunction-sections`), so that the link's `--gc-sections` can still drop
/// the ones nothing calls (LLVM's C API cannot ask the target machine for it).
///
/// # Safety
/// `module` must be a valid module, not used by another thread during the call.
unsafe fn function_sections(module: llvm_sys::prelude::LLVMModuleRef) {
    use llvm_sys::core::*;
    // SAFETY: `module` is valid (caller); every function visited is one of its values.
    unsafe {
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            let section = LLVMGetSection(f);
            let unsectioned = section.is_null() || *section == 0;
            if LLVMIsDeclaration(f) == 0 && unsectioned {
                let mut len = 0;
                let name = LLVMGetValueName2(f, &mut len);
                let name = std::slice::from_raw_parts(name.cast::<u8>(), len);
                let mut section = b".text.".to_vec();
                section.extend_from_slice(name);
                if let Ok(section) = std::ffi::CString::new(section) {
                    LLVMSetSection(f, section.as_ptr());
                }
            }
            f = LLVMGetNextFunction(f);
        }
    }
}

/// Rewrites one module, cleans it up and generates its object code.
fn generate(
    job: &Job,
    members: &[String],
    opts: &MergeOptions,
    machine: &TargetMachine,
) -> Result<Generated> {
    let started = std::time::Instant::now();
    let ctx = LlvmContext::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(&job.bitcode, &job.origin);
    let module = Module::parse_bitcode_from_buffer(&buffer, &ctx)
        .map_err(|e| anyhow!("reading the bitcode of {}: {e}", job.origin))?;
    // SAFETY: the module is valid and owned by `ctx` for this whole block.
    let (sites, structors, entries) = unsafe {
        llvm_sys::debuginfo::LLVMStripModuleDebugInfo(module.as_mut_ptr());
        if let Some(member) = &job.member {
            private::make_private(
                module.as_mut_ptr(),
                &private::prefix(member),
                &job.member_names,
            );
        }
        let structors = structors::lower(module.as_mut_ptr());
        let entries: Vec<String> = members
            .iter()
            .map(|m| rewrite::entry_symbol(m))
            .filter(|e| rewrite::defines(module.as_mut_ptr(), e))
            .collect();
        let sites = rewrite::rewrite(module.as_mut_ptr(), members)
            .map_err(|e| anyhow!("{}: {e}", job.origin))?;
        if job.defines_threshold {
            rewrite::set_fanout_threshold(module.as_mut_ptr(), opts.fanout_threshold)
                .map_err(|e| anyhow!("{}: {e}", job.origin))?;
        }
        (sites, structors, entries)
    };
    module
        .verify()
        .map_err(|e| anyhow!("the rewritten module of {} is invalid: {e}", job.origin))?;
    let rewritten = std::time::Instant::now();
    module
        .run_passes(POST_MERGE_PASSES, machine, PassBuilderOptions::create())
        .map_err(|e| anyhow!("cleaning up {}: {e}", job.origin))?;
    // SAFETY: the module is valid and owned by `ctx`.
    unsafe { function_sections(module.as_mut_ptr()) };
    let cleaned = std::time::Instant::now();
    let ir = opts.keep_ir.then(|| module.print_to_string().to_string());
    let object = machine
        .write_to_memory_buffer(&module, FileType::Object)
        .map_err(|e| anyhow!("generating code for {}: {e}", job.origin))?
        .as_slice()
        .to_vec();
    Ok(Generated {
        object,
        findings: Findings {
            sites,
            structors,
            entries,
        },
        ir,
        times: [
            (rewritten - started).as_secs_f64(),
            (cleaned - rewritten).as_secs_f64(),
            cleaned.elapsed().as_secs_f64(),
        ],
    })
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

/// A compiled group: rustc's recorded link of the merged crate, the C/C++ members' bitcode, and
/// whether a C++ member needs the C++ standard library.
struct Compiled {
    link: link::RecordedLink,
    native: Vec<(String, PathBuf)>,
    cpp: bool,
}

/// Compiles the group (see the crate's documentation, step 1).
fn compile(
    manifest: &Manifest,
    tree: &Tree,
    opts: &MergeOptions,
    out_dir: &Path,
) -> Result<Compiled> {
    let merge_dir = manifest.work_dir().join("merge");
    let mut krate = GeneratedCrate::new(manifest, &format!("merged-{}", tree.root));
    let mut members_native = Vec::new();
    for m in &tree.members {
        let f = manifest.function(m).expect("checked");
        match f.language {
            Language::Rust => krate.add_rust_function(f)?,
            Language::C | Language::Cpp => {
                krate.add_external_function(f);
                members_native.push(f);
            }
        }
    }
    krate.main_merged();
    quilt_build::write_workspace(&merge_dir, std::slice::from_ref(&krate), true)?;
    let cpp = members_native.iter().any(|f| f.language == Language::Cpp);
    // clang compiles the C/C++ members to bitcode while cargo compiles the merged crate.
    let (link, native) = std::thread::scope(|scope| {
        let bitcode = scope.spawn(|| {
            let dir = out_dir.join(if opts.harden {
                "native-hardened"
            } else {
                "native"
            });
            let mut native = Vec::new();
            for f in &members_native {
                let emitted = native::compile(f, &dir.join(&f.name), Emit::Bitcode, opts.harden)?;
                native.extend(emitted.into_iter().map(|bc| (f.name.clone(), bc)));
            }
            Ok::<_, anyhow::Error>(native)
        });
        let link = compile_merged_crate(manifest, tree, &merge_dir, &krate, out_dir);
        let native = bitcode.join().expect("compiling C/C++ members panicked");
        Ok::<_, anyhow::Error>((link?, native?))
    })?;
    Ok(Compiled { link, native, cpp })
}

/// Builds the merged crate with cargo, its link recorded (see [`link`]) in `out_dir/link`.
fn compile_merged_crate(
    manifest: &Manifest,
    tree: &Tree,
    merge_dir: &Path,
    krate: &GeneratedCrate,
    out_dir: &Path,
) -> Result<link::RecordedLink> {
    let package = krate.package_name();
    let linker = link::write_recording_linker(merge_dir)?;
    let record = out_dir.join("link");
    for attempt in 0..2 {
        let mut cmd = quilt_build::cargo(&paths::target_dir(manifest));
        cmd.arg("rustc")
            .args(["--release", "--manifest-path"])
            .arg(merge_dir.join("Cargo.toml"))
            .args(["-p", &package, "--bin", &krate.bin_name(), "--"])
            .arg(format!("-Clinker={}", linker.display()));
        link::record_into(&mut cmd, &record);
        let output = cmd.output().context("running cargo")?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!("{}", describe_compile_failure(manifest, tree, &stderr));
        }
        if let Some(link) = link::RecordedLink::read(&record) {
            return Ok(link);
        }
        // Cargo found the crate fresh but its recorded link is gone: link it once more.
        if attempt == 0 {
            let main = merge_dir.join(krate.dir_name()).join("main.rs");
            let text = std::fs::read_to_string(&main)?;
            std::fs::write(&main, text)?;
        }
    }
    bail!("cargo recorded no link in {}", record.display())
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
