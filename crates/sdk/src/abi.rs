//! The C ABI boundary shared by every language (mirrors `include/quilt.h`).
//!
//! The runtime defines the `quilt_invoke*` symbols; the merging compiler rewrites calls to them.

/// A byte buffer crossing the boundary; its memory comes from `malloc`.
#[repr(C)]
#[derive(Debug)]
pub struct QuiltBuf {
    /// Start of the bytes (null when empty and unallocated).
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
    /// Allocated capacity.
    pub cap: usize,
}

/// The signature of a function entry, `quilt_fn_<ident>`.
pub type EntryFn = unsafe extern "C" fn(*const u8, usize, *mut QuiltBuf) -> i32;

/// Success.
pub const OK: i32 = 0;
/// The function failed (HTTP 500).
pub const ERR_HANDLER: i32 = 1;
/// The input could not be decoded (HTTP 400).
pub const ERR_BAD_PAYLOAD: i32 = 2;
/// No such function (HTTP 404).
pub const ERR_UNKNOWN: i32 = 3;
/// The call timed out (HTTP 504).
pub const ERR_TIMEOUT: i32 = 4;
/// No instance could serve it (HTTP 502/503).
pub const ERR_UNAVAILABLE: i32 = 5;

extern "C" {
    /// Synchronous invocation; defined by the runtime.
    pub fn quilt_invoke(
        name: *const u8,
        name_len: usize,
        input: *const u8,
        input_len: usize,
        out: *mut QuiltBuf,
    ) -> i32;
    /// Starts an asynchronous invocation; defined by the runtime.
    pub fn quilt_invoke_async(
        name: *const u8,
        name_len: usize,
        input: *const u8,
        input_len: usize,
    ) -> u64;
    /// Waits for an asynchronous invocation; defined by the runtime.
    pub fn quilt_await(handle: u64, out: *mut QuiltBuf) -> i32;
    fn malloc(size: usize) -> *mut u8;
    fn free(ptr: *mut u8);
}

impl QuiltBuf {
    /// An empty, unallocated buffer.
    pub const EMPTY: QuiltBuf = QuiltBuf {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// A malloc'd copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> QuiltBuf {
        let cap = bytes.len().max(1);
        // SAFETY: malloc returns memory for `cap` bytes or null; we copy `len <= cap` bytes into it.
        let ptr = unsafe { malloc(cap) };
        if ptr.is_null() {
            std::alloc::handle_alloc_error(std::alloc::Layout::array::<u8>(cap).unwrap());
        }
        // SAFETY: `ptr` holds `cap >= len` bytes and cannot overlap `bytes`, which we borrow.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
        QuiltBuf {
            ptr,
            len: bytes.len(),
            cap,
        }
    }

    /// The bytes of the buffer.
    pub fn as_slice(&self) -> &[u8] {
        if self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: a non-null buffer holds `len` initialised bytes.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    /// Frees the memory and empties the buffer.
    pub fn release(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: the pointer came from malloc and is freed once (we null it).
            unsafe { free(self.ptr) };
        }
        *self = QuiltBuf::EMPTY;
    }
}

/// Writes `bytes` into `out` (which must be writable) as a fresh malloc'd copy.
///
/// # Safety
/// `out` must point to a writable `QuiltBuf`.
pub unsafe fn write_out(out: *mut QuiltBuf, bytes: &[u8]) {
    // SAFETY: `out` is writable (caller).
    unsafe { out.write(QuiltBuf::copy_from(bytes)) };
}
