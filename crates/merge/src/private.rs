//! Each C/C++ member keeps its global names to itself.
//!
//! Unmerged, every member is a program of its own. Two members may define the same external name
//! — a helper, a global variable, a C++ inline function or template instance — with different
//! bodies, and never meet. Linked into one binary, such names would collide: a plain definition
//! fails the link with a duplicate symbol, and C++'s `linkonce_odr` definitions are silently
//! deduplicated, so one member would run the other's body. So every name a member defines (its
//! entry aside) is renamed `quilt.<member>.<name>` in each of the member's modules, definitions and
//! references alike; references between the member's own files still meet, and names it only uses
//! (libc, libstdc++, the invocation ABI) are left alone.
//!
//! The allocator is the exception: `malloc`, `free` and their kin, and C++'s `operator new` and
//! `operator delete`, keep their names. Memory crosses members (a callee's reply is freed by its
//! caller or the runtime), so a member that replaces the allocator replaces it for the whole
//! merged instance, as it did for its own process unmerged; two members that both replace it fail
//! to link, naming the symbol.
//!
//! The members' COMDAT groups go too: a linker keeps one group of a name across all objects, so a
//! group named after a renamed definition, or one holding an internal constant beside it, could
//! drop one member's copy. Without groups, the member's own duplicates (the same inline function
//! from two of its files) still resolve to one definition by their (weak) names.

use crate::rewrite::value_name;
use anyhow::{anyhow, Result};
use inkwell::context::Context as LlvmContext;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;
use llvm_sys::comdat::LLVMSetComdat;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMLinkage;
use std::collections::BTreeSet;

/// The prefix of a member's renamed names.
pub fn prefix(member: &str) -> String {
    format!("quilt.{member}.")
}

/// The names `bitcode` defines for other modules to use (external, weak, common or `linkonce`
/// linkage; not `available_externally`, whose body is emitted elsewhere; not LLVM's own `llvm.*`).
pub fn defined_names(bitcode: &[u8], origin: &str) -> Result<BTreeSet<String>> {
    let ctx = LlvmContext::create();
    let buffer = MemoryBuffer::create_from_memory_range_copy(bitcode, origin);
    let module = Module::parse_bitcode_from_buffer(&buffer, &ctx)
        .map_err(|e| anyhow!("reading the bitcode of {origin}: {e}"))?;
    let mut names = BTreeSet::new();
    // SAFETY: the module is valid and owned by `ctx` for this whole block; only its values are
    // read.
    unsafe {
        for v in globals(module.as_mut_ptr()) {
            if LLVMIsDeclaration(v) == 0 && shared(LLVMGetLinkage(v)) {
                let name = value_name(v);
                if !name.is_empty() && !name.starts_with("llvm.") && !allocator(&name) {
                    names.insert(name);
                }
            }
        }
    }
    Ok(names)
}

/// Renames every global value of `module` named in `names` to `prefix` + its name, and takes every
/// function and global variable out of its COMDAT group.
///
/// # Safety
/// `module` must be a valid module, not used by another thread during the call.
pub unsafe fn make_private(module: LLVMModuleRef, prefix: &str, names: &BTreeSet<String>) {
    // SAFETY: `module` is valid (caller); every value visited is one of its globals.
    unsafe {
        for v in globals(module) {
            let name = value_name(v);
            if names.contains(&name) {
                let renamed = format!("{prefix}{name}");
                LLVMSetValueName2(v, renamed.as_ptr().cast(), renamed.len());
            }
            if LLVMIsAGlobalObject(v).is_null() {
                continue;
            }
            LLVMSetComdat(v, std::ptr::null_mut());
        }
    }
}

/// Whether `name` is one of the process's allocator functions: C's, glibc's own entry points, or
/// C++'s `operator new`/`delete` (mangled `_Znw…`, `_Zna…`, `_Zdl…`, `_Zda…`).
fn allocator(name: &str) -> bool {
    const C: [&str; 10] = [
        "malloc",
        "free",
        "calloc",
        "realloc",
        "reallocarray",
        "aligned_alloc",
        "posix_memalign",
        "memalign",
        "valloc",
        "pvalloc",
    ];
    C.contains(&name)
        || name == "malloc_usable_size"
        || ["_Znw", "_Zna", "_Zdl", "_Zda"]
            .iter()
            .any(|p| name.starts_with(p))
}

fn shared(linkage: LLVMLinkage) -> bool {
    use LLVMLinkage::*;
    matches!(
        linkage,
        LLVMExternalLinkage
            | LLVMLinkOnceAnyLinkage
            | LLVMLinkOnceODRLinkage
            | LLVMWeakAnyLinkage
            | LLVMWeakODRLinkage
            | LLVMCommonLinkage
    )
}

/// The functions, global variables and aliases of `module`.
///
/// # Safety
/// `module` must be a valid module, not changed while the values are used.
unsafe fn globals(module: LLVMModuleRef) -> Vec<LLVMValueRef> {
    let mut out = Vec::new();
    // SAFETY: `module` is valid (caller); each iterator walks one of its lists to its end.
    unsafe {
        let mut f = LLVMGetFirstFunction(module);
        while !f.is_null() {
            out.push(f);
            f = LLVMGetNextFunction(f);
        }
        let mut g = LLVMGetFirstGlobal(module);
        while !g.is_null() {
            out.push(g);
            g = LLVMGetNextGlobal(g);
        }
        let mut a = LLVMGetFirstGlobalAlias(module);
        while !a.is_null() {
            out.push(a);
            a = LLVMGetNextGlobalAlias(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::allocator;

    #[test]
    fn the_allocator_keeps_its_names_and_nothing_else_does() {
        for name in [
            "malloc",
            "free",
            "realloc",
            "posix_memalign",
            "_Znwm",
            "_ZdlPvm",
            "_ZnamRKSt9nothrow_t",
        ] {
            assert!(allocator(name), "{name}");
        }
        for name in [
            "my_malloc",
            "freeze",
            "_Z4pickv",
            "_ZN5ScaleILi2EE2ofEi",
            "who",
        ] {
            assert!(!allocator(name), "{name}");
        }
    }
}
