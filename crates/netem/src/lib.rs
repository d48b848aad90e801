//! Emulated hosts for `quilt up --hosts K`: a cluster's network on one machine.
//!
//! Topology (every name and address lives inside network namespaces created here; the root
//! namespace gets no interface, address or route):
//!
//! ```text
//!   root namespace:  127.0.0.1:<port>  ──forwarder──┐        (users, `quilt invoke`)
//!   quilt-<pid>-gw:  gateway (+ services) on 10.213.N.1 ◄───┘
//!                      │ every pair of namespaces: round trip rtt (+ bandwidth per host link)
//!   quilt-<pid>-h<i>: instances on 10.213.N.(10+i), i = 0..K-1   (N = pid % 250)
//!   quilt-<pid>-st:   Redis and memcached on 10.213.N.2 (with a storage host)
//! ```
//!
//! The `quilt up` process enters the gateway's namespace (`gw`) before it starts its runtime, so
//! the gateway, its connections to instances and (without a storage host) the storage services
//! live there; a listener bound beforehand in the root namespace forwards users' connections to the
//! gateway. Instances run under `ip netns exec quilt-<pid>-h<i>` and bind `$QUILT_BIND` (their
//! host's address); with a storage host, the services run under `ip netns exec quilt-<pid>-st`.
//! Every two namespaces are one round trip `rtt` apart, as machines on one switch are: an instance
//! reaches the storage host in `rtt`, not in two of the gateway's hops.
//!
//! Two kinds of link:
//!
//! - `veth`: a veth pair per namespace (the gateway's too), one end on a bridge in the gateway's
//!   namespace, with `tc netem delay rtt/4` (and the host's `rate`) on both ends — the kernel does
//!   the delaying; a packet crosses two such pairs between any two namespaces. Needs `sch_netem`.
//! - `tun`: a TUN device in every namespace and a delay line in this process that reads each
//!   packet and writes it to the destination's TUN device rtt/2 later (serialized at the
//!   bandwidth, if one is given). Works on kernels without netem (such as this project's CI).
//!
//! `auto` takes `veth` when netem is there (or no delay is asked for), else `tun`.
//!
//! Namespaces are removed on shutdown; a start first removes leftovers of earlier runs whose
//! process is gone (names `quilt-<pid>-…`).

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BinaryHeap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Prefix of every namespace created here.
pub const PREFIX: &str = "quilt-";

/// How hosts are linked to the gateway's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// `veth` when the kernel has netem or no delay is asked for, else `tun`.
    Auto,
    /// veth pairs on a bridge, `tc netem` on both ends.
    Veth,
    /// TUN devices and a delay line in this process.
    Tun,
}

impl std::str::FromStr for LinkKind {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(LinkKind::Auto),
            "veth" => Ok(LinkKind::Veth),
            "tun" => Ok(LinkKind::Tun),
            _ => bail!("link '{s}': expected auto, veth or tun"),
        }
    }
}

/// What to emulate.
#[derive(Debug, Clone)]
pub struct HostsConfig {
    /// Number of hosts (at least 1).
    pub hosts: usize,
    /// Round-trip time between the gateway and a host.
    pub rtt: Duration,
    /// Bandwidth of each host's link, bits per second, each way (None: unlimited).
    pub bandwidth_bps: Option<u64>,
    /// How to link hosts.
    pub link: LinkKind,
    /// One more host for the storage services (Redis, memcached), linked as the others are.
    pub storage_host: bool,
}

/// One emulated host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its network namespace.
    pub netns: String,
    /// Its address (instances bind it).
    pub addr: Ipv4Addr,
}

impl Host {
    /// The command prefix that runs a program on this host.
    pub fn exec_prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.netns]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

/// The emulated network as the platform sees it.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The gateway's namespace.
    pub hub_netns: String,
    /// The gateway's address, reachable from every host.
    pub hub_addr: Ipv4Addr,
    /// The hosts instances run on.
    pub hosts: Vec<Host>,
    /// The host the storage services run on (None: the gateway's namespace).
    pub storage: Option<Host>,
    /// The kind of link in use.
    pub link: LinkKind,
    /// Round-trip time gateway ↔ host.
    pub rtt: Duration,
    /// Bandwidth per link and direction, bits per second.
    pub bandwidth_bps: Option<u64>,
}

impl Layout {
    /// Every host linked to the gateway's namespace: the instances' hosts, then the storage host.
    pub fn leaves(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter().chain(self.storage.iter())
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        format!(
            "{} emulated hosts ({}){} linked to the gateway's namespace {} ({}) by {} links, rtt {:?}{}",
            self.hosts.len(),
            self.hosts
                .iter()
                .map(|h| h.addr.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.storage
                .as_ref()
                .map(|s| format!(" and a storage host ({})", s.addr))
                .unwrap_or_default(),
            self.hub_netns,
            self.hub_addr,
            match self.link {
                LinkKind::Veth if self.rtt.is_zero() => "veth",
                LinkKind::Veth => "veth+netem",
                LinkKind::Tun => "tun delay-line",
                LinkKind::Auto => "auto",
            },
            self.rtt,
            self.bandwidth_bps
                .map(|b| format!(", {} Mbit/s", b / 1_000_000))
                .unwrap_or_default()
        )
    }
}

/// Why emulated hosts cannot be made here (None: they can).
pub fn unsupported_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("emulated hosts need root (network namespaces, veth/TUN devices)".into());
    }
    if which::which("ip").is_err() {
        return Some("emulated hosts need iproute2 (`ip`): apt-get install iproute2".into());
    }
    None
}

/// Parses a bandwidth as tc writes it: `1gbit`, `100mbit`, `500kbit`, `1000000bit` (or `bps`
/// units in bytes: `125mbps`).
pub fn parse_bandwidth(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("bandwidth '{s}': expected a number and a unit such as 1gbit"))?;
    let mult = match unit {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => bail!("bandwidth '{s}': unknown unit '{unit}' (use bit, kbit, mbit, gbit)"),
    };
    let bps = (n * mult).round();
    if bps.is_nan() || bps < 1000.0 {
        bail!("bandwidth '{s}' is too small (at least 1kbit)");
    }
    Ok(bps as u64)
}

/// Runs a command; an error carries its stderr.
fn run(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Names of the namespaces that exist now.
fn namespaces() -> Vec<String> {
    match std::fs::read_dir("/run/netns") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The pid in a namespace name `quilt-<pid>-…`.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Removes the namespaces of earlier runs whose process is gone; returns their names.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    for name in namespaces() {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if run(&["ip", "netns", "del", &name]).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Moves the calling thread into the namespace `name`.
fn enter_netns(name: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{name}"))?;
    // SAFETY: setns on a valid namespace file descriptor; affects the calling thread only.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The emulated network; removed when dropped.
pub struct Network {
    layout: Layout,
    /// Namespaces created, removed on drop (in reverse).
    created: Vec<String>,
    relay: Option<Relay>,
}

impl Network {
    /// Creates the namespaces and links (removing leftovers of dead runs first).
    pub fn create(cfg: &HostsConfig) -> Result<Network> {
        if let Some(why) = unsupported_reason() {
            bail!("{why}");
        }
        if cfg.hosts == 0 {
            bail!("at least one emulated host is needed");
        }
        if cfg.hosts > 200 {
            bail!("{} emulated hosts: at most 200", cfg.hosts);
        }
        for name in remove_stale() {
            tracing_free_log(&format!("removed leftover namespace {name}"));
        }
        let pid = std::process::id();
        let n = (pid % 250) as u8;
        let hub_netns = format!("{PREFIX}{pid}-gw");
        let hub_addr = Ipv4Addr::new(10, 213, n, 1);
        let hosts: Vec<Host> = (0..cfg.hosts)
            .map(|i| Host {
                netns: format!("{PREFIX}{pid}-h{i}"),
                addr: Ipv4Addr::new(10, 213, n, 10 + i as u8),
            })
            .collect();
        let storage = cfg.storage_host.then(|| Host {
            netns: format!("{PREFIX}{pid}-st"),
            addr: Ipv4Addr::new(10, 213, n, 2),
        });
        let mut net = Network {
            layout: Layout {
                hub_netns: hub_netns.clone(),
                hub_addr,
                hosts: hosts.clone(),
                storage: storage.clone(),
                link: cfg.link,
                rtt: cfg.rtt,
                bandwidth_bps: cfg.bandwidth_bps,
            },
            created: Vec::new(),
            relay: None,
        };
        let names: Vec<String> = std::iter::once(hub_netns.clone())
            .chain(net.layout.leaves().map(|h| h.netns.clone()))
            .collect();
        for ns in &names {
            run(&["ip", "netns", "add", ns])?;
            net.created.push(ns.clone());
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        let link = match cfg.link {
            LinkKind::Auto if cfg.rtt.is_zero() || netem_available(&hub_netns) => LinkKind::Veth,
            LinkKind::Auto => LinkKind::Tun,
            LinkKind::Veth if !cfg.rtt.is_zero() && !netem_available(&hub_netns) => bail!(
                "veth links with a delay need the kernel's netem qdisc (sch_netem), which this \
                 kernel lacks; use tun links (or auto)"
            ),
            other => other,
        };
        net.layout.link = link;
        match link {
            LinkKind::Veth => net.link_veth(cfg)?,
            _ => net.link_tun(cfg)?,
        }
        Ok(net)
    }

    /// The network as the platform sees it.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Moves the calling thread into the gateway's namespace: threads it starts afterwards (a
    /// tokio runtime's workers, say) and processes they spawn start there too.
    pub fn enter_hub(&self) -> Result<()> {
        enter_netns(&self.layout.hub_netns)
            .with_context(|| format!("entering namespace {}", self.layout.hub_netns))
    }

    fn link_veth(&mut self, cfg: &HostsConfig) -> Result<()> {
        let hub = self.layout.hub_netns.clone();
        run(&["ip", "-n", &hub, "link", "add", "qbr", "type", "bridge"])?;
        run(&["ip", "-n", &hub, "link", "set", "qbr", "up"])?;
        // The gateway's namespace is a leaf of the bridge as every host is, so that every two
        // namespaces cross two pairs: rtt/4 on each end of each pair makes every round trip rtt.
        let leaves = std::iter::once((hub.clone(), self.layout.hub_addr, "gw".to_string(), false))
            .chain(
                self.layout
                    .leaves()
                    .enumerate()
                    .map(|(i, h)| (h.netns.clone(), h.addr, format!("h{i}"), true)),
            )
            .collect::<Vec<_>>();
        let one_way_us = (cfg.rtt.as_micros() / 4).to_string() + "us";
        for (ns, addr, port, host_link) in leaves {
            let cidr = format!("{addr}/24");
            let dev = if ns == hub { "qgw0" } else { "eth0" };
            run(&[
                "ip", "-n", &hub, "link", "add", &port, "type", "veth", "peer", "name", dev,
                "netns", &ns,
            ])?;
            run(&[
                "ip", "-n", &hub, "link", "set", &port, "master", "qbr", "up",
            ])?;
            run(&["ip", "-n", &ns, "addr", "add", &cidr, "dev", dev])?;
            run(&["ip", "-n", &ns, "link", "set", dev, "up"])?;
            // The bandwidth is a host's link's; the gateway's leaf only delays.
            let bandwidth = cfg.bandwidth_bps.filter(|_| host_link);
            for (ns, dev) in [(hub.as_str(), port.as_str()), (ns.as_str(), dev)] {
                let mut args = vec!["tc", "-n", ns, "qdisc", "add", "dev", dev, "root"];
                let rate;
                if !cfg.rtt.is_zero() {
                    args.extend(["netem", "delay", &one_way_us]);
                    if let Some(bw) = bandwidth {
                        rate = format!("{bw}bit");
                        args.extend(["rate", &rate]);
                    }
                } else if let Some(bw) = bandwidth {
                    rate = format!("{bw}bit");
                    args.extend(["tbf", "rate", &rate, "burst", "256kb", "latency", "50ms"]);
                } else {
                    continue;
                }
                run(&args)?;
            }
        }
        Ok(())
    }

    fn link_tun(&mut self, cfg: &HostsConfig) -> Result<()> {
        let mut ends = Vec::new();
        let mut addrs = Vec::new();
        let nss: Vec<(String, Ipv4Addr)> =
            std::iter::once((self.layout.hub_netns.clone(), self.layout.hub_addr))
                .chain(self.layout.leaves().map(|h| (h.netns.clone(), h.addr)))
                .collect();
        for (ns, addr) in nss {
            let fd = open_tun_in(&ns, "qt0")
                .with_context(|| format!("opening a TUN device in namespace {ns}"))?;
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "qt0",
            ])?;
            run(&["ip", "-n", &ns, "link", "set", "qt0", "up"])?;
            ends.push(fd);
            addrs.push(addr);
        }
        self.relay = Some(Relay::start(ends, addrs, cfg.rtt / 2, cfg.bandwidth_bps)?);
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.stop();
        }
        for ns in self.created.iter().rev() {
            if let Err(e) = run(&["ip", "netns", "del", ns]) {
                tracing_free_log(&format!("cannot remove namespace {ns}: {e}"));
            }
        }
    }
}

/// Logs to stderr (this crate does not depend on a logging framework).
fn tracing_free_log(message: &str) {
    eprintln!("quilt: {message}");
}

/// Whether the kernel has the netem qdisc: tried on a throwaway veth pair inside `ns`.
fn netem_available(ns: &str) -> bool {
    if run(&[
        "ip", "-n", ns, "link", "add", "qprobe0", "type", "veth", "peer", "name", "qprobe1",
    ])
    .is_err()
    {
        return false;
    }
    let ok = run(&[
        "tc", "-n", ns, "qdisc", "add", "dev", "qprobe0", "root", "netem", "delay", "1ms",
    ])
    .is_ok();
    let _ = run(&["ip", "-n", ns, "link", "del", "qprobe0"]);
    ok
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Opens a TUN device named `ifname` inside namespace `ns` (from a short-lived thread that
/// enters it: a TUN device is created in the namespace of the thread that opens it).
fn open_tun_in(ns: &str, ifname: &str) -> Result<OwnedFd> {
    let ns = ns.to_string();
    let ifname = ifname.to_string();
    std::thread::spawn(move || -> std::io::Result<OwnedFd> {
        enter_netns(&ns)?;
        // SAFETY: plain open(2) of a device node with a NUL-terminated path.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which IfReq lays out.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(fd)
    })
    .join()
    .map_err(|_| anyhow!("the thread opening a TUN device panicked"))?
    .map_err(Into::into)
}

/// A packet waiting for its time.
struct Pending {
    due: Instant,
    seq: u64,
    to: usize,
    packet: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Reversed: the earliest is the greatest, for the max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

struct Line {
    heap: BinaryHeap<Pending>,
    seq: u64,
    /// When each link is free again (bandwidth): index = end (0 hub's side unused).
    free_at: Vec<Instant>,
}

struct RelayShared {
    ends: Vec<OwnedFd>,
    addrs: Vec<Ipv4Addr>,
    one_way: Duration,
    bandwidth_bps: Option<u64>,
    line: Mutex<Line>,
    ready: Condvar,
    stop: AtomicBool,
}

/// The TUN delay line: a reader thread per end and one writer that releases packets on time.
struct Relay {
    shared: Arc<RelayShared>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn start(
        ends: Vec<OwnedFd>,
        addrs: Vec<Ipv4Addr>,
        one_way: Duration,
        bandwidth_bps: Option<u64>,
    ) -> Result<Relay> {
        let now = Instant::now();
        let shared = Arc::new(RelayShared {
            line: Mutex::new(Line {
                heap: BinaryHeap::new(),
                seq: 0,
                free_at: vec![now; ends.len()],
            }),
            ends,
            addrs,
            one_way,
            bandwidth_bps,
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for from in 0..shared.ends.len() {
            let s = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("quilt-link-rx{from}"))
                    .spawn(move || s.read_loop(from))?,
            );
        }
        let s = Arc::clone(&shared);
        threads.push(
            std::thread::Builder::new()
                .name("quilt-link-tx".into())
                .spawn(move || s.write_loop())?,
        );
        Ok(Relay { shared, threads })
    }

    fn stop(self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.ready.notify_all();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

impl RelayShared {
    fn end_of(&self, dst: Ipv4Addr) -> Option<usize> {
        self.addrs.iter().position(|a| *a == dst)
    }

    fn read_loop(&self, from: usize) {
        let fd = self.ends[from].as_raw_fd();
        let mut buf = vec![0u8; 65536];
        while !self.stop.load(Ordering::Acquire) {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, 100) };
            if r <= 0 {
                continue;
            }
            // SAFETY: reading into a buffer of buf.len() bytes.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 20 {
                continue;
            }
            let packet = &buf[..n as usize];
            if packet[0] >> 4 != 4 {
                continue; // IPv4 only (the emulated network has no IPv6 addresses)
            }
            let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
            let Some(to) = self.end_of(dst).filter(|&to| to != from) else {
                continue;
            };
            let now = Instant::now();
            // Every two namespaces are rtt apart (hosts on one switch): rtt/2 one way.
            let mut line = self.line.lock().unwrap();
            let mut sent = now;
            if let Some(bw) = self.bandwidth_bps {
                let link = if from != 0 { from } else { to };
                let tx = Duration::from_nanos((n as u64 * 8).saturating_mul(1_000_000_000) / bw);
                sent = line.free_at[link].max(now) + tx;
                line.free_at[link] = sent;
            }
            line.seq += 1;
            let seq = line.seq;
            line.heap.push(Pending {
                due: sent + self.one_way,
                seq,
                to,
                packet: packet.to_vec(),
            });
            drop(line);
            self.ready.notify_one();
        }
    }

    fn write_loop(&self) {
        // Wake-ups on time: the default 50 µs timer slack is a quarter of a 200 µs round trip.
        // SAFETY: prctl(PR_SET_TIMERSLACK) affects the calling thread only.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        let mut line = self.line.lock().unwrap();
        while !self.stop.load(Ordering::Acquire) {
            let now = Instant::now();
            match line.heap.peek().map(|p| p.due) {
                Some(due) if due <= now => {
                    let p = line.heap.pop().expect("peeked");
                    drop(line);
                    let fd = self.ends[p.to].as_raw_fd();
                    // SAFETY: writing one whole packet from a live buffer.
                    let _ = unsafe { libc::write(fd, p.packet.as_ptr().cast(), p.packet.len()) };
                    line = self.line.lock().unwrap();
                }
                Some(due) => {
                    line = self.ready.wait_timeout(line, due - now).unwrap().0;
                }
                None => {
                    line = self
                        .ready
                        .wait_timeout(line, Duration::from_millis(100))
                        .unwrap()
                        .0;
                }
            }
        }
    }
}

/// Forwards every connection accepted on `listener` (bound in the root namespace before the
/// process entered the gateway's) to `to` (the gateway, in its namespace).
pub async fn forward(listener: std::net::TcpListener, to: std::net::SocketAddr) -> Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = inbound.set_nodelay(true);
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths() {
        assert_eq!(parse_bandwidth("1gbit").unwrap(), 1_000_000_000);
        assert_eq!(parse_bandwidth("100mbit").unwrap(), 100_000_000);
        assert_eq!(parse_bandwidth("1.5Gbit").unwrap(), 1_500_000_000);
        assert_eq!(parse_bandwidth("125mbps").unwrap(), 1_000_000_000);
        assert!(parse_bandwidth("fast").is_err());
        assert!(parse_bandwidth("10furlongs").is_err());
        assert!(parse_bandwidth("1bit").is_err());
    }

    #[test]
    fn owners() {
        assert_eq!(owner_pid("quilt-1234-h0"), Some(1234));
        assert_eq!(owner_pid("quilt-1234-gw"), Some(1234));
        assert_eq!(owner_pid("quilt-x-h0"), None);
        assert_eq!(owner_pid("other-1234-h0"), None);
    }

    #[test]
    fn earliest_packet_first() {
        let now = Instant::now();
        let mut heap = BinaryHeap::new();
        for (i, ms) in [5u64, 1, 3].iter().enumerate() {
            heap.push(Pending {
                due: now + Duration::from_millis(*ms),
                seq: i as u64,
                to: 0,
                packet: Vec::new(),
            });
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|p| p.seq)).collect();
        assert_eq!(order, [1, 2, 0]);
    }
}
