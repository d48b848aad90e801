//! Function logs: every line an instance writes on its standard output or error, prefixed with its
//! function and instance (`[<function>#<instance>] <line>`), echoed on the platform's standard
//! error and, when the platform has a log folder, kept in a bounded file per function:
//! `<dir>/<function>.log`, moved to `<function>.log.1` (replacing the one before) once it holds
//! [`MAX_BYTES`], so a function keeps at most twice that.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes a function's current log file holds before it is rotated.
pub const MAX_BYTES: u64 = 4 << 20;

/// Longest line kept whole; longer ones are cut into pieces of this size.
const MAX_LINE: usize = 8 << 10;

/// The log of one function.
pub struct FunctionLog {
    function: String,
    path: Option<PathBuf>,
    max_bytes: u64,
    file: Mutex<Option<(std::fs::File, u64)>>,
}

impl FunctionLog {
    /// The log of `function`, kept in `dir` (or only echoed), rotated at `max_bytes`.
    pub fn new(dir: Option<&Path>, function: &str, max_bytes: u64) -> Self {
        FunctionLog {
            function: function.to_string(),
            path: dir.map(|d| d.join(format!("{function}.log"))),
            max_bytes,
            file: Mutex::new(None),
        }
    }

    /// Records one line written by `instance`.
    pub fn line(&self, instance: u64, line: &str) {
        let text = format!("[{}#{instance}] {line}\n", self.function);
        eprint!("{text}");
        let Some(path) = &self.path else {
            return;
        };
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if file.is_none() {
            *file = open(path);
        }
        let Some((f, size)) = file.as_mut() else {
            return;
        };
        if f.write_all(text.as_bytes()).is_err() {
            *file = None;
            return;
        }
        *size += text.len() as u64;
        if *size >= self.max_bytes {
            let _ = std::fs::rename(path, path.with_extension("log.1"));
            *file = None;
        }
    }
}

fn open(path: &Path) -> Option<(std::fs::File, u64)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| tracing::warn!("cannot open the log {}: {e}", path.display()))
        .ok()?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    Some((f, size))
}

/// Copies what `reader` yields, line by line, into `log` as `instance`'s, until it ends. Bytes
/// that are not UTF-8 are replaced; lines longer than 8 KiB are cut.
pub async fn pump(mut reader: impl AsyncRead + Unpin, log: &FunctionLog, instance: u64) {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            log.line(instance, &String::from_utf8_lossy(&pending[..end]));
            pending.drain(..=end);
        }
        while pending.len() >= MAX_LINE {
            log.line(instance, &String::from_utf8_lossy(&pending[..MAX_LINE]));
            pending.drain(..MAX_LINE);
        }
    }
    if !pending.is_empty() {
        log.line(instance, &String::from_utf8_lossy(&pending));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_prefixed_cut_and_the_file_rotates_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let log = FunctionLog::new(Some(dir.path()), "f", 200);
        let input: &[u8] = b"one\ntwo \xff\nlast without newline";
        pump(input, &log, 3).await;
        let text = std::fs::read_to_string(dir.path().join("f.log")).unwrap();
        assert_eq!(
            text,
            "[f#3] one\n[f#3] two \u{fffd}\n[f#3] last without newline\n"
        );
        // A long line is cut; past 200 bytes the file moves to f.log.1 and a new one starts.
        let long = vec![b'x'; MAX_LINE + 10];
        pump(&long[..], &log, 4).await;
        let old = std::fs::read_to_string(dir.path().join("f.log.1")).unwrap();
        assert!(old.starts_with("[f#3] one\n"), "{old}");
        let current = std::fs::read_to_string(dir.path().join("f.log")).unwrap_or_default();
        assert!(
            current.len() as u64 <= 200 + MAX_LINE as u64,
            "{}",
            current.len()
        );
        let pieces: usize = [&old, &current]
            .iter()
            .map(|t| t.lines().filter(|l| l.starts_with("[f#4] ")).count())
            .sum();
        assert_eq!(pieces, 2);
    }
}
