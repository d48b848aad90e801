//! funcTree files: any text either parses into an acyclic tree rooted at its first name, whose
//! names are all valid function names, or gives an error naming the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quilt_merge::tree::Tree;
use std::collections::HashSet;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Tree::parse(Path::new("fuzz.tree"), text) {
        Ok(t) => {
            assert_eq!(t.members.first(), Some(&t.root));
            let members: HashSet<&String> = t.members.iter().collect();
            assert_eq!(members.len(), t.members.len(), "members are unique");
            for m in &t.members {
                quilt_manifest::check_name(m).expect("names are checked");
            }
            for (a, b, line) in &t.edges {
                assert!(members.contains(a) && members.contains(b) && a != b);
                assert!(*line >= 1);
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.tree"), "{e}"),
    }
});
