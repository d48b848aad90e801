//! The merge caches: an unchanged group re-merges without rewriting or linking again, and an
//! unchanged object of a changed group is not rewritten or compiled again.
//!
//! Compiling the members is left to cargo and clang (cargo already skips a crate that has not
//! changed). What follows reads only the compiled objects, so a key hashes exactly what a result
//! depends on (the callers of [`Cache::key`] list it), together with the toolchain (the LLVM linked
//! into this process and the linker's version) and the merging compiler's own sources
//! (fingerprinted by its build script). An entry is `<dir>/<key>/` holding one file (a linked
//! binary, or an object file) and what the rewrite found; it is written in a temporary folder and
//! renamed, so a reader sees a whole entry or none. The least recently used entries beyond the
//! cache's limit are removed.

use crate::rewrite::Site;
use crate::structors::Lowered;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const FINDINGS: &str = "findings.json";

/// What the rewrite found, stored beside the binary or object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Findings {
    /// Every invocation site and what became of it.
    pub sites: Vec<Site>,
    /// The constructors and destructors lowered.
    pub structors: Lowered,
    /// The members' entries (`quilt_fn_<ident>`) the module defines.
    #[serde(default)]
    pub entries: Vec<String>,
}

/// A cache of one app: merged binaries in `<work>/merge/cache`, objects in `<work>/merge/objects`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    file: &'static str,
    keep: usize,
}

impl Cache {
    /// The cache in folder `dir` whose entries hold a file named `file`; it keeps the `keep` most
    /// recently used entries.
    pub fn new(dir: PathBuf, file: &'static str, keep: usize) -> Self {
        Self { dir, file, keep }
    }

    /// The key of a result that depends on `parts` (each hashed with its length, in order), the
    /// toolchain and the merging compiler's sources.
    pub fn key<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Result<String> {
        let mut hash = Sha256::new();
        hash.update(env!("QUILT_MERGE_SOURCES"));
        hash.update(llvm_version());
        hash.update(linker_version()?);
        for part in parts {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        Ok(format!("{:x}", hash.finalize()))
    }

    /// The entry for `key`: its file and findings, if stored whole. Marks it recently used.
    pub fn lookup(&self, key: &str) -> Option<(PathBuf, Findings)> {
        let entry = self.dir.join(key);
        let text = std::fs::read_to_string(entry.join(FINDINGS)).ok()?;
        let findings = serde_json::from_str(&text).ok()?;
        let binary = entry.join(self.file);
        if !binary.is_file() {
            return None;
        }
        // The folder's modification time orders eviction.
        let _ =
            std::fs::File::open(&entry).and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some((binary, findings))
    }

    /// Stores `file` and `findings` under `key`, then evicts beyond the limit; returns the stored
    /// file.
    pub fn store(&self, key: &str, file: &Path, findings: &Findings) -> Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        // Unique per process and store, and hidden (a leading dot) from lookups and eviction.
        let tmp = quilt_atomic_file::temp_path(&self.dir.join(format!(".{key}")));
        std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let written = std::fs::copy(file, tmp.join(self.file))
            .with_context(|| format!("copying {} into the merge cache", file.display()))
            .and_then(|_| {
                std::fs::write(tmp.join(FINDINGS), serde_json::to_vec(findings)?)
                    .context("writing the merge cache's findings")
            });
        let entry = self.dir.join(key);
        let installed = written.and_then(|()| {
            let _ = std::fs::remove_dir_all(&entry);
            match std::fs::rename(&tmp, &entry) {
                // Another merge installed the same key in between: its entry is as good.
                Err(_) if self.lookup(key).is_some() => Ok(()),
                other => other.with_context(|| format!("installing {}", entry.display())),
            }
        });
        let _ = std::fs::remove_dir_all(&tmp);
        installed?;
        self.evict()?;
        Ok(entry.join(self.file))
    }

    /// Removes the least recently used entries beyond the limit (and leftovers of interrupted
    /// stores).
    fn evict(&self) -> Result<()> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let used = entry.metadata()?.modified()?;
            if name.to_string_lossy().starts_with('.') {
                // Another store may be writing a temporary folder now; one an hour old was left
                // by an interrupted store.
                if used.elapsed().is_ok_and(|age| age.as_secs() > 3600) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
                continue;
            }
            entries.push((used, entry.path()));
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (_, path) in entries.into_iter().skip(self.keep) {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
        Ok(())
    }
}

/// The version of the LLVM linked into this process.
fn llvm_version() -> String {
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    // SAFETY: LLVMGetVersion only writes the three integers it is given.
    unsafe { llvm_sys::core::LLVMGetVersion(&mut major, &mut minor, &mut patch) };
    format!("llvm {major}.{minor}.{patch}")
}

/// `cc --version`, the driver that links merged binaries as rustc links the app's functions (asked
/// once per process).
fn linker_version() -> Result<Vec<u8>> {
    static VERSION: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    if let Some(v) = VERSION.get() {
        return Ok(v.clone());
    }
    let output = Command::new("cc")
        .arg("--version")
        .output()
        .context("running cc --version")?;
    Ok(VERSION.get_or_init(|| output.stdout).clone())
}
