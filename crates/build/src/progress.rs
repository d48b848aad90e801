//! Stage lines for the long steps (build, merge): each stage ends with a line on stderr that names
//! it and gives its time, and while it runs a spinner shows its elapsed time, when [`show`] switched
//! them on (the `quilt` command does: lines always, spinners on a terminal). Off by default:
//! libraries and tests print nothing (the line is a `tracing` debug event then).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static LINES: AtomicBool = AtomicBool::new(false);
static SPINNERS: AtomicBool = AtomicBool::new(false);

/// Prints a line on stderr when a stage ends (`lines`), and draws a spinner while one runs
/// (`spinners`).
pub fn show(lines: bool, spinners: bool) {
    LINES.store(lines, Ordering::Relaxed);
    SPINNERS.store(spinners, Ordering::Relaxed);
}

/// A running stage; [`Stage::done`] reports its line, dropping it unfinished (an error) clears its
/// spinner and reports nothing.
pub struct Stage {
    what: String,
    started: Instant,
    spinner: Option<indicatif::ProgressBar>,
}

impl Stage {
    /// Starts a stage, e.g. `merge compose-post: remove dead code`, with a spinner when they are on.
    pub fn start(what: impl Into<String>) -> Stage {
        let what = what.into();
        let spinner = SPINNERS.load(Ordering::Relaxed).then(|| {
            let bar = indicatif::ProgressBar::new_spinner().with_message(what.clone());
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Stage {
            what,
            started: Instant::now(),
            spinner,
        }
    }

    /// Starts a stage that draws no spinner (a child process draws its own progress, as cargo
    /// does on a terminal).
    pub fn start_plain(what: impl Into<String>) -> Stage {
        Stage {
            what: what.into(),
            started: Instant::now(),
            spinner: None,
        }
    }

    /// Ends the stage: reports `<what>: <seconds> s` and returns the seconds.
    pub fn done(self) -> f64 {
        self.done_with("")
    }

    /// Ends the stage with a note after its time, e.g. `(cached)`.
    pub fn done_with(mut self, note: &str) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
        let note = if note.is_empty() {
            String::new()
        } else {
            format!(" {note}")
        };
        if LINES.load(Ordering::Relaxed) {
            eprintln!("quilt: {}: {seconds:.1} s{note}", self.what);
        } else {
            tracing::debug!("{}: {seconds:.1} s{note}", self.what);
        }
        seconds
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
    }
}
