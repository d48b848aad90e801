//! Global constructors and destructors of merged members.
//!
//! C and C++ members register their global initializers (`__attribute__((constructor))`, dynamic
//! initializers of namespace-scope C++ objects, which also register their destructors with
//! `__cxa_atexit`) and finalizers in `llvm.global_ctors` / `llvm.global_dtors`. A target machine
//! created through LLVM's C API emits those lists into the legacy `.ctors` / `.dtors` sections,
//! which glibc never runs: merged members would serve requests with uninitialized globals. So the
//! merging compiler lowers both lists itself, exactly as clang does for a member's own object file:
//! one pointer per entry in `.init_array` (`.fini_array`), or `.init_array.NNNNN` for an explicit
//! priority, which the linker sorts by priority while keeping the order of equal priorities. Every
//! initializer thus runs once, before `main`, in the order the member sees in its own binary.

use crate::llvm::cstr;
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMLinkage;

/// The priority of entries without an explicit one.
const DEFAULT_PRIORITY: u64 = 65535;

/// How many constructors and destructors were moved into `.init_array` / `.fini_array`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lowered {
    /// Entries of `llvm.global_ctors`.
    pub constructors: usize,
    /// Entries of `llvm.global_dtors`.
    pub destructors: usize,
}

/// Lowers `llvm.global_ctors` and `llvm.global_dtors` of `module` into init/fini array entries.
///
/// # Safety
/// `module` must be a valid module, not used by another thread during the call.
pub unsafe fn lower(module: LLVMModuleRef) -> Lowered {
    // SAFETY: `module` is valid and not shared during the call (caller).
    unsafe {
        Lowered {
            constructors: lower_list(module, c"llvm.global_ctors", ".init_array"),
            destructors: lower_list(module, c"llvm.global_dtors", ".fini_array"),
        }
    }
}

/// Replaces the structor list `list` by one pointer global per entry in `section` (suffixed with
/// the priority when it is explicit); returns the number of entries.
///
/// # Safety
/// `module` must be a valid module.
unsafe fn lower_list(module: LLVMModuleRef, list: &std::ffi::CStr, section: &str) -> usize {
    // SAFETY: `module` is valid (caller); a structor list is an array of `{ i32, ptr, ptr }`
    // structs, which the verifier guarantees for every module LLVM parsed.
    unsafe {
        let global = LLVMGetNamedGlobal(module, list.as_ptr());
        if global.is_null() {
            return 0;
        }
        let init = LLVMGetInitializer(global);
        let mut entries = Vec::new();
        // A zeroinitializer (an empty list) has no operands.
        if !init.is_null() && LLVMIsAConstantAggregateZero(init).is_null() {
            for i in 0..LLVMGetNumOperands(init) {
                let entry = LLVMGetOperand(init, i as u32);
                let priority = LLVMConstIntGetZExtValue(LLVMGetOperand(entry, 0));
                let function = LLVMGetOperand(entry, 1);
                if LLVMIsNull(function) == 0 {
                    entries.push((priority, function));
                }
            }
        }
        // Stable: entries of equal priority keep the order the member's own object file gives them.
        entries.sort_by_key(|&(priority, _)| priority);
        let ptr = LLVMPointerTypeInContext(LLVMGetModuleContext(module), 0);
        let mut kept = Vec::with_capacity(entries.len());
        for (priority, function) in &entries {
            let slot = LLVMAddGlobal(module, ptr, c"__quilt_structor".as_ptr());
            LLVMSetInitializer(slot, *function);
            LLVMSetLinkage(slot, LLVMLinkage::LLVMInternalLinkage);
            LLVMSetAlignment(slot, 8);
            let name = if *priority == DEFAULT_PRIORITY {
                section.to_string()
            } else {
                format!("{section}.{priority:05}")
            };
            LLVMSetSection(slot, cstr(&name).as_ptr());
            kept.push(slot);
        }
        LLVMDeleteGlobal(global);
        keep(module, &kept);
        entries.len()
    }
}

/// Adds `values` to `llvm.compiler.used`, so that the optimizer keeps them although nothing in the
/// module refers to them.
///
/// # Safety
/// `module` must be a valid module and `values` globals of it.
unsafe fn keep(module: LLVMModuleRef, values: &[LLVMValueRef]) {
    // SAFETY: `module` and `values` are valid (caller); the old list is read before it is deleted.
    unsafe {
        if values.is_empty() {
            return;
        }
        let name = c"llvm.compiler.used";
        let mut all = Vec::new();
        let old = LLVMGetNamedGlobal(module, name.as_ptr());
        if !old.is_null() {
            let init = LLVMGetInitializer(old);
            if !init.is_null() && LLVMIsAConstantAggregateZero(init).is_null() {
                for i in 0..LLVMGetNumOperands(init) {
                    all.push(LLVMGetOperand(init, i as u32));
                }
            }
            LLVMDeleteGlobal(old);
        }
        all.extend_from_slice(values);
        let ptr = LLVMPointerTypeInContext(LLVMGetModuleContext(module), 0);
        let array = LLVMConstArray2(ptr, all.as_mut_ptr(), all.len() as u64);
        let used = LLVMAddGlobal(module, LLVMTypeOf(array), name.as_ptr());
        LLVMSetInitializer(used, array);
        LLVMSetLinkage(used, LLVMLinkage::LLVMAppendingLinkage);
        LLVMSetSection(used, c"llvm.metadata".as_ptr());
    }
}
