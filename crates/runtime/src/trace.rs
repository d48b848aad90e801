//! Tracing: the W3C trace context (`traceparent`) of the execution a thread is running, carried to
//! every invocation (remote or local), and a span recorded per execution while a trace is sampled.
//!
//! Spans of everything that ran in this process for one request — the entry and every local call
//! it made, merged callees included — are returned to the gateway in the response header
//! `quilt-spans` (a JSON array). Without a sampled `traceparent` nothing is recorded.

use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Response header carrying the spans recorded while serving a request.
pub const SPANS_HEADER: &str = "quilt-spans";
/// Request header saying how the caller invoked: `sync` or `async`.
pub const KIND_HEADER: &str = "quilt-kind";

/// How an execution was invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The caller waited for it.
    Sync,
    /// The caller forked it and joined later.
    Async,
}

impl Kind {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sync => "sync",
            Kind::Async => "async",
        }
    }
}

/// The context of the execution a thread runs.
#[derive(Clone)]
pub(crate) struct Context {
    trace_id: String,
    span_id: u64,
    spans: Arc<Mutex<Vec<serde_json::Value>>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
    static RNG: RefCell<u64> = RefCell::new(seed());
}

fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() | 1
}

/// A random non-zero 64-bit id (xorshift64*).
fn new_id() -> u64 {
    RNG.with(|r| {
        let mut x = *r.borrow();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *r.borrow_mut() = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1
    })
}

fn instance() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let function = std::env::var("QUILT_FUNCTION").unwrap_or_default();
        format!("{function}/{}", std::process::id())
    })
}

/// Whether the current thread runs a traced execution (spans are being recorded).
#[inline(always)]
pub(crate) fn active() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// The current context.
pub(crate) fn current() -> Option<Context> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Sets the current context (None: no trace).
pub(crate) fn set(ctx: Option<Context>) {
    CURRENT.with(|c| *c.borrow_mut() = ctx);
}

/// The `traceparent` to send with an invocation made now, if a trace is active.
pub(crate) fn traceparent() -> Option<String> {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map(|ctx| format!("00-{}-{:016x}-01", ctx.trace_id, ctx.span_id))
    })
}

/// Starts serving a request: a sampled `traceparent` opens a trace context whose spans are
/// collected for the response. Returns the collector to drain with [`take_spans`].
pub(crate) fn begin_request(
    traceparent: Option<&str>,
) -> Option<Arc<Mutex<Vec<serde_json::Value>>>> {
    let (trace_id, parent) = parse(traceparent?)?;
    let spans = Arc::new(Mutex::new(Vec::new()));
    set(Some(Context {
        trace_id,
        span_id: parent,
        spans: Arc::clone(&spans),
    }));
    Some(spans)
}

/// The spans collected for a request, as the JSON text of [`SPANS_HEADER`].
pub(crate) fn take_spans(spans: &Mutex<Vec<serde_json::Value>>) -> String {
    let spans = std::mem::take(&mut *spans.lock().unwrap());
    serde_json::Value::Array(spans).to_string()
}

/// Parses a sampled W3C `traceparent` (`00-<32 hex>-<16 hex>-<flags>`).
fn parse(tp: &str) -> Option<(String, u64)> {
    let mut parts = tp.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    let valid = version.len() == 2
        && trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
        && parent.len() == 16;
    if !(sampled && valid) {
        return None;
    }
    Some((
        trace.to_ascii_lowercase(),
        u64::from_str_radix(parent, 16).ok()?,
    ))
}

/// CPU time and run-queue wait (time runnable but not running) of the calling thread so far, ns.
/// The CPU time comes from the thread's CPU clock, exact to the call; the wait from
/// `/proc/thread-self/schedstat`, kept open per thread (one `pread` per reading), which the kernel
/// brings up to date whenever the thread gets a CPU.
fn thread_schedstat() -> Option<(u64, u64)> {
    thread_local! {
        static SCHEDSTAT: RefCell<Option<std::fs::File>> = const { RefCell::new(None) };
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return None;
    }
    let cpu = u64::try_from(now.tv_sec).ok()? * 1_000_000_000 + u64::try_from(now.tv_nsec).ok()?;
    let wait = SCHEDSTAT.with(|file| {
        let mut file = file.borrow_mut();
        if file.is_none() {
            *file = std::fs::File::open("/proc/thread-self/schedstat").ok();
        }
        let mut buf = [0u8; 96];
        let n = std::os::unix::fs::FileExt::read_at(file.as_ref()?, &mut buf, 0).ok()?;
        std::str::from_utf8(&buf[..n])
            .ok()?
            .split_ascii_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    })?;
    Some((cpu, wait))
}

/// Runs `f`, an execution of `function`, recording its span when a trace is active: its duration,
/// and the CPU time and run-queue wait of the thread that ran it. The profiler corrects a function's
/// CPU for the wait (what it got on a busy machine is less than it wants); the CPU time goes out
/// with the span (`/_quilt/spans`, OTLP).
pub fn execute(function: &str, kind: Kind, local: bool, f: impl FnOnce() -> i32) -> i32 {
    let Some(parent) = current() else {
        return f();
    };
    let ctx = Context {
        trace_id: parent.trace_id.clone(),
        span_id: new_id(),
        spans: Arc::clone(&parent.spans),
    };
    let span_id = ctx.span_id;
    set(Some(ctx));
    let start = SystemTime::now();
    let clock = Instant::now();
    let sched_before = thread_schedstat();
    let status = f();
    let sched_after = thread_schedstat();
    let duration = clock.elapsed();
    set(Some(parent.clone()));
    let mut span = serde_json::json!({
        "trace": parent.trace_id,
        "span": format!("{span_id:016x}"),
        "parent": format!("{:016x}", parent.span_id),
        "function": function,
        "start_us": start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64),
        "dur_us": duration.as_micros() as u64,
        "status": status,
        "kind": kind.as_str(),
        "local": local,
        "instance": instance(),
    });
    if let (Some((cpu0, wait0)), Some((cpu1, wait1))) = (sched_before, sched_after) {
        span["cpu_us"] = (cpu1.saturating_sub(cpu0) / 1000).into();
        span["wait_us"] = (wait1.saturating_sub(wait0) / 1000).into();
    }
    parent.spans.lock().unwrap().push(span);
    status
}

/// Runs a merged member called synchronously and locally (the target of rewritten sync sites).
pub fn local_call(function: &str, f: impl FnOnce() -> i32) -> i32 {
    execute(function, Kind::Sync, true, f)
}
