//! An elastic worker pool for asynchronous invocations, and the handles that wait for them.
//!
//! A job never waits for a worker: when no worker is idle a new one starts, so fork-join callers that
//! block in `quilt_await` cannot starve the callees they wait for. Idle workers exit after a minute.

use quilt_sdk::abi::{QuiltBuf, ERR_TIMEOUT};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send + 'static>;

const IDLE_EXIT: Duration = Duration::from_secs(60);

struct Pool {
    sender: Mutex<Sender<Job>>,
    receiver: Arc<Mutex<Receiver<Job>>>,
    /// Workers waiting for a job, less the jobs already queued for them.
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (sender, receiver) = channel();
        Pool {
            sender: Mutex::new(sender),
            receiver: Arc::new(Mutex::new(receiver)),
            idle: AtomicUsize::new(0),
        }
    })
}

/// Runs `job` on a worker, starting one if none is idle.
pub fn spawn(job: impl FnOnce() + Send + 'static) {
    let p = pool();
    let claimed = p
        .idle
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok();
    if claimed {
        p.sender
            .lock()
            .unwrap()
            .send(Box::new(job))
            .expect("pool receiver lives forever");
    } else {
        let receiver = Arc::clone(&p.receiver);
        std::thread::Builder::new()
            .name("quilt-worker".into())
            .stack_size(crate::stack::thread_stack())
            .spawn(move || {
                job();
                worker_loop(&receiver)
            })
            .expect("cannot start a worker thread");
    }
}

fn worker_loop(receiver: &Mutex<Receiver<Job>>) {
    let p = pool();
    loop {
        p.idle.fetch_add(1, Ordering::AcqRel);
        let next = receiver.lock().unwrap().recv_timeout(IDLE_EXIT);
        match next {
            Ok(job) => job(),
            Err(RecvTimeoutError::Timeout) => {
                // Leave only if no queued job counts on this worker.
                if p.idle
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// A reply buffer that moves between threads.
struct SendBuf(QuiltBuf);
// SAFETY: the buffer is plain malloc'd memory owned by exactly one side at a time.
unsafe impl Send for SendBuf {}

/// The result slot of one asynchronous invocation.
#[derive(Default)]
pub struct Slot {
    result: Mutex<Option<(i32, SendBuf)>>,
    ready: Condvar,
    /// When its waiter stops waiting (a local call's callee timeout).
    deadline: Option<Deadline>,
}

/// When the caller of a local asynchronous call stops waiting for it: at its callee's timeout, as
/// the gateway would.
struct Deadline {
    at: Instant,
    function: &'static str,
    timeout_ms: u64,
}

impl Slot {
    /// A slot whose waiter gets [`crate::client::timeout_message`] if no result is in after
    /// `timeout_ms` from now.
    pub fn with_deadline(function: &'static str, timeout_ms: u64) -> Slot {
        Slot {
            deadline: Some(Deadline {
                at: Instant::now() + Duration::from_millis(timeout_ms),
                function,
                timeout_ms,
            }),
            result: Mutex::default(),
            ready: Condvar::new(),
        }
    }

    /// Stores the result and wakes the waiter.
    pub fn complete(&self, status: i32, out: QuiltBuf) {
        *self.result.lock().unwrap() = Some((status, SendBuf(out)));
        self.ready.notify_one();
    }

    /// Waits for the result, or until the slot's deadline.
    pub fn wait(&self) -> (i32, QuiltBuf) {
        let mut guard = self.result.lock().unwrap();
        loop {
            if let Some((status, buf)) = guard.take() {
                return (status, buf.0);
            }
            guard = match &self.deadline {
                None => self.ready.wait(guard).unwrap(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d.at {
                        let message = crate::client::timeout_message(d.function, d.timeout_ms);
                        return (ERR_TIMEOUT, QuiltBuf::copy_from(message.as_bytes()));
                    }
                    self.ready.wait_timeout(guard, d.at - now).unwrap().0
                }
            };
        }
    }
}

impl Drop for Slot {
    /// Frees a result nobody waited for (its waiter's deadline passed first).
    fn drop(&mut self) {
        let result = self.result.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some((_, mut buf)) = result.take() {
            buf.0.release();
        }
    }
}

/// Turns a slot into an opaque ABI handle (never 0).
pub fn into_handle(slot: Arc<Slot>) -> u64 {
    Arc::into_raw(slot) as u64
}

/// Takes back a slot from a handle made by [`into_handle`].
///
/// # Safety
/// `handle` must come from `into_handle` and be taken back exactly once.
pub unsafe fn from_handle(handle: u64) -> Arc<Slot> {
    // SAFETY: the handle is a pointer from `Arc::into_raw`, taken back once (caller).
    unsafe { Arc::from_raw(handle as *const Slot) }
}
