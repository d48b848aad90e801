//! The instance manager: one pool of function instances (processes) per deployable.
//!
//! A pool starts instances on demand (cold start) up to `max_instances`, keeps `min_instances`
//! running, hands each request a slot on the least-loaded instance with a free slot (at most
//! `concurrency` per instance), queues up to `queue` requests when all slots are taken, stops
//! instances idle for longer than the idle timeout, and replaces instances that die.

use crate::instance_conn::InstanceConn;
use crate::limits::{Enforcement, InstanceGroup};
use crate::logs::{self, FunctionLog};
use crate::metrics::Metrics;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// How long an instance may take to announce its port.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an instance being recycled (one of its requests ran past its timeout) may finish its
/// other requests before it is killed.
const RECYCLE_GRACE: Duration = Duration::from_secs(1);

/// Something the gateway routes to: a function binary, or a merged binary serving one entry.
#[derive(Debug, Clone)]
pub struct Deployable {
    /// Route name (`POST /<name>`).
    pub name: String,
    /// The binary to run.
    pub binary: PathBuf,
    /// The entry inside the binary that serves this route.
    pub entry: String,
    /// Memory limit per instance in MiB.
    pub memory_mb: u64,
    /// CPU limit per instance in cores.
    pub cpu: f64,
    /// Instances kept running.
    pub min_instances: u32,
    /// Most instances.
    pub max_instances: u32,
    /// Requests one instance serves at once.
    pub concurrency: u32,
    /// Requests queued when every slot is busy (503 beyond).
    pub queue: u32,
    /// Per-request timeout (504 beyond), queueing included.
    pub timeout: Duration,
    /// Most processes and threads per instance (cgroup pids controller).
    pub pids: u64,
    /// Whether instances run in the sandbox (`sandbox` module: own user, mount namespace,
    /// seccomp). False only for binaries that are platforms themselves (container merges), which
    /// sandbox their own instances.
    pub sandbox: bool,
    /// Extra environment for the instances.
    pub env: Vec<(String, String)>,
    /// Arguments for the binary.
    pub args: Vec<String>,
    /// For a merged deployment, the functions it runs (root first); empty for one function.
    pub members: Vec<String>,
    /// Hosts the instances run on, taken round-robin (instance n on `placements[(n-1) % len]`);
    /// empty: this host's loopback. Set by `quilt up --hosts` (emulated hosts).
    pub placements: Vec<Placement>,
}

/// Where an instance runs when not on this host's loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The command the binary runs under, e.g. `ip netns exec quilt-42-h0` (empty: none).
    pub prefix: Vec<String>,
    /// The address the instance binds (`QUILT_BIND`) and the gateway connects to.
    pub addr: IpAddr,
}

/// What every pool shares.
pub(crate) struct Shared {
    pub gateway: SocketAddr,
    pub metrics: Metrics,
    pub enforcement: Enforcement,
    pub idle_timeout: Duration,
    pub stopping: AtomicBool,
    /// Instance processes started and not yet reaped.
    pub processes: AtomicUsize,
    /// Whether requests are traced.
    pub tracing: AtomicBool,
    /// Spans returned by instances.
    pub spans: crate::spans::SpanStore,
    /// Bearer token required by endpoints that change the running platform.
    pub admin_token: String,
    /// Where functions' logs are kept (else they are only echoed on stderr).
    pub log_dir: Option<std::path::PathBuf>,
    /// The last instance id given out.
    pub last_instance_id: AtomicU64,
    /// The largest request body the gateway takes (instances are told, so that their local calls
    /// refuse what the gateway would).
    pub max_body: usize,
}

/// An instance's answer.
pub(crate) struct Forwarded {
    pub status: u16,
    pub body: Bytes,
    /// The `quilt-spans` header, when the request was traced.
    pub spans: Option<Bytes>,
}

/// Why a request got no answer from an instance.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    #[error("function '{0}' is overloaded: {1} requests already queued")]
    Overloaded(String, usize),
    #[error("{}", quilt_runtime::client::timeout_message(.0, *.1))]
    Timeout(String, u64),
    #[error("function '{0}': {1}")]
    Failed(String, String),
}

/// A queued request: it receives a lease on a slot (or why none will come).
type Waiter = oneshot::Sender<Result<Lease, String>>;

/// One running function process.
pub(crate) struct Instance {
    id: u64,
    pid: u32,
    /// Where it listens.
    addr: IpAddr,
    port: u16,
    /// CPU time used so far, ns (last sample).
    cpu_ns: AtomicU64,
    /// The instance's cgroup CPU counter, when limits are enforced.
    cpu_meter: Option<crate::limits::CpuMeter>,
    in_flight: AtomicUsize,
    last_used: Mutex<Instant>,
    /// Kept-alive connections, one stack per serving thread ([`crate::workers::current`]): a
    /// connection stays with the thread whose reactor it is registered with.
    idle_conns: Vec<Mutex<Vec<InstanceConn>>>,
    exit: Mutex<Option<InstanceExit>>,
    alive: AtomicBool,
    /// Taken out of service because a request ran past its timeout; killed once drained.
    recycled: AtomicBool,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

struct State {
    instances: Vec<Arc<Instance>>,
    /// Recycled instances finishing their other requests (no longer routed to).
    draining: Vec<Arc<Instance>>,
    starting: usize,
    waiters: VecDeque<Waiter>,
}

/// The instances of one deployable.
pub(crate) struct Pool {
    pub spec: Deployable,
    shared: Arc<Shared>,
    state: Mutex<State>,
    usage: Usage,
    /// What its instances write on stdout and stderr.
    log: FunctionLog,
    /// Its series of the platform's metrics.
    pub series: crate::metrics::FunctionSeries,
}

/// Resource use of a pool's instances, sampled from /proc.
#[derive(Default)]
struct Usage {
    /// CPU time of instances that are gone, ns.
    gone_ns: AtomicU64,
    /// Largest resident set seen in one instance, KiB.
    peak_rss_kb: AtomicU64,
    /// Wall time with at least one request in flight.
    busy: Mutex<BusyClock>,
    /// Requests served (any status).
    served: AtomicU64,
}

/// Measures the wall time during which at least one request is in flight.
#[derive(Default)]
struct BusyClock {
    in_flight: usize,
    since: Option<Instant>,
    total: Duration,
}

impl BusyClock {
    fn start(&mut self) {
        if self.in_flight == 0 {
            self.since = Some(Instant::now());
        }
        self.in_flight += 1;
    }

    fn end(&mut self) {
        self.in_flight -= 1;
        if self.in_flight == 0 {
            if let Some(since) = self.since.take() {
                self.total += since.elapsed();
            }
        }
    }

    /// Busy time so far, the current stretch included.
    fn total(&self) -> Duration {
        self.total + self.since.map_or(Duration::ZERO, |s| s.elapsed())
    }
}

/// One request's part of a [`BusyClock`]: started when created, ended when dropped.
struct BusyStretch<'a>(&'a Mutex<BusyClock>);

impl<'a> BusyStretch<'a> {
    fn start(clock: &'a Mutex<BusyClock>) -> Self {
        clock.lock().unwrap().start();
        BusyStretch(clock)
    }
}

impl Drop for BusyStretch<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap().end();
    }
}

/// Resource figures of one deployable, for profiling.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Resources {
    /// CPU seconds its instances used.
    pub cpu_seconds: f64,
    /// Wall seconds with at least one request in flight.
    pub busy_seconds: f64,
    /// Requests served.
    pub requests: u64,
    /// The per-instance CPU limit, cores.
    pub cpu_limit: f64,
    /// Largest resident memory of one instance, MiB.
    pub peak_rss_mb: f64,
    /// Instances running now.
    pub instances: usize,
}

/// One instance as the dashboard shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceStatus {
    /// Instance id (unique on the platform).
    pub id: u64,
    /// Its process.
    pub pid: u32,
    /// The port it serves on.
    pub port: u16,
    /// Requests it runs now.
    pub in_flight: usize,
    /// CPU seconds it used so far.
    pub cpu_seconds: f64,
    /// Resident memory now, MiB.
    pub rss_mb: f64,
    /// Recycled after a timeout, finishing its other requests.
    pub draining: bool,
}

/// A slot on an instance, given back on drop — also when a queued request was cancelled after
/// its lease was sent but before it took it (the slot would otherwise be lost for good).
struct Lease {
    pool: Arc<Pool>,
    instance: Arc<Instance>,
    /// False when the slot was given back already.
    armed: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.armed {
            self.pool.release(&self.instance);
        }
    }
}

/// One request's exchange with an instance, polled by the request's task. Dropped before it ends
/// (the client went away, or the deadline passed and the client got its 504), the rest runs on a
/// task of its own, keeping the slot until the instance answers, for at most the timeout counted
/// from when the request reached the instance (it may have waited in the queue first); past that,
/// the instance is recycled, as Lambda does.
struct Exchange {
    pool: Arc<Pool>,
    instance: Arc<Instance>,
    limit: Instant,
    work: Option<std::pin::Pin<Box<ExchangeWork>>>,
}

type ExchangeWork = dyn std::future::Future<Output = Result<Forwarded, String>> + Send;

impl std::future::Future for Exchange {
    type Output = Result<Forwarded, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let work = self
            .work
            .as_mut()
            .expect("an exchange is not polled after it ended");
        let answer = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        std::task::Poll::Ready(answer)
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        let (pool, instance, limit) = (
            Arc::clone(&self.pool),
            Arc::clone(&self.instance),
            self.limit,
        );
        tokio::spawn(async move {
            if tokio::time::timeout_at(limit.into(), work).await.is_err() {
                pool.recycle(&instance);
            }
        });
    }
}

impl Pool {
    pub fn new(spec: Deployable, shared: Arc<Shared>) -> Arc<Pool> {
        let log = FunctionLog::new(shared.log_dir.as_deref(), &spec.name, logs::MAX_BYTES);
        Arc::new(Pool {
            series: crate::metrics::FunctionSeries::new(&spec.name),
            spec,
            shared,
            log,
            state: Mutex::new(State {
                instances: Vec::new(),
                draining: Vec::new(),
                starting: 0,
                waiters: VecDeque::new(),
            }),
            usage: Usage::default(),
        })
    }

    fn gauge(&self, st: &State) {
        let m = &self.shared.metrics;
        self.series.instances(m).set(st.instances.len() as i64);
        self.series.queued(m).set(st.waiters.len() as i64);
    }

    /// Starts the minimum instances and waits until they serve.
    pub async fn start_min(self: &Arc<Pool>) -> Result<(), String> {
        for _ in 0..self.spec.min_instances {
            let instance = self.spawn_instance().await?;
            let mut st = self.state.lock().unwrap();
            st.instances.push(instance);
            self.gauge(&st);
        }
        Ok(())
    }

    /// Forwards one request body to an instance and returns its status and body.
    pub async fn forward(
        self: &Arc<Pool>,
        body: Bytes,
        trace: Option<(hyper::header::HeaderValue, hyper::header::HeaderValue)>,
    ) -> Result<Forwarded, ForwardError> {
        let deadline = Instant::now() + self.spec.timeout;
        let lease = self.acquire(deadline).await?;
        // The exchange runs in this task; if the client goes away or the deadline passes, the
        // rest of it goes on in a task of its own that holds the slot until the instance answers:
        // neither gives back a slot whose execution still runs in the instance.
        let mut exchange = Exchange {
            pool: Arc::clone(self),
            instance: Arc::clone(&lease.instance),
            limit: Instant::now() + self.spec.timeout,
            work: Some(Box::pin(Arc::clone(self).exchange(lease, body, trace))),
        };
        match tokio::time::timeout_at(deadline.into(), &mut exchange).await {
            Ok(answer) => answer.map_err(|e| ForwardError::Failed(self.spec.name.clone(), e)),
            Err(_) => Err(ForwardError::Timeout(
                self.spec.name.clone(),
                self.spec.timeout.as_millis() as u64,
            )),
        }
    }

    /// Sends one request on a slot of `lease`'s instance and reads the answer; the error explains
    /// a failure (the instance's exit if it died).
    async fn exchange(
        self: Arc<Pool>,
        lease: Lease,
        body: Bytes,
        trace: Option<(hyper::header::HeaderValue, hyper::header::HeaderValue)>,
    ) -> Result<Forwarded, String> {
        let _busy = BusyStretch::start(&self.usage.busy);
        let instance = &lease.instance;
        let answer = async {
            let mut conn = match instance.take_conn() {
                Some(conn) => conn,
                None => InstanceConn::connect(instance.addr, instance.port).await?,
            };
            let trace = trace
                .as_ref()
                .map(|(tp, kind)| (tp.as_bytes(), kind.as_bytes()));
            let answer = conn.exchange(&self.spec.entry, &body, trace).await?;
            if answer.reusable {
                instance.put_conn(conn);
            }
            Ok::<_, String>(answer)
        }
        .await;
        self.usage.served.fetch_add(1, Ordering::Relaxed);
        match answer {
            Ok(answer) => Ok(Forwarded {
                status: answer.status,
                body: answer.body,
                spans: answer.spans,
            }),
            Err(e) => Err(instance.failure(&e).await),
        }
    }

    /// Takes an instance out of service after one of its requests ran past its timeout (its
    /// execution may never end): no new requests go to it, its other requests get
    /// [`RECYCLE_GRACE`] to finish (then fail with a 502 naming the recycle), then it is killed.
    /// Replacements start as requests need them.
    fn recycle(self: &Arc<Pool>, instance: &Arc<Instance>) {
        if instance.recycled.swap(true, Ordering::AcqRel) {
            return;
        }
        {
            let mut st = self.state.lock().unwrap();
            instance.alive.store(false, Ordering::Release);
            let before = st.instances.len();
            st.instances.retain(|i| !Arc::ptr_eq(i, instance));
            if st.instances.len() == before {
                // Gone already (exited or stopped).
                return;
            }
            st.draining.push(Arc::clone(instance));
            self.shared
                .metrics
                .recycles
                .with_label_values(&[&self.spec.name])
                .inc();
            tracing::warn!(
                function = %self.spec.name,
                instance = instance.id,
                "recycling the instance: a request ran past its timeout of {} ms",
                self.spec.timeout.as_millis()
            );
            self.maybe_start(&mut st);
            self.gauge(&st);
        }
        let instance = Arc::clone(instance);
        tokio::spawn(async move {
            let until = Instant::now() + RECYCLE_GRACE;
            // The timed-out request's own slot is given back as its exchange ends, right after.
            while instance.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            instance.request_stop();
        });
    }

    async fn acquire(self: &Arc<Pool>, deadline: Instant) -> Result<Lease, ForwardError> {
        let rx = {
            let mut st = self.state.lock().unwrap();
            let conc = self.spec.concurrency as usize;
            let best = st
                .instances
                .iter()
                .filter(|i| i.alive.load(Ordering::Acquire))
                .min_by_key(|i| i.in_flight.load(Ordering::Acquire))
                .filter(|i| i.in_flight.load(Ordering::Acquire) < conc)
                .cloned();
            if let Some(instance) = best {
                instance.in_flight.fetch_add(1, Ordering::AcqRel);
                return Ok(Lease {
                    pool: Arc::clone(self),
                    instance,
                    armed: true,
                });
            }
            if st.waiters.len() >= self.spec.queue as usize {
                return Err(ForwardError::Overloaded(
                    self.spec.name.clone(),
                    st.waiters.len(),
                ));
            }
            let (tx, rx) = oneshot::channel();
            st.waiters.push_back(tx);
            self.maybe_start(&mut st);
            self.gauge(&st);
            rx
        };
        match tokio::time::timeout_at(deadline.into(), rx).await {
            Ok(Ok(Ok(lease))) => Ok(lease),
            Ok(Ok(Err(message))) => Err(ForwardError::Failed(self.spec.name.clone(), message)),
            Ok(Err(_)) => Err(ForwardError::Failed(
                self.spec.name.clone(),
                "the platform is stopping".into(),
            )),
            Err(_) => Err(ForwardError::Timeout(
                self.spec.name.clone(),
                self.spec.timeout.as_millis() as u64,
            )),
        }
    }

    /// Starts one more instance if waiting requests exceed what is already starting.
    fn maybe_start(self: &Arc<Pool>, st: &mut State) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let total = st.instances.len() + st.starting;
        let coming = st.starting * self.spec.concurrency as usize;
        let below_min = total < self.spec.min_instances as usize;
        if total < self.spec.max_instances as usize && (st.waiters.len() > coming || below_min) {
            st.starting += 1;
            let pool = Arc::clone(self);
            tokio::spawn(async move {
                let started = pool.spawn_instance().await;
                let mut st = pool.state.lock().unwrap();
                st.starting -= 1;
                match started {
                    Ok(instance) => {
                        st.instances.push(Arc::clone(&instance));
                        pool.hand_to_waiters(&mut st, &instance);
                    }
                    Err(message) => {
                        tracing::warn!(function = %pool.spec.name, "{message}");
                        if st.instances.is_empty() && st.starting == 0 {
                            for w in st.waiters.drain(..) {
                                let _ = w.send(Err(message.clone()));
                            }
                        }
                    }
                }
                pool.gauge(&st);
            });
        }
    }

    fn hand_to_waiters(self: &Arc<Pool>, st: &mut State, instance: &Arc<Instance>) {
        let conc = self.spec.concurrency as usize;
        while instance.in_flight.load(Ordering::Acquire) < conc {
            let Some(w) = st.waiters.pop_front() else {
                break;
            };
            instance.in_flight.fetch_add(1, Ordering::AcqRel);
            let lease = Lease {
                pool: Arc::clone(self),
                instance: Arc::clone(instance),
                armed: true,
            };
            if let Err(Ok(mut lease)) = w.send(Ok(lease)) {
                // The request gave up waiting: the slot is free again (given back here, as the
                // state is locked).
                lease.armed = false;
                instance.in_flight.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    fn release(self: &Arc<Pool>, instance: &Arc<Instance>) {
        let mut st = self.state.lock().unwrap();
        instance.in_flight.fetch_sub(1, Ordering::AcqRel);
        *instance.last_used.lock().unwrap() = Instant::now();
        if instance.alive.load(Ordering::Acquire) && !st.waiters.is_empty() {
            self.hand_to_waiters(&mut st, instance);
            self.gauge(&st);
        }
    }

    /// Stops instances idle past the idle timeout, keeping `min_instances`.
    pub fn reap_idle(&self) {
        let mut st = self.state.lock().unwrap();
        let min = self.spec.min_instances as usize;
        let idle_timeout = self.shared.idle_timeout;
        let mut i = 0;
        while i < st.instances.len() {
            let inst = &st.instances[i];
            let idle = inst.in_flight.load(Ordering::Acquire) == 0
                && inst.last_used.lock().unwrap().elapsed() >= idle_timeout;
            if idle && st.instances.len() > min {
                let inst = st.instances.remove(i);
                inst.alive.store(false, Ordering::Release);
                inst.request_stop();
                tracing::info!(function = %self.spec.name, instance = inst.id, "stopped idle instance");
            } else {
                i += 1;
            }
        }
        self.gauge(&st);
    }

    /// Stops every instance.
    pub fn stop_all(&self) {
        let mut st = self.state.lock().unwrap();
        let State {
            instances,
            draining,
            ..
        } = &mut *st;
        for inst in instances.drain(..).chain(draining.drain(..)) {
            inst.alive.store(false, Ordering::Release);
            inst.request_stop();
        }
        st.waiters.clear();
        self.gauge(&st);
    }

    /// The instances now, each with whether it is draining (running ones first): taken under the
    /// pool's lock, which routes requests, so that /proc and the cgroups are read outside it.
    fn snapshot(&self) -> Vec<(Arc<Instance>, bool)> {
        let st = self.state.lock().unwrap();
        let running = st.instances.iter().map(|i| (Arc::clone(i), false));
        running
            .chain(st.draining.iter().map(|i| (Arc::clone(i), true)))
            .collect()
    }

    /// Samples CPU time and peak memory of every instance from /proc.
    pub fn sample(&self) {
        self.sample_instances(&self.snapshot());
    }

    fn sample_instances(&self, instances: &[(Arc<Instance>, bool)]) {
        for (inst, _) in instances {
            inst.sample_cpu();
            if let Some(hwm_kb) = peak_rss_kb(inst.pid) {
                self.usage.peak_rss_kb.fetch_max(hwm_kb, Ordering::Relaxed);
            }
        }
    }

    /// Resource figures so far.
    pub fn resources(&self) -> Resources {
        let instances = self.snapshot();
        self.sample_instances(&instances);
        let alive: u64 = instances
            .iter()
            .map(|(i, _)| i.cpu_ns.load(Ordering::Relaxed))
            .sum();
        let running = instances.iter().filter(|(_, draining)| !draining).count();
        let ns = alive + self.usage.gone_ns.load(Ordering::Relaxed);
        Resources {
            cpu_seconds: ns as f64 / 1e9,
            cpu_limit: self.spec.cpu,
            busy_seconds: self.usage.busy.lock().unwrap().total().as_secs_f64(),
            requests: self.usage.served.load(Ordering::Relaxed),
            peak_rss_mb: self.usage.peak_rss_kb.load(Ordering::Relaxed) as f64 / 1024.0,
            instances: running,
        }
    }

    /// Each instance as it is now (running ones first, then recycled ones still draining).
    pub fn instance_status(&self) -> Vec<InstanceStatus> {
        self.snapshot()
            .into_iter()
            .map(|(inst, draining)| {
                inst.sample_cpu();
                InstanceStatus {
                    id: inst.id,
                    pid: inst.pid,
                    port: inst.port,
                    in_flight: inst.in_flight.load(Ordering::Relaxed),
                    cpu_seconds: inst.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
                    rss_mb: proc_status_kb(inst.pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0,
                    draining,
                }
            })
            .collect()
    }

    /// Running instances.
    pub fn instance_count(&self) -> usize {
        self.state.lock().unwrap().instances.len()
    }

    /// Whether requests are running in or queued for this pool's instances.
    pub fn busy(&self) -> bool {
        let st = self.state.lock().unwrap();
        !st.waiters.is_empty()
            || st.starting > 0
            || st
                .instances
                .iter()
                .chain(&st.draining)
                .any(|i| i.in_flight.load(Ordering::Acquire) > 0)
    }

    /// Starts one instance: its cgroups, its process (in the sandbox), its announced port, then a
    /// task that pumps its log and one that watches for its exit.
    async fn spawn_instance(self: &Arc<Pool>) -> Result<Arc<Instance>, String> {
        let id = self.next_instance_id();
        let group = self.instance_group(id)?;
        let placement = match self.spec.placements.len() {
            0 => None,
            n => Some(&self.spec.placements[(id as usize - 1) % n]),
        };
        let addr = placement.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |p| p.addr);
        let mut cmd = crate::sandbox::command(&self.spec, placement, group.as_ref())?;
        self.instance_environment(&mut cmd, addr);
        let (mut child, pid) = self.start_process(id, cmd, group.as_ref())?;
        let port = self.announced_port(id, &mut child).await?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let instance = Arc::new(Instance {
            id,
            pid: pid.get(),
            addr,
            port,
            cpu_ns: AtomicU64::new(0),
            cpu_meter: group.as_ref().and_then(|g| g.cpu_meter()),
            in_flight: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
            idle_conns: (0..=crate::workers::count())
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            exit: Mutex::new(None),
            alive: AtomicBool::new(true),
            recycled: AtomicBool::new(false),
            stop: Mutex::new(Some(stop_tx)),
        });
        self.shared
            .metrics
            .starts
            .with_label_values(&[&self.spec.name])
            .inc();
        tracing::info!(function = %self.spec.name, instance = id, pid, port, "instance started");
        self.watch_exit(&instance, child, group, stop_rx);
        Ok(instance)
    }

    /// A new instance id, unique on the platform: ids name cgroups, so two versions of a route
    /// (one draining while the other serves) must never share one.
    fn next_instance_id(&self) -> u64 {
        self.shared.last_instance_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The instance's cgroups (memory, CPU, pids), when limits are enforced.
    fn instance_group(&self, id: u64) -> Result<Option<InstanceGroup>, String> {
        if !self.shared.enforcement.enforced() {
            return Ok(None);
        }
        let spec = &self.spec;
        InstanceGroup::create(
            &self.shared.enforcement,
            &format!("{}-{id}", spec.name),
            spec.memory_mb,
            spec.cpu,
            spec.pids,
        )
        .map(Some)
        .map_err(|e| format!("cannot create cgroup for instance {id}: {e}"))
    }

    /// What every instance is told: where to listen, where the gateway is, which function it
    /// serves, and the deployable's own arguments and environment.
    fn instance_environment(&self, cmd: &mut tokio::process::Command, addr: IpAddr) {
        let spec = &self.spec;
        // Always set: an instance must not inherit its platform's own QUILT_BIND (a container
        // merge's inner platform runs on an emulated host, its members on its loopback).
        cmd.env("QUILT_BIND", addr.to_string())
            // The platform's admin token, when its process was given one, is not the function's.
            .env_remove("QUILT_ADMIN_TOKEN")
            .args(&spec.args)
            .env("QUILT_PORT", "0")
            .env("QUILT_GATEWAY", self.shared.gateway.to_string())
            .env("QUILT_FUNCTION", &spec.name)
            .env(
                quilt_runtime::client::MAX_BODY_ENV,
                self.shared.max_body.to_string(),
            )
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
    }

    /// Starts the instance's process and puts it into its cgroups; returns it with its pid.
    fn start_process(
        &self,
        id: u64,
        mut cmd: tokio::process::Command,
        group: Option<&InstanceGroup>,
    ) -> Result<(ReapGuard, NonZeroU32), String> {
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.spec.binary.display()))?;
        self.shared.processes.fetch_add(1, Ordering::AcqRel);
        let mut child = ReapGuard {
            child,
            shared: Arc::clone(&self.shared),
        };
        // A child already reaped has no pid; never pid 0, which would move the writer (this
        // platform) into the instance's cgroup.
        let Some(pid) = child.id().and_then(NonZeroU32::new) else {
            let _ = child.start_kill();
            return Err(format!("instance {id} exited before its pid was known"));
        };
        if let Some(g) = group {
            if let Err(e) = g.add(pid) {
                let _ = child.start_kill();
                return Err(format!("cannot move instance {id} into its cgroup: {e}"));
            }
        }
        Ok((child, pid))
    }

    /// Waits for the instance's `QUILT_LISTENING <port>` line; its standard error from the start,
    /// and the rest of its standard output, go to the function's log.
    async fn announced_port(
        self: &Arc<Pool>,
        id: u64,
        child: &mut ReapGuard,
    ) -> Result<u16, String> {
        let stderr = child.stderr.take().expect("stderr is piped");
        let pool = Arc::clone(self);
        tokio::spawn(async move { logs::pump(stderr, &pool.log, id).await });
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let prefix = format!("{} ", quilt_runtime::server::LISTENING);
        let announced = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line.strip_prefix(&prefix) {
                    return port.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await;
        let port = match announced {
            Ok(Some(port)) => port,
            other => {
                let _ = child.start_kill();
                let status = child
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let why = if other.is_err() {
                    "did not announce its port in time".to_string()
                } else {
                    format!("exited before serving ({status})")
                };
                return Err(format!("instance {id} of '{}' {why}", self.spec.name));
            }
        };
        let pool = Arc::clone(self);
        tokio::spawn(async move { logs::pump(lines.into_inner(), &pool.log, id).await });
        Ok(port)
    }

    /// Watches the instance's process until it exits on its own or is stopped, then records why.
    fn watch_exit(
        self: &Arc<Pool>,
        instance: &Arc<Instance>,
        mut child: ReapGuard,
        group: Option<InstanceGroup>,
        stop: oneshot::Receiver<()>,
    ) {
        let pool = Arc::clone(self);
        let watched = Arc::clone(instance);
        tokio::spawn(async move {
            let asked = tokio::select! {
                _ = stop => { let _ = child.start_kill(); true }
                _ = child.wait() => false,
            };
            let status = child.wait().await;
            watched.sample_cpu();
            let oom = group.as_ref().is_some_and(|g| g.oom_killed());
            drop(group);
            pool.instance_exited(&watched, asked, status, oom);
        });
    }

    fn instance_exited(
        self: &Arc<Pool>,
        instance: &Arc<Instance>,
        asked: bool,
        status: std::io::Result<std::process::ExitStatus>,
        oom: bool,
    ) {
        let cause = match (asked, instance.recycled.load(Ordering::Acquire)) {
            (false, _) => ExitCause::Crashed,
            (true, true) => ExitCause::Recycled,
            (true, false) => ExitCause::Stopped,
        };
        let exit = InstanceExit {
            cause,
            end: ProcessEnd::from(status),
            oom,
        };
        let what = exit.to_string();
        // Not alive before the exit is published: a request that sees the exit (and answers 502)
        // must not leave a next request to be routed to this instance.
        instance.alive.store(false, Ordering::Release);
        *instance.exit.lock().unwrap() = Some(exit);
        self.usage
            .gone_ns
            .fetch_add(instance.cpu_ns.load(Ordering::Relaxed), Ordering::Relaxed);
        let mut st = self.state.lock().unwrap();
        st.instances.retain(|i| !Arc::ptr_eq(i, instance));
        st.draining.retain(|i| !Arc::ptr_eq(i, instance));
        if !asked {
            tracing::warn!(function = %self.spec.name, instance = instance.id, "instance died: {what}");
            self.shared
                .metrics
                .crashes
                .with_label_values(&[&self.spec.name])
                .inc();
        }
        self.maybe_start(&mut st);
        self.gauge(&st);
    }
}

/// CPU time (user + system) of a process from /proc, ns (clock-tick precision).
fn proc_cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((ticks as f64 * 1e9 / clock_ticks_per_second()) as u64)
}

/// Peak resident memory of a process, KiB.
/// A process's largest resident memory so far, KiB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    proc_status_kb(pid, "VmHWM:")
}

/// A KiB figure (`field`, e.g. `VmRSS:`) of `/proc/<pid>/status`.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// How an instance's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ProcessEnd {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(i32),
    /// Its status could not be read.
    Unknown(String),
}

impl From<std::io::Result<std::process::ExitStatus>> for ProcessEnd {
    fn from(status: std::io::Result<std::process::ExitStatus>) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(code), _) => ProcessEnd::Code(code),
                (None, Some(sig)) => ProcessEnd::Signal(sig),
                _ => ProcessEnd::Unknown(s.to_string()),
            },
            Err(e) => ProcessEnd::Unknown(e.to_string()),
        }
    }
}

impl std::fmt::Display for ProcessEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessEnd::Code(code) => write!(f, "exit code {code}"),
            ProcessEnd::Signal(sig) => write!(f, "killed by signal {sig}"),
            ProcessEnd::Unknown(why) => write!(f, "unknown exit ({why})"),
        }
    }
}

/// Why an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExitCause {
    /// It ended on its own (exit, signal, memory limit).
    Crashed,
    /// The platform stopped it (idle, shutdown).
    Stopped,
    /// The platform recycled it after an execution ran past its timeout.
    Recycled,
}

/// The end of an instance: why, how its process ended, and whether its memory limit killed it.
#[derive(Debug, Clone)]
struct InstanceExit {
    cause: ExitCause,
    end: ProcessEnd,
    oom: bool,
}

impl std::fmt::Display for InstanceExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = if self.oom {
            format!("{}, killed by its memory limit", self.end)
        } else {
            self.end.to_string()
        };
        match self.cause {
            ExitCause::Crashed => write!(f, "{end}"),
            ExitCause::Stopped => write!(f, "stopped by the platform ({end})"),
            ExitCause::Recycled => {
                write!(f, "recycled after a request ran past its timeout ({end})")
            }
        }
    }
}

impl Instance {
    /// Updates the CPU time: from the cgroup (ns precision) or /proc (clock ticks).
    fn sample_cpu(&self) {
        let ns = match &self.cpu_meter {
            Some(m) => m.read_ns().or_else(|| proc_cpu_ns(self.pid)),
            None => proc_cpu_ns(self.pid),
        };
        if let Some(ns) = ns {
            self.cpu_ns.fetch_max(ns, Ordering::Relaxed);
        }
    }

    fn take_conn(&self) -> Option<InstanceConn> {
        let mut conns = self.idle_conns[crate::workers::current()].lock().unwrap();
        while let Some(c) = conns.pop() {
            if c.is_idle() {
                return Some(c);
            }
        }
        None
    }

    fn put_conn(&self, conn: InstanceConn) {
        if self.alive.load(Ordering::Acquire) {
            self.idle_conns[crate::workers::current()]
                .lock()
                .unwrap()
                .push(conn);
        }
    }

    fn request_stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }

    /// Explains a failed exchange: the instance's exit if it died, else the transport error.
    async fn failure(&self, error: &str) -> String {
        for _ in 0..20 {
            if let Some(exit) = self.exit.lock().unwrap().as_ref() {
                return match exit.cause {
                    ExitCause::Crashed => format!("instance {} crashed ({exit})", self.id),
                    ExitCause::Stopped | ExitCause::Recycled => {
                        format!("instance {} was {exit}", self.id)
                    }
                };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        format!("instance {} failed: {error}", self.id)
    }
}

/// A child process counted in [`Shared::processes`] until it is dropped (after being waited for).
struct ReapGuard {
    child: tokio::process::Child,
    shared: Arc<Shared>,
}

impl std::ops::Deref for ReapGuard {
    type Target = tokio::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.child
    }
}

impl std::ops::DerefMut for ReapGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.child
    }
}

impl Drop for ReapGuard {
    fn drop(&mut self) {
        self.shared.processes.fetch_sub(1, Ordering::AcqRel);
    }
}
