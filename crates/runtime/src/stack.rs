//! Stacks for function executions.
//!
//! Every execution of a function gets at least [`FUNCTION_STACK`] bytes of stack, merged or not. A
//! function's own instance runs each request on a thread of that size. In a merged binary a
//! synchronous local call runs on its caller's stack, so the instance's threads get
//! [`FUNCTION_STACK`] for each member (a call chain without recursion visits each member at most
//! once), and a local call that finds less than [`FUNCTION_STACK`] left (recursion through the
//! group) runs its callee on a fresh thread of full size instead. Stack memory is reserved, not
//! committed: only the pages a function touches count against its memory limit. A real overflow
//! hits the thread's guard page and aborts the instance as it would unmerged.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The stack one execution of a function gets (as a process's main thread gets by default on
/// Linux).
pub const FUNCTION_STACK: usize = 8 << 20;

/// Room kept below the caller's frame for the call itself and the guard page's neighbourhood.
const MARGIN: usize = 64 << 10;

/// Stack size of the threads that run executions in this binary.
static THREAD_STACK: AtomicUsize = AtomicUsize::new(FUNCTION_STACK);

thread_local! {
    /// The lowest usable address of this thread's stack (0: not looked up yet).
    static LOW: Cell<usize> = const { Cell::new(0) };
}

/// Sizes the threads that run executions for a binary serving `members` functions locally.
pub(crate) fn size_for(members: usize) {
    THREAD_STACK.store(FUNCTION_STACK * members.max(1), Ordering::Relaxed);
}

/// Stack size for a thread that runs executions (request handlers, asynchronous workers).
pub fn thread_stack() -> usize {
    THREAD_STACK.load(Ordering::Relaxed)
}

/// Whether the current thread has at least [`FUNCTION_STACK`] of stack left.
#[inline(always)]
pub(crate) fn has_room() -> bool {
    let marker = 0u8;
    let sp = std::ptr::addr_of!(marker) as usize;
    let low = LOW.with(|l| match l.get() {
        0 => {
            let low = lowest_address();
            l.set(low);
            low
        }
        low => low,
    });
    sp.saturating_sub(low) >= FUNCTION_STACK + MARGIN
}

/// The lowest address of the current thread's stack, from the thread's attributes (0 when unknown,
/// which reports room: the call then runs where it is, as before this check existed).
#[cold]
fn lowest_address() -> usize {
    // SAFETY: the attribute object is initialised by pthread_getattr_np before it is read and
    // destroyed once.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size = 0usize;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            addr as usize
        } else {
            0
        }
    }
}

/// Runs `f` on a fresh thread with a full stack and waits for it; the execution's trace context
/// goes with it. Used when a local call finds too little stack left on its caller's thread.
#[cold]
#[inline(never)]
pub(crate) fn on_fresh_thread(f: impl FnOnce() -> i32 + Send) -> i32 {
    let context = crate::trace::current();
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("quilt-stack".into())
            .stack_size(thread_stack())
            .spawn_scoped(scope, move || {
                crate::trace::set(context);
                f()
            })
            .expect("cannot start a thread for a deep local call");
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
