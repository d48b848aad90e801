//! The instance sandbox: how a function's process is started.
//!
//! Between `fork` and `exec`, a sandboxed instance
//!
//! 1. joins its cgroups (memory, CPU, pids) before it runs any code of its own;
//! 2. enters its emulated host's network namespace itself when placed there (`ip netns exec`
//!    would need the privileges the sandbox takes away);
//! 3. gets a mount namespace of its own whose root is a fresh tmpfs holding only read-only
//!    bind mounts of the system folders (`/usr`, `/etc`, the `/bin` and `/lib` links), a few
//!    devices (`/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`), a private `/tmp` and
//!    `/dev/shm`, a `/proc` mounted with `hidepid=invisible`, and its own binary at its usual path:
//!    no app folder (so no `.quilt/admin-token`), no other function's or app's files;
//! 4. drops to a user of its own: uid = gid = [`UID_BASE`] + a hash of its binary and route, with
//!    no supplementary groups and no capabilities (with `hidepid`, it sees only its own processes);
//! 5. dies with the platform (`PR_SET_PDEATHSIG`, set after the user change, which clears it);
//! 6. sets `no_new_privs` and installs a seccomp filter (last) that fails with `EPERM` the system
//!    calls a function never needs ([`DENIED`], and `clone` with namespace flags); `clone3` fails
//!    with `ENOSYS`, so that the C library falls back to `clone`, whose flags the filter can read.
//!
//! Steps 2–4 need root (`CAP_SYS_ADMIN`, `CAP_SETUID`, `CAP_SETGID`). A platform without them says
//! so once, with a warning, and its instances get steps 1, 5 and 6 only: they run as the
//! platform's user and see what it sees. Container merges (an inner platform) are not sandboxed
//! here: the inner platform sandboxes its members.
//!
//! Everything is prepared before `fork`: the child only makes system calls (no allocation, as
//! required after `fork` in a threaded process). A failing step writes its name to the instance's
//! stderr and the spawn fails with its error.

use crate::instances::{Deployable, Placement};
use crate::limits::InstanceGroup;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// First uid (and gid) of instance users; an instance's is `UID_BASE + hash % UID_SPAN`. The
/// range has no passwd entries: nothing on the machine belongs to these users.
pub const UID_BASE: u32 = 1_500_000_000;
/// Size of the uid range.
pub const UID_SPAN: u32 = 1 << 20;

/// Where an instance's new root is assembled (inside its own mount namespace; the folder on the
/// machine stays empty).
const STAGING: &str = "/run/quilt-sandbox";

/// System calls that fail with `EPERM` in an instance.
pub const DENIED: &[(&str, i64)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("kcmp", libc::SYS_kcmp),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("syslog", libc::SYS_syslog),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("vhangup", libc::SYS_vhangup),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
    #[cfg(target_arch = "x86_64")]
    ("uselib", libc::SYS_uselib),
];

/// The `clone` flags that create namespaces (refused with `EPERM`).
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

/// What this machine lets the sandbox do, found once per process.
struct Support {
    /// Mount namespace, own root, own user, network namespace entry.
    privileged: bool,
    /// The seccomp programs (deny list, then clone3), when this architecture has them.
    filters: Option<Arc<Vec<BpfProgram>>>,
}

fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(|| {
        let privileged = match privileges() {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!(
                    "instances are not isolated from each other or from the platform's files: \
                     {why}; they run as the platform's user, see its processes and files, and get \
                     only their cgroups, no_new_privs and the seccomp filter"
                );
                false
            }
        };
        let filters = match filters() {
            Ok(f) => Some(Arc::new(f)),
            Err(why) => {
                tracing::warn!("instances run without a seccomp filter: {why}");
                None
            }
        };
        Support {
            privileged,
            filters,
        }
    })
}

/// Whether the platform can build sandboxes that need root; if not, why.
fn privileges() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .ok_or("no CapEff line in /proc/self/status")?;
    for (bit, name) in [(21, "CAP_SYS_ADMIN"), (7, "CAP_SETUID"), (6, "CAP_SETGID")] {
        if cap_eff & (1 << bit) == 0 {
            return Err(format!(
                "the platform is not root (it lacks {name}), so it cannot switch users or \
                 make mount namespaces"
            ));
        }
    }
    std::fs::create_dir_all(STAGING).map_err(|e| format!("cannot create {STAGING}: {e}"))?;
    Ok(())
}

/// The seccomp programs every sandboxed instance gets.
fn filters() -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("architecture {}: {e}", std::env::consts::ARCH))?;
    let err = |e: seccompiler::BackendError| format!("building the filter: {e}");
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?;
            SeccompRule::new(vec![cond])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    rules.insert(libc::SYS_clone, clone_rules);
    let deny = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(err)?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(err)?;
    let deny: BpfProgram = deny.try_into().map_err(err)?;
    let clone3: BpfProgram = clone3.try_into().map_err(err)?;
    let mut programs = vec![deny, clone3];
    if cfg!(target_arch = "x86_64") {
        programs.push(no_x32());
    }
    Ok(programs)
}

/// x32 system calls (numbers with bit 30 set) carry the x86-64 audit architecture, so the deny
/// list would not see them: they fail with `ENOSYS`, as in Docker's default profile.
fn no_x32() -> BpfProgram {
    use libc::{BPF_ABS, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let stmt = |code: u32, k: u32| seccompiler::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    // offsetof(struct seccomp_data, nr) = 0.
    vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, 0),
        seccompiler::sock_filter {
            code: (BPF_JMP | BPF_JGE | BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        stmt(
            BPF_RET | BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// The uid (and gid) of a deployable's instances: one per binary and route, in the range
/// [`UID_BASE`]`..`[`UID_BASE`]` + `[`UID_SPAN`].
pub fn instance_uid(binary: &Path, route: &str) -> u32 {
    // FNV-1a: stable across runs and builds.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in binary
        .as_os_str()
        .as_bytes()
        .iter()
        .chain(b"\0")
        .chain(route.as_bytes())
    {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    UID_BASE + (h % UID_SPAN as u64) as u32
}

/// One step of building the instance's root, run in the child.
enum Step {
    Mkdir(CString),
    /// An empty file (a bind mount target).
    Touch(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// `pivot_root` into the staging folder and detach the old root.
    Pivot(CString),
}

/// Everything the child does between `fork` and `exec`, prepared beforehand.
struct Plan {
    parent: libc::pid_t,
    cgroup_procs: Vec<CString>,
    netns: Option<OwnedFd>,
    root: Vec<Step>,
    user: Option<libc::uid_t>,
    filters: Option<Arc<Vec<BpfProgram>>>,
}

fn cstr(p: impl AsRef<[u8]>) -> Result<CString, String> {
    CString::new(p.as_ref().to_vec()).map_err(|_| {
        format!(
            "path {:?} holds a NUL byte",
            String::from_utf8_lossy(p.as_ref())
        )
    })
}

fn path_c(p: &Path) -> Result<CString, String> {
    cstr(p.as_os_str().as_bytes())
}

/// `program` run by the command `prefix` (such as `ip netns exec <name>`; empty: directly).
pub(crate) fn prefixed(
    prefix: &[String],
    program: impl AsRef<std::ffi::OsStr>,
) -> std::process::Command {
    match prefix.split_first() {
        Some((first, rest)) => {
            let mut cmd = std::process::Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
        None => std::process::Command::new(program),
    }
}

/// The network namespace named by an `ip netns exec <name>` prefix.
fn netns_of(prefix: &[String]) -> Option<&str> {
    match prefix {
        [ip, netns, exec, name] if ip == "ip" && netns == "netns" && exec == "exec" => Some(name),
        _ => None,
    }
}

/// Builds the command of one instance of `spec` (placed on `placement`, in `group`): the binary,
/// under its placement's prefix unless the sandbox enters the namespace itself, with the sandbox
/// installed. The caller adds arguments, environment and standard streams.
pub(crate) fn command(
    spec: &Deployable,
    placement: Option<&Placement>,
    group: Option<&InstanceGroup>,
) -> Result<tokio::process::Command, String> {
    let prefix = placement.map_or(&[][..], |p| &p.prefix[..]);
    let cgroup_procs = group
        .map(|g| g.procs_files().iter().map(|p| path_c(p)).collect())
        .transpose()?
        .unwrap_or_default();
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    if !spec.sandbox {
        let mut cmd = tokio::process::Command::from(prefixed(prefix, &spec.binary));
        install(
            &mut cmd,
            Plan {
                parent,
                cgroup_procs,
                netns: None,
                root: Vec::new(),
                user: None,
                filters: None,
            },
        );
        return Ok(cmd);
    }
    let support = support();
    let binary = spec
        .binary
        .canonicalize()
        .map_err(|e| format!("cannot start {}: {e}", spec.binary.display()))?;
    let (mut cmd, netns) = match (support.privileged, netns_of(prefix)) {
        (true, Some(name)) => {
            let file = format!("/run/netns/{name}");
            let fd = std::fs::File::open(&file)
                .map_err(|e| format!("cannot open network namespace {file}: {e}"))?;
            (
                tokio::process::Command::new(&binary),
                Some(OwnedFd::from(fd)),
            )
        }
        _ => (prefixed(prefix, &binary).into(), None),
    };
    let (root, user) = if support.privileged {
        (
            root_steps(&binary)?,
            Some(instance_uid(&binary, &spec.name)),
        )
    } else {
        (Vec::new(), None)
    };
    install(
        &mut cmd,
        Plan {
            parent,
            cgroup_procs,
            netns,
            root,
            user,
            filters: support.filters.clone(),
        },
    );
    Ok(cmd)
}

/// System folders bound read-only into every instance's root (links are recreated as links).
const SYSTEM: &[&str] = &[
    "usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32",
];
/// Devices bound into `/dev`.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The steps that assemble an instance's root around `binary` (absolute, canonical).
fn root_steps(binary: &Path) -> Result<Vec<Step>, String> {
    let staging = Path::new(STAGING);
    let at = |rel: &str| path_c(&staging.join(rel));
    let mut steps = Vec::new();
    let bind = |steps: &mut Vec<Step>, source: &Path, target: CString, read_only: bool| {
        steps.push(Step::Mount {
            source: Some(path_c(source)?),
            target: target.clone(),
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
        });
        if read_only {
            steps.push(Step::Mount {
                source: None,
                target,
                fstype: None,
                flags: libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                data: None,
            });
        }
        Ok::<_, String>(())
    };
    let tmpfs = |target: CString, flags: libc::c_ulong, data: &str| {
        Ok::<_, String>(Step::Mount {
            source: Some(cstr("tmpfs")?),
            target,
            fstype: Some(cstr("tmpfs")?),
            flags,
            data: Some(cstr(data)?),
        })
    };
    // Mounts made from here on stay in this namespace.
    steps.push(Step::Mount {
        source: None,
        target: cstr("/")?,
        fstype: None,
        flags: libc::MS_REC | libc::MS_PRIVATE,
        data: None,
    });
    steps.push(tmpfs(
        path_c(staging)?,
        libc::MS_NOSUID | libc::MS_NODEV,
        "mode=0755,size=1m",
    )?);
    for name in SYSTEM {
        let host = Path::new("/").join(name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&host)
                    .map_err(|e| format!("cannot read link {}: {e}", host.display()))?;
                steps.push(Step::Symlink {
                    target: path_c(&target)?,
                    link: at(name)?,
                });
            }
            Ok(m) if m.is_dir() => {
                steps.push(Step::Mkdir(at(name)?));
                bind(&mut steps, &host, at(name)?, true)?;
            }
            _ => {}
        }
    }
    steps.push(Step::Mkdir(at("dev")?));
    for dev in DEVICES {
        let host = Path::new("/dev").join(dev);
        if host.exists() {
            let target = at(&format!("dev/{dev}"))?;
            steps.push(Step::Touch(target.clone()));
            bind(&mut steps, &host, target, false)?;
        }
    }
    for (link, target) in [
        ("dev/fd", "/proc/self/fd"),
        ("dev/stdin", "/proc/self/fd/0"),
        ("dev/stdout", "/proc/self/fd/1"),
        ("dev/stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink {
            target: cstr(target)?,
            link: at(link)?,
        });
    }
    let private = libc::MS_NOSUID | libc::MS_NODEV;
    for dir in ["dev/shm", "tmp"] {
        steps.push(Step::Mkdir(at(dir)?));
        steps.push(tmpfs(at(dir)?, private, "mode=1777")?);
    }
    steps.push(Step::Mkdir(at("proc")?));
    steps.push(Step::Mount {
        source: Some(cstr("proc")?),
        target: at("proc")?,
        fstype: Some(cstr("proc")?),
        flags: private | libc::MS_NOEXEC,
        data: Some(cstr("hidepid=invisible")?),
    });
    // The binary at its own path, unless a system folder holds it already.
    let rel = binary
        .strip_prefix("/")
        .map_err(|_| format!("{} is not an absolute path", binary.display()))?;
    let first = rel.components().next().map(|c| c.as_os_str().as_bytes());
    if !SYSTEM.iter().any(|s| first == Some(s.as_bytes())) {
        let mut dir = PathBuf::new();
        let parents: Vec<_> = rel
            .parent()
            .map(|p| p.components().collect())
            .unwrap_or_default();
        for c in parents {
            dir.push(c);
            steps.push(Step::Mkdir(path_c(&staging.join(&dir))?));
        }
        let target = path_c(&staging.join(rel))?;
        steps.push(Step::Touch(target.clone()));
        bind(&mut steps, binary, target, true)?;
    }
    steps.push(Step::Pivot(path_c(staging)?));
    Ok(steps)
}

/// Installs `plan` as the command's `pre_exec`.
fn install(cmd: &mut tokio::process::Command, plan: Plan) {
    // SAFETY: the closure only makes async-signal-safe system calls on data prepared before the
    // fork (no allocation, no locks).
    unsafe {
        cmd.pre_exec(move || plan.run());
    }
}

/// The error of the last system call, after writing which step failed to stderr.
fn failed(step: &CStr) -> io::Error {
    let error = io::Error::last_os_error();
    let prefix = b"quilt sandbox: failed to ";
    // SAFETY: plain writes of valid buffers to the inherited stderr.
    unsafe {
        libc::write(2, prefix.as_ptr().cast(), prefix.len());
        libc::write(2, step.as_ptr().cast(), step.to_bytes().len());
        libc::write(2, b"\n".as_ptr().cast(), 1);
    }
    error
}

fn check(rc: libc::c_int, step: &CStr) -> io::Result<()> {
    if rc < 0 {
        Err(failed(step))
    } else {
        Ok(())
    }
}

fn opt_ptr(s: &Option<CString>) -> *const libc::c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

impl Plan {
    /// Runs in the child between `fork` and `exec`.
    fn run(&self) -> io::Result<()> {
        for file in &self.cgroup_procs {
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            let fd = unsafe { libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            check(fd, c"open a cgroup.procs file")?;
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            unsafe { libc::close(fd) };
            check(n as libc::c_int, c"join the instance's cgroup")?;
        }
        if let Some(fd) = &self.netns {
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            check(rc, c"enter the host's network namespace")?;
        }
        if !self.root.is_empty() {
            check(
                // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
                unsafe { libc::unshare(libc::CLONE_NEWNS) },
                c"make a mount namespace",
            )?;
            for step in &self.root {
                step.run()?;
            }
        }
        if let Some(id) = self.user {
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            unsafe {
                check(
                    libc::setgroups(0, std::ptr::null()),
                    c"drop supplementary groups",
                )?;
                check(
                    libc::setresgid(id, id, id),
                    c"switch to the instance's group",
                )?;
                check(
                    libc::setresuid(id, id, id),
                    c"switch to the instance's user",
                )?;
            }
        }
        // After the user change, which clears it.
        check(
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) },
            c"set the parent-death signal",
        )?;
        // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
        if unsafe { libc::getppid() } != self.parent {
            // The platform died before the signal was set.
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            unsafe { libc::_exit(1) };
        }
        check(
            // SAFETY: a system call on buffers the plan owns, in the single-threaded child.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) },
            c"set no_new_privs",
        )?;
        if let Some(filters) = &self.filters {
            for filter in filters.iter() {
                if seccompiler::apply_filter(filter).is_err() {
                    return Err(failed(c"install the seccomp filter"));
                }
            }
        }
        Ok(())
    }
}

impl Step {
    fn run(&self) -> io::Result<()> {
        // SAFETY: system calls on valid, NUL-terminated buffers owned by the step.
        unsafe {
            match self {
                Step::Mkdir(p) => {
                    if libc::mkdir(p.as_ptr(), 0o755) < 0
                        && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
                    {
                        return Err(failed(p));
                    }
                }
                Step::Touch(p) => {
                    let fd = libc::open(
                        p.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    );
                    check(fd, p)?;
                    libc::close(fd);
                }
                Step::Symlink { target, link } => {
                    check(libc::symlink(target.as_ptr(), link.as_ptr()), link)?;
                }
                Step::Mount {
                    source,
                    target,
                    fstype,
                    flags,
                    data,
                } => {
                    let rc = libc::mount(
                        opt_ptr(source),
                        target.as_ptr(),
                        opt_ptr(fstype),
                        *flags,
                        opt_ptr(data).cast(),
                    );
                    check(rc, target)?;
                }
                Step::Pivot(root) => {
                    check(libc::chdir(root.as_ptr()), root)?;
                    let dot = c".";
                    let rc = libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr());
                    check(rc as libc::c_int, c"pivot_root into the instance's root")?;
                    check(
                        libc::umount2(dot.as_ptr(), libc::MNT_DETACH),
                        c"detach the old root",
                    )?;
                    check(libc::chdir(c"/".as_ptr()), c"chdir /")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_in_their_range_and_differ_per_route_and_binary() {
        let a = instance_uid(Path::new("/apps/a/.quilt/bin/f"), "f");
        let b = instance_uid(Path::new("/apps/b/.quilt/bin/f"), "f");
        let c = instance_uid(Path::new("/apps/a/.quilt/bin/f"), "g");
        for u in [a, b, c] {
            assert!((UID_BASE..UID_BASE + UID_SPAN).contains(&u), "{u}");
        }
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, instance_uid(Path::new("/apps/a/.quilt/bin/f"), "f"));
    }

    #[test]
    fn only_ip_netns_exec_prefixes_name_a_namespace() {
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            netns_of(&p(&["ip", "netns", "exec", "quilt-1-h0"])),
            Some("quilt-1-h0")
        );
        assert_eq!(netns_of(&p(&["nice", "-n", "5"])), None);
        assert_eq!(netns_of(&[]), None);
    }

    #[test]
    fn the_filters_build_on_this_architecture() {
        let f = filters().unwrap();
        assert!(f.len() >= 2);
        assert!(f.iter().all(|p| !p.is_empty()));
    }
}
