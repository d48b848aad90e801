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
        }
    }

    /// The folder of merged binaries of an app.
    pub fn dir(manifest: &Manifest) -> PathBuf {
        manifest.work_dir().join("merged")
    }

    /// Installs `binary` and this file atomically (binary first: a deployment file always has its
    /// binary). Returns the installed binary's path.
    pub fn install(&self, manifest: &Manifest, binary: &Path) -> Result<PathBuf> {
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
