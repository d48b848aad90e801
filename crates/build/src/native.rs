//! C and C++ functions: compiled by clang-22 into objects (for a function's own binary) or LLVM
//! bitcode (for the merging compiler).

use crate::paths;
use anyhow::{bail, Context, Result};
use quilt_manifest::{Function, Language};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// What clang emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    /// Native object code.
    Object,
    /// LLVM bitcode.
    Bitcode,
}

/// Hardening for C and C++ code (`quilt merge --harden`): a stack protector on functions with
/// arrays or address-taken locals, fortified libc calls that check object sizes, and array bounds
/// checks that trap (no sanitizer runtime needed).
pub const HARDENING_FLAGS: &[&str] = &[
    "-fstack-protector-strong",
    "-U_FORTIFY_SOURCE",
    "-D_FORTIFY_SOURCE=3",
    "-fsanitize=bounds",
    "-fsanitize-trap=bounds",
];

/// The source files of a C/C++ function: its source file, or the C/C++ files directly in its folder.
pub fn sources(f: &Function) -> Result<Vec<PathBuf>> {
    if f.source.is_file() {
        return Ok(vec![f.source.clone()]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&f.source)
        .with_context(|| format!("function '{}': reading {}", f.name, f.source.display()))?
    {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if matches!(ext, "c" | "cc" | "cpp" | "cxx") {
            found.push(path);
        }
    }
    found.sort();
    if found.is_empty() {
        bail!(
            "function '{}': no .c/.cc/.cpp files in {}",
            f.name,
            f.source.display()
        );
    }
    Ok(found)
}

fn compiler(language: Language) -> PathBuf {
    paths::llvm_tool(if language == Language::Cpp {
        "clang++"
    } else {
        "clang"
    })
}

/// Compiles every source of `f` into `out_dir`, with [`HARDENING_FLAGS`] when `harden`; returns the
/// outputs in source order. Outputs newer than their source and `quilt.h` are kept as they are, so
/// hardened and plain outputs belong in different folders.
pub fn compile(f: &Function, out_dir: &Path, emit: Emit, harden: bool) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let header = mtime(&paths::include_dir().join("quilt.h"));
    let mut outs = Vec::new();
    for src in sources(f)? {
        let stem = src.file_name().unwrap().to_string_lossy().replace('.', "_");
        let out = out_dir.join(format!(
            "{stem}.{}",
            if emit == Emit::Bitcode { "bc" } else { "o" }
        ));
        let fresh = mtime(&out) > mtime(&src).max(header);
        if !fresh {
            compile_one(f, &src, &out, emit, harden)?;
        }
        outs.push(out);
    }
    Ok(outs)
}

fn compile_one(f: &Function, src: &Path, out: &Path, emit: Emit, harden: bool) -> Result<()> {
    quilt_atomic_file::replace_with(out, |tmp| compile_into(f, src, tmp, emit, harden))
}

/// Compiles `src` of `f` into the object or bitcode file `out`.
fn compile_into(f: &Function, src: &Path, out: &Path, emit: Emit, harden: bool) -> Result<()> {
    let mut cmd = Command::new(compiler(f.language));
    cmd.arg("-O2")
        .arg("-fPIC")
        .arg("-g0")
        .arg("-I")
        .arg(paths::include_dir());
    if f.language == Language::Cpp {
        cmd.arg("-std=c++17");
    }
    if harden {
        cmd.args(HARDENING_FLAGS);
    }
    if emit == Emit::Bitcode {
        cmd.arg("-emit-llvm");
    }
    cmd.arg("-c").arg(src).arg("-o").arg(out);
    let output = cmd
        .output()
        .with_context(|| format!("running {}", compiler(f.language).display()))?;
    if !output.status.success() {
        bail!(
            "function '{}': compiling {} failed:\n{}",
            f.name,
            src.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(())
}

/// Compiles `f` into a static library ([`static_lib_path`]); returns its path.
pub fn compile_static(f: &Function, dir: &Path) -> Result<PathBuf> {
    let lib = static_lib_path(f, dir);
    let objects = compile(f, lib.parent().expect("in a folder"), Emit::Object, false)?;
    let newest = objects
        .iter()
        .map(|o| mtime(o))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if mtime(&lib) > newest {
        return Ok(lib);
    }
    quilt_atomic_file::replace_with(&lib, |tmp| {
        let status = Command::new(paths::llvm_tool("llvm-ar"))
            .arg("crs")
            .arg(tmp)
            .args(&objects)
            .status()
            .context("running llvm-ar")?;
        if !status.success() {
            bail!("function '{}': archiving its objects failed", f.name);
        }
        Ok(())
    })?;
    Ok(lib)
}

/// Where [`compile_static`] puts `f`'s static library: `<dir>/<name>/libquiltfn_<ident>.a`.
pub fn static_lib_path(f: &Function, dir: &Path) -> PathBuf {
    dir.join(&f.name)
        .join(format!("lib{}.a", static_lib_name(f)))
}

/// The link name of a native function's static library.
pub fn static_lib_name(f: &Function) -> String {
    format!("quiltfn_{}", f.ident())
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}
