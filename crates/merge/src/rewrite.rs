//! The call-site rewrite: remote invocations of group members become local calls.
//!
//! Call sites of `quilt_invoke` / `quilt_invoke_async` are found through the uses of those symbols,
//! so every site counts wherever it sits (helpers, closures, threads, loops; Rust and C alike). A
//! site whose callee name is a constant naming a member is rewritten:
//! - sync: `quilt_invoke(name, len, in, in_len, out)` → `quilt_local_<ident>(in, in_len, out)`, the
//!   member's entry behind a traced wrapper that inlines to a direct call;
//! - async: `quilt_invoke_async(name, len, in, in_len)` → `quilt_invoke_async_local(index, in,
//!   in_len)`, which runs the member on the instance's worker pool (or remotely above the fan-out
//!   threshold).
//!
//! Sites naming non-members stay remote; sites whose name is not a constant are resolved at run time
//! through the binary's local entry table.
//!
//! The fan-out threshold is written into the module too ([`set_fanout_threshold`]), so the merged
//! crate compiles to the same bitcode for every threshold.

use crate::llvm::{cstr, Builder};
use llvm_sys::core::*;
use llvm_sys::prelude::*;
use llvm_sys::LLVMOpcode;
use serde::{Deserialize, Serialize};

/// How one call site was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    /// Sync call to a member, now a direct call.
    Direct,
    /// Async call to a member, now a local spawn.
    LocalAsync,
    /// Call to a function outside the group: stays remote.
    Remote,
    /// Callee name unknown at compile time: resolved at run time.
    Dynamic,
}

/// One call site found in the module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// The function containing the site (demangled symbol name, without hash).
    pub caller: String,
    /// The callee's name, when constant.
    pub callee: Option<String>,
    /// What was done.
    pub kind: SiteKind,
}

/// The entry symbol of a member: `quilt_fn_<ident>`.
pub fn entry_symbol(name: &str) -> String {
    format!("quilt_fn_{}", quilt_manifest::ident_of(name))
}

/// The traced local-call wrapper of a member in a merged binary: `quilt_local_<ident>`.
pub fn local_symbol(name: &str) -> String {
    format!("quilt_local_{}", quilt_manifest::ident_of(name))
}

/// The function `name` declared or defined in `module`.
///
/// # Safety
/// `module` must be a valid module.
unsafe fn function(module: LLVMModuleRef, name: &str) -> Option<LLVMValueRef> {
    // SAFETY: `module` is valid (caller) and the name is a NUL-terminated string that outlives the
    // call.
    let f = unsafe { LLVMGetNamedFunction(module, cstr(name).as_ptr()) };
    (!f.is_null()).then_some(f)
}

/// The name of a value (empty when it has none).
///
/// # Safety
/// `v` must be a valid value.
pub(crate) unsafe fn value_name(v: LLVMValueRef) -> String {
    let mut len = 0;
    // SAFETY: `v` is valid; LLVM returns a pointer to `len` bytes owned by the value, copied at once.
    unsafe {
        let p = LLVMGetValueName2(v, &mut len);
        if p.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(p.cast::<u8>(), len)).into_owned()
    }
}

/// Every call or invoke instruction whose callee is `f`.
///
/// # Safety
/// `f` must be a valid function.
unsafe fn call_sites(f: LLVMValueRef) -> Vec<LLVMValueRef> {
    let mut sites = Vec::new();
    // SAFETY: `f` is valid; the use list is walked without modifying it.
    unsafe {
        let mut u = LLVMGetFirstUse(f);
        while !u.is_null() {
            let user = LLVMGetUser(u);
            let is_call = !LLVMIsACallInst(user).is_null() || !LLVMIsAInvokeInst(user).is_null();
            if is_call && LLVMGetCalledValue(user) == f {
                sites.push(user);
            }
            u = LLVMGetNextUse(u);
        }
    }
    sites
}

/// The bytes of a constant initializer made of i8 data (arrays, packed structs of them).
///
/// # Safety
/// `c` must be a valid constant.
unsafe fn constant_bytes(c: LLVMValueRef, out: &mut Vec<u8>) -> bool {
    // SAFETY: `c` is a valid constant; its operands are too; `LLVMGetAsString` returns `len` bytes
    // owned by the constant, copied at once.
    unsafe {
        if !LLVMIsAConstantDataSequential(c).is_null() {
            let elem = LLVMGetElementType(LLVMTypeOf(c));
            if LLVMGetTypeKind(elem) != llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
                || LLVMGetIntTypeWidth(elem) != 8
            {
                return false;
            }
            let mut len = 0;
            let p = LLVMGetAsString(c, &mut len);
            out.extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
            return true;
        }
        if !LLVMIsAConstantStruct(c).is_null() || !LLVMIsAConstantArray(c).is_null() {
            for i in 0..LLVMGetNumOperands(c) {
                let Ok(i) = u32::try_from(i) else {
                    return false;
                };
                if !constant_bytes(LLVMGetOperand(c, i), out) {
                    return false;
                }
            }
            return true;
        }
    }
    false
}

/// The constant string a `(ptr, len)` pair points at, if both are compile-time constants and lie
/// within one constant global.
///
/// # Safety
/// `ptr` and `len` must be valid values.
unsafe fn constant_name(ptr: LLVMValueRef, len: LLVMValueRef) -> Option<String> {
    // SAFETY: both values are valid (caller); every value read from them (operands, initializers)
    // is checked for its kind before it is used as that kind.
    unsafe {
        if LLVMIsAConstantInt(len).is_null() {
            return None;
        }
        let len = usize::try_from(LLVMConstIntGetZExtValue(len)).ok()?;
        let (global, offset) = if !LLVMIsAGlobalVariable(ptr).is_null() {
            (ptr, 0usize)
        } else if !LLVMIsAConstantExpr(ptr).is_null()
            && LLVMGetConstOpcode(ptr) == LLVMOpcode::LLVMGetElementPtr
            && LLVMGetNumOperands(ptr) == 2
        {
            // getelementptr (i8, ptr @g, i64 N)
            let base = LLVMGetOperand(ptr, 0);
            let index = LLVMGetOperand(ptr, 1);
            let source = LLVMGetGEPSourceElementType(ptr);
            if LLVMIsAGlobalVariable(base).is_null()
                || LLVMIsAConstantInt(index).is_null()
                || LLVMGetTypeKind(source) != llvm_sys::LLVMTypeKind::LLVMIntegerTypeKind
                || LLVMGetIntTypeWidth(source) != 8
            {
                return None;
            }
            // A negative index points before the global: not a name this rewrite can read.
            (base, usize::try_from(LLVMConstIntGetSExtValue(index)).ok()?)
        } else {
            return None;
        };
        if LLVMIsGlobalConstant(global) == 0 {
            return None;
        }
        let init = LLVMGetInitializer(global);
        if init.is_null() {
            return None;
        }
        let mut bytes = Vec::new();
        if !constant_bytes(init, &mut bytes) {
            return None;
        }
        let name = bytes.get(offset..offset.checked_add(len)?)?;
        String::from_utf8(name.to_vec()).ok()
    }
}

/// Replaces the call or invoke `site` by a call (invoke) of `target` with `args`, keeping an
/// invoke's normal and unwind destinations.
///
/// # Safety
/// `site` must be a call or invoke instruction in a function of a valid module, `target` a
/// function of the same module whose parameters match `args`.
unsafe fn replace_call(
    builder: &Builder,
    site: LLVMValueRef,
    target: LLVMValueRef,
    args: &mut [LLVMValueRef],
) {
    let count = u32::try_from(args.len()).expect("a handful of arguments");
    // SAFETY: see the function's contract; the builder belongs to the module's context.
    unsafe {
        LLVMPositionBuilderBefore(builder.as_ptr(), site);
        let ty = LLVMGlobalGetValueType(target);
        let empty = c"".as_ptr();
        let new = if LLVMGetInstructionOpcode(site) == LLVMOpcode::LLVMInvoke {
            LLVMBuildInvoke2(
                builder.as_ptr(),
                ty,
                target,
                args.as_mut_ptr(),
                count,
                LLVMGetNormalDest(site),
                LLVMGetUnwindDest(site),
                empty,
            )
        } else {
            LLVMBuildCall2(
                builder.as_ptr(),
                ty,
                target,
                args.as_mut_ptr(),
                count,
                empty,
            )
        };
        LLVMReplaceAllUsesWith(site, new);
        LLVMInstructionEraseFromParent(site);
    }
}

/// The function `name` of `module`, declared with type `ty` when the module has none.
///
/// # Safety
/// `module` must be a valid module and `ty` a function type of its context.
unsafe fn declared(module: LLVMModuleRef, name: &str, ty: LLVMTypeRef) -> LLVMValueRef {
    // SAFETY: see the function's contract.
    unsafe {
        function(module, name).unwrap_or_else(|| LLVMAddFunction(module, cstr(name).as_ptr(), ty))
    }
}

/// Rewrites the module's invocation sites for a group whose local entry table is `members` (in
/// table order). Returns every site found. The targets (the merged crate's local wrappers, the
/// runtime's local spawn) are declared where the module does not have them: the module is one
/// object of the merged binary's link, which defines them.
///
/// # Safety
/// `module` must be a valid module.
pub unsafe fn rewrite(module: LLVMModuleRef, members: &[String]) -> Result<Vec<Site>, String> {
    // SAFETY: `module` is valid (caller); every value below comes from it, and the builder
    // (disposed on every path) from its context.
    unsafe {
        let context = LLVMGetModuleContext(module);
        let builder = Builder::new(context);
        let i32t = LLVMInt32TypeInContext(context);
        let i64t = LLVMInt64TypeInContext(context);
        let ptr = LLVMPointerTypeInContext(context, 0);
        // `quilt_local_<ident>(ptr input, usize len, ptr out) -> i32`, defined by the merged crate.
        let local = |name: &str| {
            declared(
                module,
                &local_symbol(name),
                LLVMFunctionType(i32t, [ptr, i64t, ptr].as_mut_ptr(), 3, 0),
            )
        };
        // `quilt_invoke_async_local(u32 index, ptr input, usize len) -> u64`, the runtime's.
        let local_async = || {
            declared(
                module,
                "quilt_invoke_async_local",
                LLVMFunctionType(i64t, [i32t, ptr, i64t].as_mut_ptr(), 3, 0),
            )
        };
        let mut sites = Vec::new();
        for (symbol, is_async) in [("quilt_invoke", false), ("quilt_invoke_async", true)] {
            let Some(f) = function(module, symbol) else {
                continue;
            };
            for site in call_sites(f) {
                let symbol = value_name(LLVMGetBasicBlockParent(LLVMGetInstructionParent(site)));
                let caller = format!("{:#}", rustc_demangle::demangle(&symbol));
                let name = constant_name(LLVMGetOperand(site, 0), LLVMGetOperand(site, 1));
                let index = name
                    .as_deref()
                    .and_then(|n| members.iter().position(|m| m == n));
                let kind = match (name.as_deref(), index) {
                    (None, _) => SiteKind::Dynamic,
                    (Some(_), None) => SiteKind::Remote,
                    (Some(n), Some(i)) => {
                        let input = LLVMGetOperand(site, 2);
                        let input_len = LLVMGetOperand(site, 3);
                        if is_async {
                            let target = local_async();
                            let idx = LLVMConstInt(i32t, i as u64, 0);
                            replace_call(&builder, site, target, &mut [idx, input, input_len]);
                            SiteKind::LocalAsync
                        } else {
                            let out = LLVMGetOperand(site, 4);
                            replace_call(&builder, site, local(n), &mut [input, input_len, out]);
                            SiteKind::Direct
                        }
                    }
                };
                sites.push(Site {
                    caller,
                    callee: name,
                    kind,
                });
            }
        }
        Ok(sites)
    }
}

/// The runtime's global that holds a merged binary's fan-out threshold.
pub const FANOUT_THRESHOLD_SYMBOL: &str = "QUILT_FANOUT_THRESHOLD";

/// Gives the runtime's [`FANOUT_THRESHOLD_SYMBOL`], defined in `module`, the value `threshold`: a new
/// 64-bit constant global takes the old one's name and uses (rustc emits a static as bytes, so its
/// initializer cannot be swapped for an integer in place).
///
/// # Safety
/// `module` must be a valid module, not used by another thread during the call.
pub unsafe fn set_fanout_threshold(module: LLVMModuleRef, threshold: usize) -> Result<(), String> {
    let name = cstr(FANOUT_THRESHOLD_SYMBOL);
    // SAFETY: `module` is valid (caller); `old` and `new` are globals of it.
    unsafe {
        let old = LLVMGetNamedGlobal(module, name.as_ptr());
        if old.is_null() || LLVMGetInitializer(old).is_null() {
            return Err(format!("the module defines no {FANOUT_THRESHOLD_SYMBOL}"));
        }
        let i64t = LLVMInt64TypeInContext(LLVMGetModuleContext(module));
        let new = LLVMAddGlobal(module, i64t, c"".as_ptr());
        LLVMSetInitializer(new, LLVMConstInt(i64t, threshold as u64, 0));
        LLVMSetGlobalConstant(new, 1);
        LLVMSetLinkage(new, LLVMGetLinkage(old));
        LLVMSetAlignment(new, 8);
        LLVMReplaceAllUsesWith(old, new);
        LLVMDeleteGlobal(old);
        LLVMSetValueName2(new, name.as_ptr(), FANOUT_THRESHOLD_SYMBOL.len());
    }
    Ok(())
}

/// Whether the module defines `symbol` (has a body for it).
///
/// # Safety
/// `module` must be valid.
pub unsafe fn defines(module: LLVMModuleRef, symbol: &str) -> bool {
    // SAFETY: `module` is valid (caller); a found function is one of its values.
    unsafe { function(module, symbol).is_some_and(|f| LLVMCountBasicBlocks(f) > 0) }
}
