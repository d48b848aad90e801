//! Small safe wrappers for the LLVM C API pieces the rewrite and the structor lowering use beyond
//! what inkwell offers on raw values.

use llvm_sys::core::{LLVMCreateBuilderInContext, LLVMDisposeBuilder};
use llvm_sys::prelude::{LLVMBuilderRef, LLVMContextRef};
use std::ffi::CString;

/// An instruction builder, disposed when dropped (on every path, early returns included).
pub(crate) struct Builder(LLVMBuilderRef);

impl Builder {
    /// A builder for instructions of `context`.
    ///
    /// # Safety
    /// `context` must be a valid context that outlives the builder.
    pub(crate) unsafe fn new(context: LLVMContextRef) -> Self {
        // SAFETY: `context` is valid (caller).
        Self(unsafe { LLVMCreateBuilderInContext(context) })
    }

    /// The raw builder, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> LLVMBuilderRef {
        self.0
    }
}

impl Drop for Builder {
    fn drop(&mut self) {
        // SAFETY: the builder was created by `new` and is disposed exactly once, here.
        unsafe { LLVMDisposeBuilder(self.0) }
    }
}

/// `s` as a C string; symbol and section names never hold NUL.
pub(crate) fn cstr(s: &str) -> CString {
    CString::new(s).expect("symbol and section names have no NUL")
}
