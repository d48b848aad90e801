//! Per-instance memory, CPU and process-count limits through cgroups (v1 or v2), where the machine
//! allows it.
//!
//! Groups are created under the cgroup the platform itself runs in, one per instance, and removed
//! when the instance is gone — after every process left in them is killed (what an instance forked
//! does not outlive it).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const CGROOT: &str = "/sys/fs/cgroup";
const CFS_PERIOD_US: u64 = 100_000;

/// What the machine lets the platform enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enforcement {
    /// cgroup v1 memory and cpu controllers.
    CgroupV1,
    /// cgroup v2 unified hierarchy.
    CgroupV2,
    /// Limits are not enforced, and why.
    NotEnforced(String),
}

impl Enforcement {
    /// Detects what this machine supports (needs write access to the cgroup tree).
    pub fn detect() -> Enforcement {
        let probe = |dir: PathBuf| -> Result<(), String> {
            let test = dir.join(format!("quilt-probe-{}", std::process::id()));
            std::fs::create_dir(&test).map_err(|e| format!("{}: {e}", dir.display()))?;
            let _ = std::fs::remove_dir(&test);
            Ok(())
        };
        if Path::new(CGROOT).join("cgroup.controllers").exists() {
            match probe(own_group_v2()) {
                Ok(()) => Enforcement::CgroupV2,
                Err(e) => Enforcement::NotEnforced(format!("cgroup v2 not writable: {e}")),
            }
        } else if Path::new(CGROOT).join("memory").is_dir() {
            match probe(own_group_v1("memory")).and_then(|_| probe(own_group_v1("cpu"))) {
                Ok(()) => Enforcement::CgroupV1,
                Err(e) => Enforcement::NotEnforced(format!("cgroup v1 not writable: {e}")),
            }
        } else {
            Enforcement::NotEnforced("no cgroup filesystem at /sys/fs/cgroup".into())
        }
    }

    /// Whether limits are enforced.
    pub fn enforced(&self) -> bool {
        !matches!(self, Enforcement::NotEnforced(_))
    }
}

fn own_path(controller: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let matches = match controller {
            Some(c) => controllers.is_some_and(|cs| cs.split(',').any(|x| x == c)),
            None => controllers == Some(""),
        };
        if matches {
            return PathBuf::from(path.unwrap_or("/").trim_start_matches('/'));
        }
    }
    PathBuf::new()
}

fn own_group_v1(controller: &str) -> PathBuf {
    Path::new(CGROOT)
        .join(controller)
        .join(own_path(Some(controller)))
}

fn own_group_v2() -> PathBuf {
    Path::new(CGROOT).join(own_path(None))
}

/// Whether `name` is safe as one path component (route and cgroup names): 1–200 bytes of
/// `[A-Za-z0-9._-]`, not `.` or `..`, so no `/`, no control characters, nothing that climbs out.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Reads a cgroup's CPU time.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    file: PathBuf,
    v2: bool,
}

impl CpuMeter {
    /// CPU time used so far, in nanoseconds.
    pub fn read_ns(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        if self.v2 {
            let usec: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))?
                .trim()
                .parse()
                .ok()?;
            Some(usec * 1000)
        } else {
            text.trim().parse().ok()
        }
    }
}

/// The cgroups of one instance; removed on drop.
#[derive(Debug)]
pub struct InstanceGroup {
    dirs: Vec<PathBuf>,
}

impl InstanceGroup {
    /// Creates the groups for instance `name` with the given limits (`pids`: most processes and
    /// threads at once; not enforced, with a warning once, where the pids controller is missing).
    pub fn create(
        how: &Enforcement,
        name: &str,
        memory_mb: u64,
        cpu: f64,
        pids: u64,
    ) -> std::io::Result<InstanceGroup> {
        // Unique within the process too: several platforms may run in one process (tests), and
        // two instances sharing a group would share its limit.
        if !is_safe_name(name) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("instance name {:?} is not a safe path component", name),
            ));
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let seq = NEXT.fetch_add(1, Ordering::Relaxed);
        let leaf = format!("quilt-{}-{seq}-{name}", std::process::id());
        let quota = ((cpu * CFS_PERIOD_US as f64).round() as u64).max(1000);
        let memory = memory_mb * 1024 * 1024;
        let mut group = InstanceGroup { dirs: Vec::new() };
        match how {
            Enforcement::CgroupV1 => {
                let mem = own_group_v1("memory").join(&leaf);
                std::fs::create_dir_all(&mem)?;
                group.dirs.push(mem.clone());
                std::fs::write(mem.join("memory.limit_in_bytes"), memory.to_string())?;
                let _ = std::fs::write(mem.join("memory.memsw.limit_in_bytes"), memory.to_string());
                let cpu_dir = own_group_v1("cpu").join(&leaf);
                std::fs::create_dir_all(&cpu_dir)?;
                group.dirs.push(cpu_dir.clone());
                // cpuacct may share the cpu hierarchy or have its own.
                let acct = own_group_v1("cpuacct").join(&leaf);
                if !acct.join("cpuacct.usage").exists() && std::fs::create_dir_all(&acct).is_ok() {
                    group.dirs.push(acct);
                }
                std::fs::write(cpu_dir.join("cpu.cfs_period_us"), CFS_PERIOD_US.to_string())?;
                std::fs::write(cpu_dir.join("cpu.cfs_quota_us"), quota.to_string())?;
                let pids_root = own_group_v1("pids");
                if pids_root.is_dir() {
                    let pids_dir = pids_root.join(&leaf);
                    std::fs::create_dir_all(&pids_dir)?;
                    group.dirs.push(pids_dir.clone());
                    std::fs::write(pids_dir.join("pids.max"), pids.to_string())?;
                } else {
                    warn_no_pids(&pids_root);
                }
            }
            Enforcement::CgroupV2 => {
                let parent = own_group_v2();
                let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory +cpu");
                let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+pids");
                let dir = parent.join(&leaf);
                std::fs::create_dir_all(&dir)?;
                group.dirs.push(dir.clone());
                std::fs::write(dir.join("memory.max"), memory.to_string())?;
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                std::fs::write(dir.join("cpu.max"), format!("{quota} {CFS_PERIOD_US}"))?;
                if dir.join("pids.max").exists() {
                    std::fs::write(dir.join("pids.max"), pids.to_string())?;
                } else {
                    warn_no_pids(&parent);
                }
            }
            Enforcement::NotEnforced(_) => {}
        }
        Ok(group)
    }

    /// The `cgroup.procs` files of the groups: writing `0` to one moves the writing process in
    /// (how an instance joins its groups before it runs any code of its own).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Kills every process still in the groups (what an instance forked), until none is left.
    pub fn kill_all(&self) {
        for _ in 0..100 {
            let mut found = false;
            for dir in &self.dirs {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    found = true;
                    // SAFETY: kill has no memory preconditions; the pid is in this instance's
                    // group, which only its processes can join.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            if !found {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Moves process `pid` into the groups.
    pub fn add(&self, pid: std::num::NonZeroU32) -> std::io::Result<()> {
        for dir in &self.dirs {
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())?;
        }
        Ok(())
    }

    /// A reader of the group's CPU time (nanosecond precision, dead threads included).
    pub fn cpu_meter(&self) -> Option<CpuMeter> {
        // v1: cpuacct.usage, in whichever hierarchy holds it (the v1 cpu controller's own cpu.stat
        // counts throttling, not usage); v2: cpu.stat's usage_usec.
        let v1 = self
            .dirs
            .iter()
            .map(|d| d.join("cpuacct.usage"))
            .find(|f| f.is_file());
        let v1 = v1.map(|file| CpuMeter { file, v2: false });
        v1.or_else(|| {
            self.dirs
                .iter()
                .map(|d| d.join("cpu.stat"))
                .find_map(|file| {
                    let meter = CpuMeter { file, v2: true };
                    meter.read_ns().is_some().then_some(meter)
                })
        })
    }

    /// Whether the memory controller killed a process for exceeding the limit.
    pub fn oom_killed(&self) -> bool {
        self.dirs.iter().any(|d| {
            // v1: the `oom_kill` count of memory.oom_control (kernels >= 4.13); `memory.failcnt`
            // only where that line is missing (it stays 0 when a single allocation is OOM-killed).
            let failcnt = || {
                std::fs::read_to_string(d.join("memory.failcnt"))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            };
            let v1 = std::fs::read_to_string(d.join("memory.oom_control"))
                .ok()
                .map(
                    |s| match s.lines().find_map(|l| l.strip_prefix("oom_kill ")) {
                        Some(n) => n.trim() != "0",
                        None => failcnt(),
                    },
                )
                .unwrap_or(false);
            let v2 = std::fs::read_to_string(d.join("memory.events"))
                .map(|s| {
                    s.lines()
                        .any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0")
                })
                .unwrap_or(false);
            v1 || v2
        })
    }
}

/// Says once per process that process counts are not limited, and why.
fn warn_no_pids(parent: &Path) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "no cgroup pids controller under {}: the number of processes per instance is not \
             limited",
            parent.display()
        )
    });
}

impl Drop for InstanceGroup {
    fn drop(&mut self) {
        self.kill_all();
        for dir in &self.dirs {
            // The group can only go once its processes are gone; retry briefly.
            for _ in 0..20 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_a_folder_are_not_safe() {
        for bad in [
            "", ".", "..", "../x", "a/b", "/abs", "a\0b", "a\nb", "a b", "\u{7f}", "é",
        ] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        for good in ["echo", "hello-merged", "container-merge-a", "f_1.v2"] {
            assert!(is_safe_name(good), "{good:?}");
        }
        let how = Enforcement::NotEnforced("test".into());
        let e = InstanceGroup::create(&how, "../../escape", 64, 1.0, 64).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }
}
