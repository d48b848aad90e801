//! The instance runtime, linked into every function binary, merged or not.
//!
//! It is deliberately lean (std, `httparse` and `serde_json` only): it ends up inside every function
//! and merged binary.
//!
//! - [`serve`] runs the binary as a long-running HTTP server that dispatches `POST /<name>` to the
//!   entries it was built with.
//! - The C ABI symbols of `quilt.h` (`quilt_invoke`, `quilt_invoke_async`, `quilt_await`) are defined
//!   in [`abi`]; remote invocations go through the gateway ([`client`]), asynchronous ones run on an
//!   elastic worker pool ([`pool`]).
//! - In a merged binary the entries form a local table: calls to a member whose name is only known
//!   at run time are resolved there before going remote, and the merging compiler's rewritten
//!   asynchronous sites spawn members locally through [`abi::quilt_invoke_async_local`].

pub mod abi;
pub mod client;
pub mod pool;
pub mod server;
pub mod stack;
pub mod trace;

pub use quilt_sdk::abi::{EntryFn, QuiltBuf};
pub use server::serve;

/// One function entry a binary serves.
#[derive(Clone, Copy)]
pub struct Entry {
    /// The function's name (its route).
    pub name: &'static str,
    /// Its C ABI entry, `quilt_fn_<ident>`.
    pub func: EntryFn,
    /// Whether a local call hands it a copy of its input: a C or C++ handler may write through the
    /// `const` pointer it gets (legal C when the buffer itself is not `const`), and its caller's
    /// buffer must stay as it was, as it does when the call goes through the gateway.
    pub copy_input: bool,
    /// Its `timeout_ms`: a local call that takes longer gives its caller the gateway's timeout
    /// error, as a remote one would.
    pub timeout_ms: u64,
}

/// How a binary resolves invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One function per binary: every invocation goes through the gateway.
    Single,
    /// A merged binary: invocations of its entries run locally. Asynchronous local runs are capped at
    /// [`abi::QUILT_FANOUT_THRESHOLD`] in flight per callee (0: no cap); above it they go remote.
    Merged,
}
