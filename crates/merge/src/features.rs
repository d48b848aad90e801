//! The features rule of a merge: a merged group links one copy of each crate, so its members must
//! agree on the features of every crate they share. Each member's features are its own, as
//! `quilt build` builds it alone ([`quilt_build::features`]); a group whose members link a shared
//! crate with different features is refused, and otherwise the merged build's features of every
//! crate are exactly each member's.

use crate::tree::Tree;
use anyhow::{bail, Result};
use quilt_manifest::Manifest;

/// Refuses the group if two of its members link a shared crate with different features, naming the
/// members, the crates and each member's features.
pub fn check(manifest: &Manifest, tree: &Tree) -> Result<()> {
    let resolutions = quilt_build::features::of_functions(manifest, &tree.members)?;
    for (i, a) in tree.members.iter().enumerate() {
        for (j, b) in tree.members.iter().enumerate().skip(i + 1) {
            let conflicts = resolutions[i].conflicts(&resolutions[j]);
            if conflicts.is_empty() {
                continue;
            }
            let crates: Vec<String> = conflicts
                .iter()
                .map(|c| {
                    format!(
                        "crate '{}' with different features ({a}: [{}], {b}: [{}])",
                        c.krate,
                        c.ours.join(", "),
                        c.theirs.join(", ")
                    )
                })
                .collect();
            bail!(
                "{}: refusing to merge group '{}': members '{a}' and '{b}' build {}; merge them \
                 separately or align their features",
                tree.source.display(),
                tree.root,
                crates.join(" and ")
            );
        }
    }
    Ok(())
}
