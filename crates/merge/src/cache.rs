//! The merge cache: an unchanged group re-merges without merging, optimizing or linking again.
//!
//! Compiling the members is left to cargo and clang (cargo already skips a crate that has not
//! changed). What follows reads only the compiled bitcode, so the cache key hashes exactly that:
//! the members, the fan-out threshold, the Rust whole-program module and the C/C++ modules in
//! order, whether the C++ library is linked, the toolchain (the LLVM linked into this process and
//! clang-22's version) and the merging compiler's own sources (fingerprinted by its build script). An entry is
//! `<app>/.quilt/merge/cache/<key>/` holding the linked binary and what the rewrite found; it is
//! written in a temporary folder and renamed, so a reader sees a whole entry or none. The least
//! recently used entries beyond [`KEEP`] are removed.

use crate::rewrite::Site;
use crate::structors::Lowered;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Entries kept per app; older ones are removed when a new one is stored.
pub const KEEP: usize = 32;

const BINARY: &str = "merged.bin";
const FINDINGS: &str = "findings.json";

/// What the merge stage found, stored beside the binary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Findings {
    /// Every invocation site and what became of it.
    pub sites: Vec<Site>,
    /// The constructors and destructors lowered.
    pub structors: Lowered,
}

/// The cache of one app: `<work>/merge/cache`.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in folder `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The key of a merge of `members` from these bitcode files (Rust module first) with a fan-out
    /// threshold, linked with the C++ library or not.
    pub fn key(
        bitcode: &[&Path],
        members: &[String],
        fanout_threshold: usize,
        cpp: bool,
    ) -> Result<String> {
        let mut hash = Sha256::new();
        hash.update(env!("QUILT_MERGE_SOURCES"));
        hash.update(llvm_version());
        hash.update(clang_version()?);
        hash.update([u8::from(cpp)]);
        hash.update((fanout_threshold as u64).to_le_bytes());
        for m in members {
            hash.update((m.len() as u64).to_le_bytes());
            hash.update(m);
        }
        for path in bitcode {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
        Ok(format!("{:x}", hash.finalize()))
    }

    /// The entry for `key`: its binary and findings, if stored whole. Marks it recently used.
    pub fn lookup(&self, key: &str) -> Option<(PathBuf, Findings)> {
        let entry = self.dir.join(key);
        let text = std::fs::read_to_string(entry.join(FINDINGS)).ok()?;
        let findings = serde_json::from_str(&text).ok()?;
        let binary = entry.join(BINARY);
        if !binary.is_file() {
            return None;
        }
        // The folder's modification time orders eviction.
        let _ =
            std::fs::File::open(&entry).and_then(|f| f.set_modified(std::time::SystemTime::now()));
        Some((binary, findings))
    }

    /// Stores `binary` and `findings` under `key`, then evicts beyond [`KEEP`].
    pub fn store(&self, key: &str, binary: &Path, findings: &Findings) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let tmp = self.dir.join(format!(".{key}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let written = std::fs::copy(binary, tmp.join(BINARY))
            .with_context(|| format!("copying {} into the merge cache", binary.display()))
            .and_then(|_| {
                std::fs::write(tmp.join(FINDINGS), serde_json::to_vec(findings)?)
                    .context("writing the merge cache's findings")
            });
        let entry = self.dir.join(key);
        let installed = written.and_then(|()| {
            let _ = std::fs::remove_dir_all(&entry);
            std::fs::rename(&tmp, &entry).with_context(|| format!("installing {}", entry.display()))
        });
        if installed.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        installed?;
        self.evict()
    }

    /// Removes the least recently used entries beyond [`KEEP`] (and leftovers of interrupted
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
        for (_, path) in entries.into_iter().skip(KEEP) {
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

/// `clang-22 --version`, which links merged binaries.
fn clang_version() -> Result<Vec<u8>> {
    let clang = quilt_build::paths::llvm_tool("clang");
    let output = Command::new(&clang)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", clang.display()))?;
    Ok(output.stdout)
}
