//! Files replaced whole. New contents are made at a temporary path beside the file (same folder,
//! so that the rename is atomic) and renamed over it: a reader sees the old file or the new one,
//! never half of one, and a failure leaves the old file and no temporary behind.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temporary path beside `path`, unique within this process and among processes.
pub fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Makes the new contents of `path` with `make` (given the temporary path to write) and renames
/// them over `path`. When `make` or the rename fails, the temporary file is removed and `path` is
/// left as it was.
pub fn replace_with<T, E: From<io::Error>>(
    path: &Path,
    make: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<T, E> {
    let tmp = temp_path(path);
    let made = make(&tmp).and_then(|value| {
        std::fs::rename(&tmp, path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("renaming {} to {}: {e}", tmp.display(), path.display()),
            )
        })?;
        Ok(value)
    });
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made
}

/// Writes `bytes` as the new contents of `path`, creating its folder if missing; the data reaches
/// the disk before the rename.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    replace_with(path, |tmp| {
        let mut file = std::fs::File::create(tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_replaces_the_file_and_creates_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/plan.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(entries(&dir.path().join("a/b")), ["plan.json"]);
    }

    #[test]
    fn a_failed_make_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chart.svg");
        std::fs::write(&path, "old").unwrap();
        let failed: io::Result<()> = replace_with(&path, |tmp| {
            std::fs::write(tmp, "half")?;
            Err(io::Error::other("drawing failed"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "drawing failed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(entries(dir.path()), ["chart.svg"]);
    }

    #[test]
    fn a_failed_rename_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        // A folder in the way: renaming a file over a non-empty folder fails.
        let path = dir.path().join("taken");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), "x").unwrap();
        assert!(write(&path, b"new").is_err());
        assert_eq!(entries(dir.path()), ["taken"]);
    }

    #[test]
    fn temporary_paths_are_beside_the_file_and_distinct() {
        let path = Path::new("/some/dir/file.txt");
        let (a, b) = (temp_path(path), temp_path(path));
        assert_eq!(a.parent(), path.parent());
        assert_ne!(a, b);
    }
}
