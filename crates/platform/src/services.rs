//! Storage services an app needs (Redis, memcached), started on free loopback ports for the
//! lifetime of a platform and passed to functions through the environment.

use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable with the Redis address (`host:port`).
pub const REDIS_ENV: &str = "QUILT_REDIS_ADDR";
/// Environment variable with the memcached address (`host:port`).
pub const MEMCACHED_ENV: &str = "QUILT_MEMCACHED_ADDR";

/// A running service process; stopped on drop.
pub struct Service {
    /// What it is (`redis`, `memcached`).
    pub kind: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
}

impl Service {
    /// The environment variable and value that tell functions where the service is.
    pub fn env(&self) -> (String, String) {
        let key = if self.kind == "redis" {
            REDIS_ENV
        } else {
            MEMCACHED_ENV
        };
        (key.to_string(), self.addr.to_string())
    }

    /// Starts `redis-server` on a free loopback port, without persistence.
    pub fn redis() -> Result<Service> {
        Service::redis_on(Ipv4Addr::LOCALHOST)
    }

    /// Starts `redis-server` on a free port of `ip` (an address of this network namespace, such
    /// as the gateway's under `quilt up --hosts`).
    pub fn redis_on(ip: Ipv4Addr) -> Result<Service> {
        Service::redis_at(ip, &[])
    }

    /// Starts `redis-server` on a free port of `ip`, run by the command `prefix` (such as `ip netns
    /// exec <ns>`, putting it on an emulated host whose address `ip` is; empty: here).
    pub fn redis_at(ip: Ipv4Addr, prefix: &[String]) -> Result<Service> {
        let port = free_port()?;
        let mut cmd = crate::sandbox::prefixed(prefix, "redis-server");
        cmd.args(["--bind", &ip.to_string(), "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"]);
        Service::start("redis", "redis-server", cmd, SocketAddr::from((ip, port)))
    }

    /// Starts `memcached` on a free loopback port (TCP only).
    pub fn memcached() -> Result<Service> {
        Service::memcached_on(Ipv4Addr::LOCALHOST)
    }

    /// Starts `memcached` on a free port of `ip` (TCP only).
    pub fn memcached_on(ip: Ipv4Addr) -> Result<Service> {
        Service::memcached_at(ip, &[])
    }

    /// Starts `memcached` on a free port of `ip` (TCP only), run by the command `prefix` (as
    /// [`Service::redis_at`]).
    pub fn memcached_at(ip: Ipv4Addr, prefix: &[String]) -> Result<Service> {
        let port = free_port()?;
        let mut cmd = crate::sandbox::prefixed(prefix, "memcached");
        cmd.args([
            "-l",
            &ip.to_string(),
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-m",
            "256",
        ]);
        if nix_is_root() {
            cmd.args(["-u", "root"]);
        }
        Service::start("memcached", "memcached", cmd, SocketAddr::from((ip, port)))
    }

    fn start(
        kind: &'static str,
        program: &str,
        mut cmd: Command,
        addr: SocketAddr,
    ) -> Result<Service> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("cannot start {program} (install it: scripts/setup.sh does)")
            })?;
        let mut service = Service { kind, addr, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Some(status) = service.child.try_wait()? {
                bail!("{program} exited at start ({status})");
            }
            if Instant::now() > deadline {
                bail!("{program} did not listen on {addr} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(service)
    }

    /// Stops the service.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
