//! Beyond one machine.
//!
//! - [`oci`]: OCI images of deployables, written by Quilt itself (no Docker daemon).
//! - [`fission`]: Fission specs (Environment, Function, HTTPTrigger) for container functions.
//! - [`write`] and [`apply`]: what `quilt deploy --target fission --out DIR [--apply]` does: every
//!   image into `DIR/images/<name>`, the specs into `DIR/specs`, atomically; then optionally push
//!   the images (`skopeo`) and apply the specs (`fission spec apply`, or `kubectl apply`).

pub mod fission;
pub mod oci;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file in an output folder that says `quilt deploy` wrote it (and what it wrote).
pub const REPORT_FILE: &str = "quilt-deploy.json";

/// One deployable: a function, or a merged group served as `<root>-merged`.
#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    /// Route and resource name.
    pub name: String,
    /// The entry inside the binary that serves the route.
    pub entry: String,
    /// The binary.
    pub binary: PathBuf,
    /// Memory limit per instance, MiB.
    pub memory_mb: u64,
    /// CPU limit per instance, cores.
    pub cpu: f64,
    /// Instances kept running.
    pub min_scale: u32,
    /// Most instances.
    pub max_scale: u32,
    /// Requests one instance serves at once.
    pub concurrency: u32,
    /// Per-request timeout, ms.
    pub timeout_ms: u64,
    /// Functions inside (the function itself, or the group's members, root first).
    pub members: Vec<String>,
}

impl Unit {
    /// A unit with quilt.toml's defaults and no binary (for tests and examples).
    #[doc(hidden)]
    pub fn example(name: &str) -> Unit {
        Unit {
            name: name.into(),
            entry: name.into(),
            binary: PathBuf::new(),
            memory_mb: 64,
            cpu: 0.5,
            min_scale: 0,
            max_scale: 4,
            concurrency: 32,
            timeout_ms: 10_000,
            members: vec![name.into()],
        }
    }
}

/// Where to deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Fission on Kubernetes (container functions).
    Fission,
}

/// What `quilt deploy` writes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The app's name.
    pub app: String,
    /// The target.
    pub target: Target,
    /// The deployables.
    pub units: Vec<Unit>,
    /// Registry prefix of image references (`registry.example.com/team`); None: bare names, for
    /// clusters that load images locally (kind, minikube).
    pub registry: Option<String>,
    /// Image tag; None: derived from each image's digest.
    pub tag: Option<String>,
    /// Fission settings.
    pub fission: fission::FissionOptions,
}

/// An image written and the reference the specs use.
#[derive(Debug, Clone, Serialize)]
pub struct Deployed {
    /// The deployable.
    pub name: String,
    /// The image reference in the specs.
    pub image: String,
    /// The OCI layout folder, relative to the output folder.
    pub layout: PathBuf,
    /// The tag inside the layout.
    pub tag: String,
    /// `sha256:…` of the image manifest.
    pub manifest_digest: String,
    /// Compressed size of the layers.
    pub layers_bytes: u64,
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The app.
    pub app: String,
    /// The target.
    pub target: Target,
    /// Registry of the image references, if any.
    pub registry: Option<String>,
    /// Images, one per deployable.
    pub images: Vec<Deployed>,
    /// Spec files, relative to the output folder.
    pub specs: Vec<PathBuf>,
}

/// The reference of a deployable's image: `[<registry>/]<app>-<name>:<tag>` (just `<name>` when
/// the name already starts with the app's).
pub fn image_reference(registry: Option<&str>, app: &str, name: &str, tag: &str) -> String {
    let repo = if name == app || name.starts_with(&format!("{app}-")) {
        name.to_string()
    } else {
        format!("{app}-{name}")
    };
    match registry.map(|r| r.trim_end_matches('/')) {
        Some(r) if !r.is_empty() => format!("{r}/{repo}:{tag}"),
        _ => format!("{repo}:{tag}"),
    }
}

/// Writes the images and specs of `plan` into `out`, atomically: everything goes to a temporary
/// folder beside it, which then replaces `out` in one rename (an exchange when `out` exists).
/// An existing `out` must be empty or an earlier output of `quilt deploy`.
pub fn write(plan: &Plan, out: &Path) -> Result<Report> {
    if plan.units.is_empty() {
        bail!("app '{}' has nothing to deploy", plan.app);
    }
    for unit in &plan.units {
        if fission::RESERVED_ROUTES.contains(&unit.name.as_str()) {
            bail!(
                "function '{}': Fission's router serves /{} itself; rename the function to deploy it",
                unit.name,
                unit.name
            );
        }
    }
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .with_context(|| format!("reading {}", out.display()))?
            .next()
            .is_none();
        if !empty && !out.join(REPORT_FILE).is_file() {
            bail!(
                "refusing to replace {}: it is not empty and holds no {REPORT_FILE} (not an \
                 output of quilt deploy)",
                out.display()
            );
        }
    }
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: needs a folder name", out.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    let result = write_into(plan, &tmp).and_then(|report| {
        install_dir(&tmp, out)?;
        Ok(report)
    });
    if tmp.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_into(plan: &Plan, dir: &Path) -> Result<Report> {
    let mut images = Vec::new();
    let mut specs = Vec::new();
    let specs_dir = dir.join("specs");
    std::fs::create_dir_all(&specs_dir)?;
    let mut write_spec = |file: String, text: String| -> Result<()> {
        std::fs::write(specs_dir.join(&file), text)?;
        specs.push(PathBuf::from("specs").join(file));
        Ok(())
    };
    write_spec(
        "fission-deployment-config.yaml".into(),
        format!(
            "# Written by quilt deploy; `fission spec apply --specdir` needs it. Keep the uid.\n{}",
            fission::to_yaml(&fission::deployment_config(&plan.app, &plan.fission))?
        ),
    )?;
    for unit in &plan.units {
        let layout = PathBuf::from("images").join(&unit.name);
        let mut labels = BTreeMap::new();
        labels.insert(
            "org.opencontainers.image.title".to_string(),
            unit.name.clone(),
        );
        labels.insert(
            "org.opencontainers.image.description".to_string(),
            format!("quilt deployable '{}' of app '{}'", unit.name, plan.app),
        );
        labels.insert("dev.quilt.app".to_string(), plan.app.clone());
        labels.insert("dev.quilt.entry".to_string(), unit.entry.clone());
        labels.insert("dev.quilt.members".to_string(), unit.members.join(","));
        let spec = oci::ImageSpec {
            name: unit.name.clone(),
            binary: unit.binary.clone(),
            env: vec![
                ("QUILT_FUNCTION".into(), unit.name.clone()),
                ("QUILT_ENTRY".into(), unit.entry.clone()),
            ],
            labels,
            tag: plan.tag.clone(),
        };
        let image = oci::write_image(&dir.join(&layout), &spec)
            .with_context(|| format!("writing the image of '{}'", unit.name))?;
        let reference =
            image_reference(plan.registry.as_deref(), &plan.app, &unit.name, &image.tag);
        match plan.target {
            Target::Fission => {
                let opts = &plan.fission;
                let env = fission::environment(&plan.app, unit, &reference, opts);
                let func = fission::function(&plan.app, unit, &reference, opts);
                let route = fission::http_trigger(&plan.app, unit, opts);
                write_spec(format!("env-{}.yaml", unit.name), fission::to_yaml(&env)?)?;
                write_spec(
                    format!("function-{}.yaml", unit.name),
                    fission::to_yaml(&func)?,
                )?;
                write_spec(
                    format!("route-{}.yaml", unit.name),
                    fission::to_yaml(&route)?,
                )?;
            }
        }
        images.push(Deployed {
            name: unit.name.clone(),
            image: reference,
            layout,
            tag: image.tag,
            manifest_digest: image.manifest_digest,
            layers_bytes: image.layers_bytes,
        });
    }
    let report = Report {
        app: plan.app.clone(),
        target: plan.target,
        registry: plan.registry.clone(),
        images,
        specs,
    };
    if plan.registry.is_some() {
        let mut push = String::from(
            "#!/bin/sh\n# Written by quilt deploy: pushes every image to its registry.\nset -eu\n\
             cd \"$(dirname \"$0\")\"\n",
        );
        for i in &report.images {
            push.push_str(&format!(
                "skopeo copy \"$@\" oci:{}:{} docker://{}\n",
                i.name, i.tag, i.image
            ));
        }
        let path = dir.join("images/push.sh");
        std::fs::write(&path, push)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::write(
        dir.join(REPORT_FILE),
        serde_json::to_string_pretty(&report)?,
    )?;
    Ok(report)
}

/// Puts folder `tmp` in the place of `out`: a rename, or an atomic exchange (renameat2) when `out`
/// exists, after which the old contents (now at `tmp`) are removed.
fn install_dir(tmp: &Path, out: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if !out.exists() {
        std::fs::rename(tmp, out)
            .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))?;
        return Ok(());
    }
    let a = std::ffi::CString::new(tmp.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(out.as_os_str().as_bytes())?;
    // SAFETY: renameat2 with two NUL-terminated paths relative to the working directory.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        bail!("exchanging {} with {}: {e}", tmp.display(), out.display());
    }
    std::fs::remove_dir_all(tmp).with_context(|| format!("removing {}", tmp.display()))?;
    Ok(())
}

/// Checks that the programs [`apply`] needs are on `PATH`; the error says exactly what is missing.
pub fn check_apply(out: &Path, push: bool) -> Result<()> {
    if which::which("fission").is_err() && which::which("kubectl").is_err() {
        bail!(
            "--apply needs the Fission CLI (`fission`, to run `fission spec apply --specdir {0}`) \
             or `kubectl` (to run `kubectl apply -f` on {0}/*.yaml), and neither is on PATH. \
             Install one (https://fission.io/docs/installation/), or apply the specs yourself; \
             they are in {0}",
            out.join("specs").display()
        );
    }
    if push && which::which("skopeo").is_err() {
        bail!(
            "--apply with --registry pushes the images with skopeo, which is not on PATH \
             (apt-get install skopeo); or push them yourself with {}",
            out.join("images/push.sh").display()
        );
    }
    Ok(())
}

/// What `--apply` did.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// Commands run, as shell text.
    pub commands: Vec<String>,
}

/// `--apply`: pushes the images when they have a registry (`skopeo copy`), then applies the specs
/// with `fission spec apply --specdir <out>/specs`, or, without the fission CLI, with
/// `kubectl apply -f` on every resource file. Fails, naming what is missing, when neither is on
/// `PATH`.
pub fn apply(report: &Report, out: &Path) -> Result<Applied> {
    check_apply(out, report.registry.is_some())?;
    let fission = which::which("fission").ok();
    let kubectl = which::which("kubectl").ok();
    let mut applied = Applied::default();
    if report.registry.is_some() {
        let skopeo = which::which("skopeo").expect("checked");
        for image in &report.images {
            let src = format!("oci:{}:{}", out.join(&image.layout).display(), image.tag);
            let dst = format!("docker://{}", image.image);
            run_logged(
                &mut applied,
                Command::new(&skopeo).args(["copy", &src, &dst]),
            )?;
        }
    }
    let specs = out.join("specs");
    if let Some(fission) = fission {
        run_logged(
            &mut applied,
            Command::new(fission)
                .args(["spec", "apply", "--specdir"])
                .arg(&specs),
        )?;
    } else if let Some(kubectl) = kubectl {
        let mut cmd = Command::new(kubectl);
        cmd.arg("apply");
        for spec in &report.specs {
            if !spec.ends_with("fission-deployment-config.yaml") {
                cmd.arg("-f").arg(out.join(spec));
            }
        }
        run_logged(&mut applied, &mut cmd)?;
    }
    Ok(applied)
}

fn run_logged(applied: &mut Applied, cmd: &mut Command) -> Result<()> {
    let text = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let status = cmd.status().with_context(|| format!("running `{text}`"))?;
    if !status.success() {
        bail!("`{text}` failed ({status})");
    }
    applied.commands.push(text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            image_reference(None, "hello", "upper", "abc"),
            "hello-upper:abc"
        );
        assert_eq!(
            image_reference(Some("reg.io/team/"), "hello", "hello-merged", "t"),
            "reg.io/team/hello-merged:t"
        );
        assert_eq!(image_reference(Some(""), "a", "a", "t"), "a:t");
    }
}
