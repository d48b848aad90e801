//! `quilt logs`: a function's log as `quilt up` keeps it (`.quilt/logs/<function>.log` and the
//! rotated `.log.1` before it), every line prefixed with its function and instance; `-f` follows
//! it as it grows (and across rotations).

use anyhow::{bail, Result};
use clap::Args;
use quilt_manifest::Manifest;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

/// `quilt logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The function.
    pub function: String,
    /// The app folder.
    #[arg(long, default_value = ".")]
    pub app: PathBuf,
    /// Keep printing lines as they are written (Ctrl-C stops).
    #[arg(short, long)]
    pub follow: bool,
    /// Print only the last N lines first.
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
}

/// Runs `quilt logs`.
pub fn run(args: &LogsArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    if manifest.function(&args.function).is_none()
        && !crate::up::deployables(&manifest)?
            .iter()
            .any(|d| d.name == args.function)
    {
        let names: Vec<&str> = manifest.functions.iter().map(|f| f.name.as_str()).collect();
        bail!(
            "app '{}' has no function '{}' (it has: {})",
            manifest.name,
            args.function,
            names.join(", ")
        );
    }
    let current = crate::up::log_dir(&manifest).join(format!("{}.log", args.function));
    let rotated = current.with_extension("log.1");
    if !current.exists() && !rotated.exists() && !args.follow {
        bail!(
            "no log of '{}' yet in {} (`quilt up` writes it once an instance runs)",
            args.function,
            current.display()
        );
    }
    let mut text = String::new();
    for path in [&rotated, &current] {
        if let Ok(t) = std::fs::read_to_string(path) {
            text.push_str(&t);
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let skip = args.lines.map_or(0, |n| lines.len().saturating_sub(n));
    let mut out = std::io::stdout().lock();
    for line in &lines[skip..] {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(());
    }
    // Follow: read what is appended; a file shorter than what was read has been rotated.
    let mut read = std::fs::metadata(&current).map_or(0, |m| m.len());
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(mut f) = std::fs::File::open(&current) else {
            continue;
        };
        let len = f.metadata()?.len();
        if len < read {
            read = 0;
        }
        if len > read {
            f.seek(SeekFrom::Start(read))?;
            let mut new = Vec::new();
            f.take(len - read).read_to_end(&mut new)?;
            read = len;
            out.write_all(&new)?;
            out.flush()?;
        }
    }
}
