//! The generated cargo workspace: one small binary crate per deployable (a function, or a merged
//! group), whose `main` serves its entries through `quilt-runtime`.

use crate::paths;
use anyhow::{Context, Result};
use quilt_manifest::{Function, Manifest};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One entry of a generated crate: a function it serves.
struct GeneratedEntry {
    name: String,
    /// Its `timeout_ms` (a local call past it answers as the gateway would).
    timeout_ms: u64,
    /// A C/C++ function (local calls give it a copy of its input).
    native: bool,
}

impl GeneratedEntry {
    fn of(f: &Function, native: bool) -> GeneratedEntry {
        GeneratedEntry {
            name: f.name.clone(),
            timeout_ms: f.timeout_ms,
            native,
        }
    }
}

/// A binary crate to generate: its dependencies, entry wrappers and `main`.
pub struct GeneratedCrate {
    app: String,
    dir_name: String,
    deps: String,
    items: String,
    entries: Vec<GeneratedEntry>,
    /// The source folder of each Rust crate depended on, with the name it is imported as (two
    /// functions built from one crate share one dependency).
    rust_crates: Vec<(PathBuf, String)>,
    native_libs: Vec<(PathBuf, bool)>,
    mode: String,
}

impl GeneratedCrate {
    /// A crate named `dir_name` (also its folder) for an app.
    pub fn new(manifest: &Manifest, dir_name: &str) -> GeneratedCrate {
        GeneratedCrate {
            app: manifest.name.clone(),
            dir_name: dir_name.to_string(),
            deps: format!(
                "quilt-runtime = {{ path = {} }}\n",
                toml_str(&paths::runtime_crate())
            ),
            items: String::new(),
            entries: Vec::new(),
            rust_crates: Vec::new(),
            native_libs: Vec::new(),
            mode: "Single".into(),
        }
    }

    /// The crate's folder name.
    pub fn dir_name(&self) -> &str {
        &self.dir_name
    }

    /// The cargo package name, `quilt-<app>-<dir_name>`.
    pub fn package_name(&self) -> String {
        format!("quilt-{}-{}", self.app, self.dir_name)
    }

    /// The name of the binary cargo builds (unique across apps sharing a target folder).
    pub fn bin_name(&self) -> String {
        format!("{}__{}", self.app, self.dir_name)
    }

    /// Adds a Rust function: its crate becomes a dependency (once, however many functions are built
    /// from it), its entry is wrapped as `quilt_fn_<ident>`.
    pub fn add_rust_function(&mut self, f: &Function) -> Result<()> {
        let ident = f.ident();
        let krate = match self.rust_crates.iter().find(|(dir, _)| *dir == f.source) {
            Some((_, krate)) => krate.clone(),
            None => {
                let package = rust_package_name(&f.source)
                    .with_context(|| format!("function '{}': reading its Cargo.toml", f.name))?;
                let krate = format!("fn_{ident}");
                let _ = writeln!(
                    self.deps,
                    "{krate} = {{ path = {}, package = {} }}",
                    toml_str(&f.source),
                    toml_str(Path::new(&package))
                );
                self.rust_crates.push((f.source.clone(), krate.clone()));
                krate
            }
        };
        let _ = write!(
            self.items,
            "/// Entry of function `{name}`.\n///\n/// # Safety\n/// Called through the Quilt C ABI only.\n\
             #[no_mangle]\npub unsafe extern \"C\" fn quilt_fn_{ident}(input: *const u8, len: usize, out: *mut QuiltBuf) -> i32 {{\n    \
             {krate}::__quilt_entry(input, len, out)\n}}\n",
            name = f.name
        );
        self.entries.push(GeneratedEntry::of(f, false));
        Ok(())
    }

    /// Adds a function defined elsewhere (a native library, or bitcode linked in by the merging
    /// compiler) under the symbol `quilt_fn_<ident>`.
    pub fn add_external_function(&mut self, f: &Function) {
        let _ = write!(
            self.items,
            "extern \"C\" {{\n    fn quilt_fn_{}(input: *const u8, len: usize, out: *mut QuiltBuf) -> i32;\n}}\n",
            f.ident()
        );
        self.entries.push(GeneratedEntry::of(f, true));
    }

    /// Adds a C/C++ function compiled into the static library `lib`.
    pub fn add_native_function(&mut self, f: &Function, lib: &Path) {
        self.add_external_function(f);
        self.native_libs.push((
            lib.to_path_buf(),
            f.language == quilt_manifest::Language::Cpp,
        ));
    }

    /// Serves the entries as a single-function binary (every invocation remote).
    pub fn main_single(&mut self, _f: &Function) {
        self.mode = "Single".into();
    }

    /// Serves the entries as a merged binary with a local entry table (its fan-out threshold is
    /// set by the merging compiler in the runtime's `QUILT_FANOUT_THRESHOLD`).
    pub fn main_merged(&mut self) {
        self.mode = "Merged".into();
    }

    /// The index of an entry in the local entry table.
    pub fn entry_index(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.name == name)
    }

    fn manifest(&self) -> String {
        let build = if self.native_libs.is_empty() {
            ""
        } else {
            "build = \"build.rs\"\n"
        };
        format!(
            "[package]\nname = \"{package}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n{build}\n\
             [[bin]]\nname = \"{bin}\"\npath = \"main.rs\"\n\n[dependencies]\n{deps}",
            package = self.package_name(),
            bin = self.bin_name(),
            deps = self.deps
        )
    }

    fn main_rs(&self) -> String {
        let mut s = String::from(
            "//! Generated by `quilt build`; do not edit.\n#![allow(unsafe_code)]\n\
             use quilt_runtime::{Entry, Mode, QuiltBuf};\n\n",
        );
        s.push_str(&self.items);
        let _ = writeln!(s, "\nstatic ENTRIES: [Entry; {}] = [", self.entries.len());
        for e in &self.entries {
            let _ = writeln!(
                s,
                "    Entry {{ name: {:?}, func: quilt_fn_{}, copy_input: {}, timeout_ms: {} }},",
                e.name,
                quilt_manifest::ident_of(&e.name),
                e.native,
                e.timeout_ms
            );
        }
        s.push_str("];\n");
        if self.mode.starts_with("Merged") {
            s.push_str(&self.local_wrappers());
        }
        let _ = write!(
            s,
            "\nfn main() {{\n    std::hint::black_box(&quilt_runtime::abi::KEEP);\n    \
             quilt_runtime::serve(&ENTRIES, Mode::{})\n}}\n",
            self.mode
        );
        s
    }

    /// Traced wrappers `quilt_local_<ident>` that the merging compiler makes rewritten sync sites
    /// call, kept alive (and their signatures intact) through a `#[used]` table.
    fn local_wrappers(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let (name, copy, timeout_ms) = (&e.name, e.native, e.timeout_ms);
            let ident = quilt_manifest::ident_of(name);
            let _ = write!(
                s,
                "\n/// Local call of `{name}` from a merged member (traced, normalized as the remote path).\n///\n/// # Safety\n/// Called through the Quilt C ABI only.\n\
                 #[no_mangle]\npub unsafe extern \"C\" fn quilt_local_{ident}(input: *const u8, len: usize, out: *mut QuiltBuf) -> i32 {{\n    \
                 quilt_runtime::abi::local_call({name:?}, quilt_fn_{ident}, {copy}, {timeout_ms}, input, len, out)\n}}\n"
            );
        }
        let _ = write!(
            s,
            "\n#[used]\nstatic LOCAL_CALLS: [quilt_runtime::EntryFn; {}] = [{}];\n",
            self.entries.len(),
            self.entries
                .iter()
                .map(|e| format!("quilt_local_{}", quilt_manifest::ident_of(&e.name)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s
    }

    fn build_rs(&self) -> String {
        let mut s = String::from("//! Generated by `quilt build`; do not edit.\nfn main() {\n");
        for (lib, cpp) in &self.native_libs {
            let dir = lib.parent().unwrap();
            let name = lib
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("lib")
                .to_string();
            let _ = writeln!(
                s,
                "    println!(\"cargo:rerun-if-changed={}\");\n    println!(\"cargo:rustc-link-search=native={}\");\n    \
                 println!(\"cargo:rustc-link-lib=static={name}\");",
                lib.display(),
                dir.display()
            );
            if *cpp {
                s.push_str("    println!(\"cargo:rustc-link-lib=dylib=stdc++\");\n");
            }
        }
        s.push_str("}\n");
        s
    }

    /// Writes the crate's files under `workspace_dir/<dir_name>/` (unchanged files are left alone).
    pub fn write(&self, workspace_dir: &Path) -> Result<PathBuf> {
        let dir = workspace_dir.join(&self.dir_name);
        write_if_changed(&dir.join("Cargo.toml"), &self.manifest())?;
        write_if_changed(&dir.join("main.rs"), &self.main_rs())?;
        if !self.native_libs.is_empty() {
            write_if_changed(&dir.join("build.rs"), &self.build_rs())?;
        }
        Ok(dir)
    }
}

/// Writes a workspace of generated crates under `dir` (with Quilt's own `Cargo.lock` as a start, so
/// dependency versions match the ones Quilt was tested with). Its release profile compiles every
/// crate as one codegen unit: the bitcode rustc embeds in an object ([`crate::EMBED_BITCODE`]) is
/// then exactly the module the object was generated from (with several units, rustc's local ThinLTO
/// renames symbols afterwards), which the merging compiler relies on. With `keep_existing`, crates generated
/// there before stay members too, so that writers of different crates never drop each other's.
pub fn write_workspace(dir: &Path, crates: &[GeneratedCrate], keep_existing: bool) -> Result<()> {
    let mut members: Vec<String> = Vec::new();
    for c in crates {
        c.write(dir)?;
        members.push(c.dir_name.clone());
    }
    if keep_existing {
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("Cargo.toml").is_file() && !members.contains(&name) {
                members.push(name);
            }
        }
    }
    members.sort();
    let manifest = format!(
        "# Generated by quilt; do not edit.\n[workspace]\nresolver = \"2\"\nmembers = {members:?}\n\n\
         [profile.release]\nopt-level = 3\npanic = \"unwind\"\ndebug = false\ncodegen-units = 1\n"
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
    let lock = dir.join("Cargo.lock");
    if !lock.exists() {
        let _ = std::fs::copy(paths::quilt_home().join("Cargo.lock"), &lock);
    }
    Ok(())
}

/// Writes `contents` to `path` (through a temporary file) unless it already holds exactly that.
pub fn write_if_changed(path: &Path, contents: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    quilt_atomic_file::write(path, contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The package name in a crate's `Cargo.toml`.
pub fn rust_package_name(crate_dir: &Path) -> Result<String> {
    let path = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .with_context(|| format!("{}: no package.name", path.display()))
}

fn toml_str(p: &Path) -> String {
    format!("{:?}", p.to_string_lossy())
}

#[cfg(test)]
mod tests {
    /// The lock every generated workspace starts from keeps `idna_adapter` at its 1.0 stub: no
    /// Unicode domain names (the apps reach Redis and memcached by address), and none of ICU4X's
    /// twenty crates in a cold build of an app (`cargo update` would bring them back).
    #[test]
    fn the_starting_lock_keeps_idna_without_unicode_tables() {
        let lock = std::fs::read_to_string(crate::paths::quilt_home().join("Cargo.lock")).unwrap();
        let lock: toml::Table = toml::from_str(&lock).unwrap();
        let packages = lock["package"].as_array().unwrap();
        let version = |name: &str| {
            packages
                .iter()
                .find(|p| p["name"].as_str() == Some(name))
                .map(|p| p["version"].as_str().unwrap().to_string())
        };
        assert_eq!(version("idna_adapter").as_deref(), Some("1.0.0"));
        assert_eq!(version("icu_normalizer"), None);
    }
}
