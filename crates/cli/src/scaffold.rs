//! `quilt new` and `quilt add`: a new app, and a function added to an app, from templates that
//! build as they are.
//!
//! A Rust function depends on the SDK by the absolute path of `crates/sdk` in the Quilt source tree
//! (`$QUILT_HOME`, or the tree this `quilt` was built from), so the app may live anywhere on the
//! machine; C and C++ functions include `quilt.h`, which `quilt build` finds in the same tree.
//! Nothing is left half-written: files are created in a temporary folder and moved into place, and
//! `quilt.toml` is replaced atomically only once the new manifest is valid with them.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use quilt_manifest::{check_name, ident_of, Manifest};
use std::path::{Path, PathBuf};

const APP_TOML: &str = include_str!("../templates/quilt.toml.tmpl");
const FUNCTION_TOML: &str = include_str!("../templates/function.toml.tmpl");
const RUST_CARGO_TOML: &str = include_str!("../templates/rust-Cargo.toml.tmpl");
const RUST_LIB: &str = include_str!("../templates/rust-lib.rs.tmpl");
const C_SOURCE: &str = include_str!("../templates/c.tmpl");
const CPP_SOURCE: &str = include_str!("../templates/cpp.tmpl");

/// A function's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A Rust library crate using `quilt-sdk`.
    Rust,
    /// A C file including `quilt.h`.
    C,
    /// A C++ file including `quilt.h`.
    Cpp,
}

impl Lang {
    fn manifest_name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Cpp => "cpp",
        }
    }
}

/// `quilt new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The folder to create; its name is the app's name unless `--name` is given.
    pub dir: PathBuf,
    /// The app's name ([a-z0-9-]).
    #[arg(long)]
    pub name: Option<String>,
    /// The language of its first function, `hello`.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
}

/// `quilt add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The function's name ([a-z0-9-]), also its route.
    pub function: String,
    /// Its language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The app folder.
    #[arg(long, default_value = ".")]
    pub app: PathBuf,
}

/// Runs `quilt new`: the app folder with `quilt.toml`, a first function `hello` and its workflow.
pub fn new_app(args: &NewArgs) -> Result<()> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| {
                format!(
                    "{}: no folder name to name the app after (give --name)",
                    args.dir.display()
                )
            })?,
    };
    check_name(&name).map_err(|e| anyhow::anyhow!("app name: {e} (give another with --name)"))?;
    if args.dir.exists() {
        bail!(
            "{} already exists: quilt new creates a new folder (quilt add adds a function to an app)",
            args.dir.display()
        );
    }
    let parent = match args.dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".quilt-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    let function = "hello";
    let mut manifest = fill(APP_TOML, &name, function);
    manifest.push_str(&write_function(tmp.path(), &name, function, args.lang)?);
    manifest.push_str(&format!(
        "\n[[workflows]]\nname = \"{function}\"\nentry = \"{function}\"\n\
         body = '{{\"name\": \"you\"}}'   # what `quilt profile` and `quilt optimize` send\n"
    ));
    std::fs::write(tmp.path().join("quilt.toml"), &manifest)?;
    std::fs::write(tmp.path().join(".gitignore"), ".quilt/\n")?;
    Manifest::load(tmp.path()).context("the new app's manifest (a template bug)")?;
    let staged = tmp.keep();
    std::fs::rename(&staged, &args.dir)
        .with_context(|| format!("moving the new app to {}", args.dir.display()))?;
    println!(
        "created app '{name}' in {} with function 'hello' ({}); next: quilt up {0}, then quilt invoke hello --data '{{\"name\":\"you\"}}'",
        args.dir.display(),
        args.lang.manifest_name()
    );
    Ok(())
}

/// Runs `quilt add`: the function's sources, and its entry appended to `quilt.toml`.
pub fn add_function(args: &AddArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let function = &args.function;
    check_name(function).map_err(|e| anyhow::anyhow!("function name: {e}"))?;
    if manifest.function(function).is_some() {
        bail!(
            "{}: app '{}' already has a function '{function}'",
            args.app.join("quilt.toml").display(),
            manifest.name
        );
    }
    let functions = args.app.join("functions");
    let tmp = tempfile::Builder::new()
        .prefix(".quilt-add-")
        .tempdir_in(&args.app)
        .with_context(|| format!("creating a temporary folder in {}", args.app.display()))?;
    let entry = write_function(tmp.path(), &manifest.name, function, args.lang)?;
    // Where the staged sources go; none of them may exist yet.
    let staged: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("functions"))?
        .map(|e| e.map(|e| e.file_name().into()))
        .collect::<std::io::Result<_>>()?;
    for name in &staged {
        let target = functions.join(name);
        if target.exists() {
            bail!(
                "{} already exists; remove it or choose another name",
                target.display()
            );
        }
    }
    let toml_path = args.app.join("quilt.toml");
    let old = std::fs::read_to_string(&toml_path)
        .with_context(|| format!("reading {}", toml_path.display()))?;
    let mut new = old.clone();
    if !new.ends_with('\n') {
        new.push('\n');
    }
    new.push_str(&entry);
    std::fs::create_dir_all(&functions)
        .with_context(|| format!("creating {}", functions.display()))?;
    for name in &staged {
        std::fs::rename(
            tmp.path().join("functions").join(name),
            functions.join(name),
        )
        .with_context(|| format!("moving {} into {}", name.display(), functions.display()))?;
    }
    // The manifest is replaced only if it is valid with the new sources in place; else they go.
    if let Err(e) = Manifest::parse(&args.app, &toml_path, &new) {
        for name in &staged {
            let _ = std::fs::remove_dir_all(functions.join(name));
            let _ = std::fs::remove_file(functions.join(name));
        }
        return Err(e).with_context(|| format!("{} with '{function}' added", toml_path.display()));
    }
    quilt_build::write_if_changed(&toml_path, &new)?;
    println!(
        "added function '{function}' ({}) to app '{}'; its route: POST /{function}",
        args.lang.manifest_name(),
        manifest.name
    );
    Ok(())
}

/// Writes a function's sources under `<dir>/functions/`; returns its `[[functions]]` entry.
fn write_function(dir: &Path, app: &str, function: &str, lang: Lang) -> Result<String> {
    let functions = dir.join("functions");
    std::fs::create_dir_all(&functions)?;
    let source = match lang {
        Lang::Rust => {
            let sdk = quilt_build::paths::quilt_home().join("crates/sdk");
            let sdk = sdk.canonicalize().with_context(|| {
                format!(
                    "the Quilt SDK at {} (set QUILT_HOME to the Quilt source tree)",
                    sdk.display()
                )
            })?;
            let krate = functions.join(function);
            std::fs::create_dir_all(krate.join("src"))?;
            let cargo =
                fill(RUST_CARGO_TOML, app, function).replace("{{sdk}}", &sdk.to_string_lossy());
            std::fs::write(krate.join("Cargo.toml"), cargo)?;
            std::fs::write(krate.join("src/lib.rs"), fill(RUST_LIB, app, function))?;
            format!("functions/{function}")
        }
        Lang::C | Lang::Cpp => {
            let template = if lang == Lang::C {
                C_SOURCE
            } else {
                CPP_SOURCE
            };
            let file = format!("{function}.{}", lang.manifest_name());
            std::fs::write(functions.join(&file), fill(template, app, function))?;
            format!("functions/{file}")
        }
    };
    Ok(fill(FUNCTION_TOML, app, function)
        .replace("{{language}}", lang.manifest_name())
        .replace("{{source}}", &source))
}

/// A template with the app's and the function's names filled in.
fn fill(template: &str, app: &str, function: &str) -> String {
    template
        .replace("{{app}}", app)
        .replace("{{function}}", function)
        .replace("{{ident}}", &ident_of(function))
}
