//! The runtime's side of the C ABI: `quilt_invoke`, `quilt_invoke_async`, `quilt_await`, and the
//! local spawn the merging compiler rewrites asynchronous member calls into.
//!
//! These symbols are `#[inline(never)]` and address-taken through [`KEEP`], so that whole-program
//! optimisation neither inlines them nor changes their signatures: their call sites must stay
//! recognisable for the merging compiler.

use crate::{client, pool, server, stack, trace, Entry, Mode};
use quilt_sdk::abi::{self as sdk, QuiltBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The local entries of a merged binary.
struct Local {
    entries: &'static [Entry],
    in_flight: Vec<AtomicUsize>,
    threshold: usize,
}

static LOCAL: OnceLock<Local> = OnceLock::new();

/// Local asynchronous executions a merged binary allows in flight per callee (0: unlimited); above
/// it calls go remote. The merging compiler sets this global's value in the merged module, so the
/// merged crate compiles once for every threshold; it is read once, by a volatile load that no
/// optimization folds into the value compiled here.
#[no_mangle]
pub static QUILT_FANOUT_THRESHOLD: usize = 0;

/// Installs the local entry table (merged binaries only; a single binary keeps every call remote).
pub(crate) fn install(entries: &'static [Entry], mode: Mode) {
    if mode == Mode::Merged {
        stack::size_for(entries.len());
        // SAFETY: a plain read of an initialized, aligned static.
        let threshold = unsafe { std::ptr::read_volatile(&QUILT_FANOUT_THRESHOLD) };
        let _ = LOCAL.set(Local {
            entries,
            in_flight: entries.iter().map(|_| AtomicUsize::new(0)).collect(),
            threshold,
        });
    }
}

fn local_index(name: &[u8]) -> Option<usize> {
    LOCAL
        .get()?
        .entries
        .iter()
        .position(|e| e.name.as_bytes() == name)
}

/// The `len` bytes at `ptr` (any pointer when `len` is 0).
///
/// # Safety
/// `ptr` must point to `len` readable bytes that outlive `'a`.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: see the contract.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

fn name_str(name: &[u8]) -> Result<&str, QuiltBuf> {
    std::str::from_utf8(name).map_err(|_| QuiltBuf::copy_from(b"function name is not UTF-8"))
}

/// Synchronous invocation: a local entry of a merged binary, else the gateway.
///
/// # Safety
/// Pointers must describe readable memory of the given lengths; `out` must be writable.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn quilt_invoke(
    name: *const u8,
    name_len: usize,
    input: *const u8,
    input_len: usize,
    out: *mut QuiltBuf,
) -> i32 {
    // SAFETY: the pointers describe readable memory and `out` is writable (caller); a local entry
    // follows the entry ABI.
    unsafe {
        let name = bytes(name, name_len);
        if let Some(i) = local_index(name) {
            let entry = LOCAL.get().unwrap().entries[i];
            return local_call(
                entry.name,
                entry.func,
                entry.copy_input,
                entry.timeout_ms,
                input,
                input_len,
                out,
            );
        }
        let (status, buf) = match name_str(name) {
            Ok(name) => client::invoke(name, bytes(input, input_len), trace::Kind::Sync),
            Err(buf) => (sdk::ERR_UNKNOWN, buf),
        };
        out.write(buf);
        status
    }
}

/// A synchronous call of member `func` (named `name`) in this process, the target of the merging
/// compiler's rewritten sync sites: the caller sees exactly what the remote path would give it.
/// The callee gets a full function stack ([`stack`]), its span is recorded, and its status and
/// message are normalized as a round trip through the gateway would ([`normalize`]). With
/// `copy_input` (see [`crate::Entry::copy_input`]) the callee gets its own copy of the input; the
/// caller's `errno` is kept. An input the gateway would refuse for its size is refused, and a
/// callee that returns after its `timeout_ms` gives its caller the gateway's timeout error instead
/// of its answer (the caller has waited for it, where the gateway would have answered at the
/// timeout).
///
/// # Safety
/// As [`quilt_invoke`]; `func` must follow the entry ABI.
#[inline(always)]
pub unsafe fn local_call(
    name: &'static str,
    func: sdk::EntryFn,
    copy_input: bool,
    timeout_ms: u64,
    input: *const u8,
    input_len: usize,
    out: *mut QuiltBuf,
) -> i32 {
    if let Some((status, buf)) = client::refused_body(input_len) {
        // SAFETY: `out` is writable (caller).
        unsafe { out.write(buf) };
        return status;
    }
    let started = coarse_ms();
    let copy;
    let input = if copy_input && input_len > 0 {
        // SAFETY: `input` is readable for `input_len` bytes (caller).
        copy = unsafe { bytes(input, input_len) }.to_vec();
        copy.as_ptr()
    } else {
        input
    };
    // `errno` stays the caller's: a call through the gateway leaves it as it was (the client's
    // system calls succeed), so the callee's must not show through a local one either.
    // SAFETY: `__errno_location` is this thread's `errno`, valid while the thread lives.
    let errno = unsafe { libc::__errno_location() };
    // SAFETY: as above.
    let caller_errno = unsafe { *errno };
    // SAFETY: the pointers are valid for the callee and `func` follows the entry ABI (caller).
    unsafe {
        let status = if stack::has_room() && !trace::active() {
            func(input, input_len, out)
        } else {
            traced_or_deep_call(name, func, input, input_len, out)
        };
        *errno = caller_errno;
        let status = normalize(status, out);
        if coarse_ms() - started > timeout_ms {
            return timed_out(name, timeout_ms, out);
        }
        status
    }
}

/// Milliseconds of the coarse monotonic clock: a few nanoseconds to read (a full-resolution
/// clock read cost about 20 ns, twice per local call), ticking every few milliseconds, which is
/// enough to tell a callee past a timeout given in milliseconds.
#[inline(always)]
fn coarse_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is writable; CLOCK_MONOTONIC_COARSE exists on every Linux Quilt runs on.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000
}

/// Replaces a callee's answer that came after its timeout by the gateway's timeout error.
///
/// # Safety
/// `out` must point to a buffer the callee filled.
#[cold]
#[inline(never)]
unsafe fn timed_out(name: &str, timeout_ms: u64, out: *mut QuiltBuf) -> i32 {
    let message = client::timeout_message(name, timeout_ms);
    // SAFETY: `out` points to a filled buffer (caller), replaced here by a fresh one.
    unsafe {
        (*out).release();
        out.write(QuiltBuf::copy_from(message.as_bytes()));
    }
    sdk::ERR_TIMEOUT
}

/// The rest of [`local_call`], out of line: the span of a traced call, the fresh stack of a deep
/// one.
///
/// # Safety
/// As [`local_call`].
#[inline(never)]
unsafe fn traced_or_deep_call(
    name: &'static str,
    func: sdk::EntryFn,
    input: *const u8,
    input_len: usize,
    out: *mut QuiltBuf,
) -> i32 {
    if stack::has_room() {
        // SAFETY: as the caller's.
        return trace::local_call(name, || unsafe { func(input, input_len, out) });
    }
    let call = Call(input, out);
    stack::on_fresh_thread(move || {
        let call = call;
        // SAFETY: as the caller's; the caller waits for this thread, so the pointers stay valid.
        trace::local_call(name, || unsafe { func(call.0, input_len, call.1) })
    })
}

/// The pointers of a local call moved to a fresh thread that the caller waits for.
struct Call(*const u8, *mut QuiltBuf);
// SAFETY: the caller blocks until the thread using the pointers has finished.
unsafe impl Send for Call {}

/// Normalizes what a local callee returned to what its caller would get through the gateway: the
/// status as the HTTP round trip maps it (any status outside the ABI's becomes a handler error),
/// the error message as UTF-8 text (invalid bytes replaced), a reply always in allocated memory.
///
/// # Safety
/// `out` must point to a buffer the callee filled (or left empty).
#[inline(always)]
pub unsafe fn normalize(status: i32, out: *mut QuiltBuf) -> i32 {
    // SAFETY: `out` points to a filled buffer (caller).
    unsafe {
        if status == sdk::OK && !(*out).ptr.is_null() {
            return sdk::OK;
        }
        normalize_slow(status, out)
    }
}

/// The rest of [`normalize`], out of line: errors and empty replies.
///
/// # Safety
/// As [`normalize`].
#[cold]
#[inline(never)]
unsafe fn normalize_slow(status: i32, out: *mut QuiltBuf) -> i32 {
    let status = client::status_of(server::http_status(status));
    // SAFETY: `out` points to a filled buffer (caller), replaced here by a fresh one.
    unsafe {
        let text = if status == sdk::OK {
            String::new()
        } else {
            String::from_utf8_lossy((*out).as_slice()).into_owned()
        };
        (*out).release();
        out.write(QuiltBuf::copy_from(text.as_bytes()));
    }
    status
}

/// Asynchronous invocation: a local entry of a merged binary, else the gateway.
///
/// # Safety
/// Pointers must describe readable memory of the given lengths.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn quilt_invoke_async(
    name: *const u8,
    name_len: usize,
    input: *const u8,
    input_len: usize,
) -> u64 {
    // SAFETY: both pointers describe readable memory (caller).
    let (name, input) = unsafe { (bytes(name, name_len), bytes(input, input_len)) };
    if let Some(i) = local_index(name) {
        return spawn_local(i, input);
    }
    match name_str(name) {
        Ok(name) => spawn_remote(name.to_string(), input.to_vec()),
        Err(buf) => {
            let slot = Arc::new(pool::Slot::default());
            slot.complete(sdk::ERR_UNKNOWN, buf);
            pool::into_handle(slot)
        }
    }
}

/// Asynchronous invocation of local entry `index`, the target of the merging compiler's rewrite.
///
/// # Safety
/// `input` must describe readable memory; `index` must be an index into the local entry table.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn quilt_invoke_async_local(
    index: u32,
    input: *const u8,
    input_len: usize,
) -> u64 {
    // SAFETY: `input` describes readable memory (caller).
    spawn_local(index as usize, unsafe { bytes(input, input_len) })
}

/// Waits for an asynchronous invocation.
///
/// # Safety
/// `handle` must come from `quilt_invoke_async*` and be awaited once; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn quilt_await(handle: u64, out: *mut QuiltBuf) -> i32 {
    // SAFETY: the handle is awaited once (caller).
    let slot = unsafe { pool::from_handle(handle) };
    let (status, buf) = slot.wait();
    // SAFETY: `out` is writable (caller).
    unsafe { out.write(buf) };
    status
}

type InvokeFn = unsafe extern "C" fn(*const u8, usize, *const u8, usize, *mut QuiltBuf) -> i32;
type InvokeAsyncFn = unsafe extern "C" fn(*const u8, usize, *const u8, usize) -> u64;
type InvokeAsyncLocalFn = unsafe extern "C" fn(u32, *const u8, usize) -> u64;
type AwaitFn = unsafe extern "C" fn(u64, *mut QuiltBuf) -> i32;

/// Takes the address of every ABI symbol so that LTO keeps them with their signatures intact.
#[used]
pub static KEEP: (InvokeFn, InvokeAsyncFn, InvokeAsyncLocalFn, AwaitFn) = (
    quilt_invoke,
    quilt_invoke_async,
    quilt_invoke_async_local,
    quilt_await,
);

fn spawn_local(index: usize, input: &[u8]) -> u64 {
    let local = LOCAL
        .get()
        .expect("local spawn in a binary without local entries");
    let entry = local.entries[index];
    if let Some((status, buf)) = client::refused_body(input.len()) {
        let slot = Arc::new(pool::Slot::default());
        slot.complete(status, buf);
        return pool::into_handle(slot);
    }
    let counter = &local.in_flight[index];
    let admitted = local.threshold == 0 || counter.fetch_add(1, Ordering::AcqRel) < local.threshold;
    if !admitted {
        counter.fetch_sub(1, Ordering::AcqRel);
        return spawn_remote(entry.name.to_string(), input.to_vec());
    }
    let slot = Arc::new(pool::Slot::with_deadline(entry.name, entry.timeout_ms));
    let done = Arc::clone(&slot);
    let input = input.to_vec();
    let parent = trace::current();
    let started = Instant::now();
    pool::spawn(move || {
        trace::set(parent);
        let mut out = QuiltBuf::EMPTY;
        // SAFETY: the entry follows the ABI; `input` lives until it returns.
        let run = || unsafe { (entry.func)(input.as_ptr(), input.len(), &mut out) };
        let status = trace::execute(entry.name, trace::Kind::Async, true, run);
        // SAFETY: `out` is the buffer the entry filled.
        let mut status = unsafe { normalize(status, &mut out) };
        if started.elapsed() > Duration::from_millis(entry.timeout_ms) {
            // SAFETY: as above.
            status = unsafe { timed_out(entry.name, entry.timeout_ms, &mut out) };
        }
        trace::set(None);
        if local.threshold != 0 {
            local.in_flight[index].fetch_sub(1, Ordering::AcqRel);
        }
        done.complete(status, out);
    });
    pool::into_handle(slot)
}

fn spawn_remote(name: String, input: Vec<u8>) -> u64 {
    let slot = Arc::new(pool::Slot::default());
    let done = Arc::clone(&slot);
    let parent = trace::current();
    pool::spawn(move || {
        trace::set(parent);
        let (status, out) = client::invoke(&name, &input, trace::Kind::Async);
        trace::set(None);
        done.complete(status, out);
    });
    pool::into_handle(slot)
}
