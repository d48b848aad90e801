//! `quilt.toml`: any text either parses into a manifest whose names are safe path components, or
//! gives one error naming the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// An app folder with a Rust crate (`r/`) and a C file (`c.c`), so that sources can resolve.
fn app_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("quilt-fuzz-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("r")).unwrap();
        std::fs::write(dir.join("r/Cargo.toml"), "").unwrap();
        std::fs::write(dir.join("c.c"), "").unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = app_dir();
    let file = dir.join("quilt.toml");
    match quilt_manifest::Manifest::parse(dir, &file, text) {
        Ok(m) => {
            quilt_manifest::check_name(&m.name).expect("app name checked");
            assert!(!m.functions.is_empty());
            for f in &m.functions {
                quilt_manifest::check_name(&f.name).expect("function name checked");
                if let Some(d) = &f.domain {
                    quilt_manifest::check_name(d).expect("domain checked");
                }
                assert!(f.max_instances >= 1 && f.min_instances <= f.max_instances);
                assert!(f.concurrency >= 1 && f.timeout_ms >= 1 && f.cpu > 0.0);
            }
            for w in &m.workflows {
                quilt_manifest::check_name(&w.name).expect("workflow name checked");
                assert!(m.function(&w.entry).is_some());
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(&file.display().to_string()), "{msg}");
        }
    }
});
