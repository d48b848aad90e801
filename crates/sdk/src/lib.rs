//! Quilt's Rust SDK: write a function as a handler over serde types (or bytes) and invoke other
//! functions with [`invoke`] (sync) or [`invoke_async`] (fork-join).
//!
//! ```ignore
//! #[derive(serde::Deserialize)] struct In { name: String }
//! #[derive(serde::Serialize)] struct Out { message: String }
//! fn hello(req: In) -> Result<Out, quilt_sdk::Error> {
//!     let up: Text = quilt_sdk::invoke("upper", &Text { text: req.name })?;
//!     Ok(Out { message: up.text })
//! }
//! quilt_sdk::handler!(hello);
//! ```
//!
//! Everything lowers to the C ABI in [`abi`]; `invoke*` are `#[inline(always)]` so that a literal
//! callee name is a constant at the call site, which is what the merging compiler rewrites.
//!
//! State under merging: a function's statics belong to the instance that runs it. When a function
//! is merged into `<root>-merged`, the copy inside that instance has statics of its own, not shared
//! with the function's own deployment (nor with other merged instances). Thread-locals follow the
//! thread: a synchronous call to a merged member runs on its caller's thread, an asynchronous one on
//! a worker thread. A merged binary links each crate once: members that use the same crate share
//! its statics. Every execution gets at least 8 MiB of stack, merged or not.

pub mod abi;

use abi::QuiltBuf;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ops::Deref;

/// Why an invocation or a handler failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The callee ran and failed (or panicked); `message` is its error.
    #[error("function '{function}' failed: {message}")]
    Remote {
        /// The callee.
        function: String,
        /// The callee's error message.
        message: String,
    },
    /// The callee did not answer within its timeout.
    #[error("function '{function}' timed out: {message}")]
    Timeout {
        /// The callee.
        function: String,
        /// Details from the platform.
        message: String,
    },
    /// No function of that name exists (or the callee reported something unknown).
    #[error("unknown function '{function}': {message}")]
    UnknownFunction {
        /// The callee.
        function: String,
        /// The platform's or the callee's message.
        message: String,
    },
    /// A request or reply could not be encoded or decoded.
    #[error("bad payload: {0}")]
    BadPayload(String),
    /// No instance could serve the call (overload, crash, network).
    #[error("function '{function}' unavailable: {message}")]
    Unavailable {
        /// The callee.
        function: String,
        /// Details from the platform.
        message: String,
    },
    /// An error raised by the handler itself.
    #[error("{0}")]
    Handler(String),
}

impl Error {
    /// A handler error with this message.
    pub fn msg(message: impl std::fmt::Display) -> Error {
        Error::Handler(message.to_string())
    }

    /// The ABI status a handler returning this error reports.
    pub fn status(&self) -> i32 {
        match self {
            Error::BadPayload(_) => abi::ERR_BAD_PAYLOAD,
            _ => abi::ERR_HANDLER,
        }
    }

    /// The error an invocation of `function` returning `status` with `message` stands for.
    #[cold]
    #[inline(never)]
    pub fn from_status(status: i32, function: &str, message: &[u8]) -> Error {
        let function = function.to_string();
        let message = String::from_utf8_lossy(message).into_owned();
        match status {
            abi::ERR_BAD_PAYLOAD => Error::BadPayload(message),
            abi::ERR_UNKNOWN => Error::UnknownFunction { function, message },
            abi::ERR_TIMEOUT => Error::Timeout { function, message },
            abi::ERR_UNAVAILABLE => Error::Unavailable { function, message },
            _ => Error::Remote { function, message },
        }
    }
}

/// A reply owned by the caller (malloc'd memory across the ABI, freed on drop).
pub struct Bytes(QuiltBuf);

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({:?})", String::from_utf8_lossy(self))
    }
}

#[inline(always)]
fn finish(status: i32, function: &str, out: QuiltBuf) -> Result<Bytes, Error> {
    let out = Bytes(out);
    if status == abi::OK {
        Ok(out)
    } else {
        Err(Error::from_status(status, function, &out))
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::BadPayload(format!("cannot encode: {e}")))
}

fn decode<T: DeserializeOwned>(function: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::BadPayload(format!("reply of '{function}': {e}")))
}

/// Invokes `function` synchronously with raw bytes.
#[inline(always)]
pub fn invoke_bytes(function: &str, input: &[u8]) -> Result<Bytes, Error> {
    let mut out = QuiltBuf::EMPTY;
    // SAFETY: pointers and lengths describe live slices; `out` is a valid buffer to fill.
    let status = unsafe {
        abi::quilt_invoke(
            function.as_ptr(),
            function.len(),
            input.as_ptr(),
            input.len(),
            &mut out,
        )
    };
    finish(status, function, out)
}

/// Invokes `function` synchronously with a JSON request and decodes its JSON reply.
#[inline(always)]
pub fn invoke<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
    function: &str,
    request: &Req,
) -> Result<Resp, Error> {
    let input = encode(request)?;
    let out = invoke_bytes(function, &input)?;
    decode(function, &out)
}

/// An asynchronous invocation in flight; [`Pending::join`] waits for it.
///
/// Dropping a `Pending` without joining waits for the call and discards its reply.
pub struct Pending {
    state: Result<u64, Error>,
    function: String,
}

/// Starts `function` asynchronously with raw bytes.
#[inline(always)]
pub fn invoke_async_bytes(function: &str, input: &[u8]) -> Pending {
    // SAFETY: pointers and lengths describe live slices; the runtime copies them.
    let handle = unsafe {
        abi::quilt_invoke_async(
            function.as_ptr(),
            function.len(),
            input.as_ptr(),
            input.len(),
        )
    };
    Pending {
        state: Ok(handle),
        function: function.to_string(),
    }
}

/// Starts `function` asynchronously with a JSON request.
#[inline(always)]
pub fn invoke_async<Req: Serialize + ?Sized>(function: &str, request: &Req) -> Pending {
    match encode(request) {
        Ok(input) => invoke_async_bytes(function, &input),
        Err(e) => Pending {
            state: Err(e),
            function: function.to_string(),
        },
    }
}

impl Pending {
    /// Waits for the reply as raw bytes.
    pub fn join_bytes(mut self) -> Result<Bytes, Error> {
        let state = std::mem::replace(&mut self.state, Err(Error::Handler(String::new())));
        let handle = state?;
        let mut out = QuiltBuf::EMPTY;
        // SAFETY: the handle came from quilt_invoke_async and is awaited once (state was taken).
        let status = unsafe { abi::quilt_await(handle, &mut out) };
        finish(status, &self.function, out)
    }

    /// Waits for the reply and decodes it from JSON.
    pub fn join<Resp: DeserializeOwned>(self) -> Result<Resp, Error> {
        let function = self.function.clone();
        let out = self.join_bytes()?;
        decode(&function, &out)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Ok(handle) = self.state {
            let mut out = QuiltBuf::EMPTY;
            // SAFETY: the handle was never awaited (join takes the state).
            unsafe { abi::quilt_await(handle, &mut out) };
            out.release();
        }
    }
}

/// Support for [`handler!`] and [`handler_bytes!`]; not a stable API.
#[doc(hidden)]
pub mod __private {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// Runs a byte handler behind the ABI: catches panics and encodes errors.
    ///
    /// # Safety
    /// `input` must point to `len` readable bytes (or be anything when `len` is 0); `out` writable.
    pub unsafe fn run_bytes<F>(input: *const u8, len: usize, out: *mut QuiltBuf, f: F) -> i32
    where
        F: FnOnce(&[u8]) -> Result<Vec<u8>, Error>,
    {
        let input = if len == 0 {
            &[][..]
        } else {
            // SAFETY: `input` points to `len` readable bytes (caller).
            unsafe { std::slice::from_raw_parts(input, len) }
        };
        let (reply, status) = match catch_unwind(AssertUnwindSafe(|| f(input))) {
            Ok(Ok(reply)) => (reply, abi::OK),
            Ok(Err(e)) => (e.to_string().into_bytes(), e.status()),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".into());
                (format!("panicked: {what}").into_bytes(), abi::ERR_HANDLER)
            }
        };
        // SAFETY: `out` is writable (caller).
        unsafe { abi::write_out(out, &reply) };
        status
    }

    /// Runs a JSON handler behind the ABI.
    ///
    /// # Safety
    /// As [`run_bytes`].
    pub unsafe fn run_json<Req, Resp, F>(
        input: *const u8,
        len: usize,
        out: *mut QuiltBuf,
        f: F,
    ) -> i32
    where
        Req: DeserializeOwned,
        Resp: Serialize,
        F: FnOnce(Req) -> Result<Resp, Error>,
    {
        // SAFETY: the same contract as ours (caller).
        unsafe {
            run_bytes(input, len, out, |bytes| {
                let req: Req = serde_json::from_slice(bytes)
                    .map_err(|e| Error::BadPayload(format!("request: {e}")))?;
                encode(&f(req)?)
            })
        }
    }
}

/// Declares this crate's function entry from a handler `fn(Req) -> Result<Resp, Error>` where
/// `Req: Deserialize` and `Resp: Serialize` (JSON on the wire).
#[macro_export]
macro_rules! handler {
    ($handler:path) => {
        /// The entry the Quilt build wraps as `quilt_fn_<ident>`.
        ///
        /// # Safety
        /// Called through the Quilt C ABI only.
        #[doc(hidden)]
        pub unsafe extern "C" fn __quilt_entry(
            input: *const u8,
            len: usize,
            out: *mut $crate::abi::QuiltBuf,
        ) -> i32 {
            $crate::__private::run_json(input, len, out, $handler)
        }
    };
}

/// Declares this crate's function entry from a handler `fn(&[u8]) -> Result<Vec<u8>, Error>`.
#[macro_export]
macro_rules! handler_bytes {
    ($handler:path) => {
        /// The entry the Quilt build wraps as `quilt_fn_<ident>`.
        ///
        /// # Safety
        /// Called through the Quilt C ABI only.
        #[doc(hidden)]
        pub unsafe extern "C" fn __quilt_entry(
            input: *const u8,
            len: usize,
            out: *mut $crate::abi::QuiltBuf,
        ) -> i32 {
            $crate::__private::run_bytes(input, len, out, $handler)
        }
    };
}
