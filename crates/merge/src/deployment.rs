//! Installed merged binaries and the deployment file `quilt up` reads beside each.

use crate::tree::Tree;
use anyhow::{Context, Result};
use quilt_manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How a group is deployed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One binary merged at the LLVM IR level (`<root>-merged`).
    #[default]
    Merged,
    /// The reference's container merge: the members' own binaries as processes of one instance,
    /// behind an internal gateway (`container-merge-<root>`).
    Container,
}

/// A merged group as deployed, serving the root's entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedDeployment {
    /// Merged binary or container merge.
    #[serde(default)]
    pub kind: Kind,
    /// Route name, `<root>-merged`.
    pub name: String,
    /// The group's root (the entry the route runs).
    pub root: String,
    /// Every member, root first (the binary's local entry table).
    pub members: Vec<String>,
    /// Memory limit per instance: the members' limits added up, in MiB.
    pub memory_mb: u64,
    /// CPU limit per instance: the members' limits added up, in cores.
    pub cpu: f64,
    /// Fan-out threshold compiled in (0: unconditional).
    pub fanout_threshold: usize,
    /// Also serve the root's own route, in place of the root's own binary, so that callers outside
    /// the group reach the merged group (as the reference deploys a group under its root's name).
    #[serde(default)]
    pub serves_root: bool,
}

impl MergedDeployment {
    /// The deployment of a group of the app.
    pub fn new(manifest: &Manifest, name: &str, tree: &Tree, fanout_threshold: usize) -> Self {
        let funcs: Vec<_> = tree
            .members
            .iter()
            .filter_map(|m| manifest.function(m))
            .collect();
        MergedDeployment {
            kind: Kind::Merged,
            name: name.to_string(),
            root: tree.root.clone(),
            members: tree.members.clone(),
            memory_mb: funcs.iter().map(|f| f.memory_mb).sum(),
            cpu: funcs.iter().map(|f| f.cpu).sum(),
            fanout_threshold,
            serves_root: false,
        }
    }

    /// The folder of merged binaries of an app.
    pub fn dir(manifest: &Manifest) -> PathBuf {
        manifest.work_dir().join("merged")
    }

    /// Installs `binary` and this file atomically (binary first: a deployment file always has its
    /// binary). Returns the installed binary's path.
    pub fn install(&self, manifest: &Manifest, binary: &Path) -> Result<PathBuf> {
        check_deployment_name(&self.name)?;
        let dir = Self::dir(manifest);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let dest = dir.join(&self.name);
        quilt_build::install_file(binary, &dest)?;
        let json = serde_json::to_string_pretty(self)?;
        quilt_build::write_if_changed(&dir.join(format!("{}.json", self.name)), &json)?;
        Ok(dest)
    }

    /// Installs a container merge of the group: `container-merge-<root>` (no binary of its own: the
    /// platform runs the members' binaries inside one instance).
    pub fn install_container(manifest: &Manifest, tree: &Tree) -> Result<MergedDeployment> {
        let mut d =
            MergedDeployment::new(manifest, &format!("container-merge-{}", tree.root), tree, 0);
        d.kind = Kind::Container;
        let dir = Self::dir(manifest);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let json = serde_json::to_string_pretty(&d)?;
        quilt_build::write_if_changed(&dir.join(format!("{}.json", d.name)), &json)?;
        Ok(d)
    }

    /// The members compiled again since this group was merged into `binary` (cargo wrote their
    /// binaries after it): the merged binary still runs their code as it was at the merge. Empty
    /// for a container merge, which runs the members' own binaries.
    pub fn rebuilt_members(&self, manifest: &Manifest, binary: &Path) -> Vec<String> {
        let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let Some(merged) = modified(binary).filter(|_| self.kind == Kind::Merged) else {
            return Vec::new();
        };
        self.members
            .iter()
            .filter(|m| {
                modified(&quilt_build::built_binary(manifest, m))
                    .is_some_and(|built| built > merged)
            })
            .cloned()
            .collect()
    }

    /// Every merged deployment installed for the app, with its binary (a container merge has
    /// none: the path given does not exist).
    pub fn installed(manifest: &Manifest) -> Result<Vec<(MergedDeployment, PathBuf)>> {
        let dir = Self::dir(manifest);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let d: MergedDeployment = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            // The name becomes a path (the binary beside this file) and a route: a file edited by
            // hand must not point outside the folder.
            check_deployment_name(&d.name)
                .with_context(|| format!("{}: refusing this deployment", path.display()))?;
            if d.members.first() != Some(&d.root) {
                anyhow::bail!(
                    "{}: refusing this deployment: its root {:?} is not its first member",
                    path.display(),
                    d.root
                );
            }
            let binary = dir.join(&d.name);
            let runnable = d.kind == Kind::Container || binary.is_file();
            if runnable && d.members.iter().all(|m| manifest.function(m).is_some()) {
                out.push((d, binary));
            }
        }
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(out)
    }
}

/// Checks a deployment name (`<root>-merged`, `container-merge-<root>`): 1–200 characters of
/// `[a-z0-9-]`, not starting with `-`, so it is safe as a file name and a route.
pub fn check_deployment_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        anyhow::bail!(
            "deployment name {:?} is not made of [a-z0-9-] (names become file names and routes)",
            name
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_the_merged_folder_are_refused() {
        for bad in [
            "",
            "..",
            "../bin/sh",
            "a/b",
            "/etc/passwd",
            "x\0",
            "x\n",
            "-x",
            "A",
        ] {
            assert!(check_deployment_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_deployment_name("hello-merged").is_ok());
        assert!(check_deployment_name(&format!("{}-merged", "a".repeat(63))).is_ok());
    }

    #[test]
    fn installed_refuses_a_deployment_file_naming_a_path_outside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("f")).unwrap();
        std::fs::write(dir.path().join("f/f.c"), "").unwrap();
        let text = "[app]\nname = \"a\"\n[[functions]]\nname = \"f\"\nlanguage = \"c\"\nsource = \"f/f.c\"\n";
        std::fs::write(dir.path().join("quilt.toml"), text).unwrap();
        let m = Manifest::load(dir.path()).unwrap();
        let merged = MergedDeployment::dir(&m);
        std::fs::create_dir_all(&merged).unwrap();
        let write = |name: &str, root: &str| {
            let d = serde_json::json!({"name": name, "root": root, "members": ["f"],
                "memory_mb": 64, "cpu": 1.0, "fanout_threshold": 0});
            std::fs::write(merged.join("x.json"), d.to_string()).unwrap();
        };
        // The "binary" it names exists outside the folder.
        write("../../f/f.c", "f");
        let e = format!("{:#}", MergedDeployment::installed(&m).unwrap_err());
        assert!(e.contains("x.json") && e.contains("not made of"), "{e}");
        write("f-merged", "g");
        let e = format!("{:#}", MergedDeployment::installed(&m).unwrap_err());
        assert!(e.contains("not its first member"), "{e}");
        write("f-merged", "f");
        std::fs::write(merged.join("f-merged"), "").unwrap();
        assert_eq!(MergedDeployment::installed(&m).unwrap().len(), 1);
    }
}
