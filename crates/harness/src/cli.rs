//! The `quilt` binary as a user runs it: a [`Command`] builder and [`Up`], a `quilt up` child
//! process serving an app.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The `quilt` binary of this build: beside the test executable's `deps` folder (cargo builds a
/// package's binaries before running its integration tests).
pub fn quilt_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe
        .parent()
        .expect("the test executable's folder")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let quilt = dir.join("quilt");
    assert!(
        quilt.is_file(),
        "no quilt binary at {} (build the quilt-cli package first)",
        quilt.display()
    );
    quilt
}

/// `quilt` as the tests run it: from the workspace root, sharing the test apps' target folder,
/// logging warnings only, without colours and without a gateway from the environment.
pub fn quilt() -> Command {
    let mut cmd = Command::new(quilt_exe());
    cmd.current_dir(crate::root())
        .env("QUILT_TARGET_DIR", crate::quilt_target_dir())
        .env("QUILT_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("QUILT_GATEWAY_URL");
    cmd
}

/// Bytes as text (lossily).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `quilt up` child process serving an app on a free port. Its standard error is kept (and
/// echoed to the test's); dropping it stops the child with SIGTERM (so that it cleans up), then
/// SIGKILL if it does not stop.
pub struct Up {
    child: Child,
    /// The gateway's address.
    pub gateway: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Up {
    /// Starts `quilt up <workspace>/<app> --port 0` (which builds the app) and waits for its
    /// gateway address.
    pub fn start(app: &str) -> Up {
        Up::with_args(&crate::root().join(app), &[])
    }

    /// Starts `quilt up <dir> --port 0 <args>` and waits for its gateway address. Unless `args`
    /// has `--no-build`, the start (which builds) holds the build lock.
    pub fn with_args(dir: &Path, args: &[&str]) -> Up {
        Up::with_env(dir, args, &[])
    }

    /// [`Up::with_args`] with variables added to `quilt up`'s environment.
    pub fn with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Up {
        // Builds of one app must not overlap (other test processes may build it too).
        let lock = (!args.contains(&"--no-build")).then(|| crate::build_lock(dir));
        let mut child = quilt()
            .arg("up")
            .arg(dir)
            .args(["--port", "0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting quilt up");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("QUILT_GATEWAY http://") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let what = format!("quilt up {} {args:?}", dir.display());
        // The first build compiles the runtime and the functions' dependencies.
        let end = Instant::now() + Duration::from_secs(900);
        let gateway = loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(addr) => break addr.parse().expect("gateway address"),
                Err(_) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        std::thread::sleep(Duration::from_millis(100));
                        let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        panic!("{what} exited before serving: {status}\n{log}");
                    }
                    if Instant::now() > end {
                        let _ = child.kill();
                        panic!("{what} did not start serving");
                    }
                }
            }
        };
        drop(lock);
        Up {
            child,
            gateway,
            log,
        }
    }

    /// The gateway's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote on standard error so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends `signal` (e.g. "TERM") and waits for a clean exit (status 0).
    pub fn stop(self, signal: &str) {
        let status = self.stop_with(signal);
        assert!(
            status.success(),
            "quilt up exited with {status} on SIG{signal}"
        );
    }

    /// Sends `signal` (e.g. "TERM") and waits up to 30 s for the child to exit; its exit status.
    pub fn stop_with(mut self, signal: &str) -> ExitStatus {
        assert!(signal_pid(self.child.id(), signal), "kill -{signal} failed");
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < end, "quilt up ignored SIG{signal}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal_pid(self.child.id(), "TERM");
            let end = Instant::now() + Duration::from_secs(10);
            while let Ok(None) = self.child.try_wait() {
                if Instant::now() > end {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.wait();
        }
    }
}

/// Sends `signal` (a name such as "TERM") to process `pid`; whether `kill` succeeded.
pub fn signal_pid(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
