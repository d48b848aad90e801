//! The recorded link: which objects the merge rewrites, and what it says about one it cannot.
//! Objects are compiled by clang-22, which embeds bitcode as rustc does (`-fembed-bitcode`).

use quilt_merge::link::RecordedLink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles C `source` into `<dir>/<name>.o` with `flags`.
fn object(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let out = dir.join(format!("{name}.o"));
    let status = Command::new(quilt_build::paths::llvm_tool("clang"))
        .args(["-c", "-O2"])
        .args(flags)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// Records a link of `inputs` in `<dir>/link` as the recording linker would.
fn record(dir: &Path, inputs: &[&Path]) -> RecordedLink {
    let link = dir.join("link");
    std::fs::create_dir_all(&link).unwrap();
    let mut args = Vec::new();
    for a in inputs
        .iter()
        .map(|p| p.display().to_string())
        .chain(["-o".into(), dir.join("out").display().to_string()])
    {
        args.extend_from_slice(a.as_bytes());
        args.push(0);
    }
    std::fs::write(link.join("args"), args).unwrap();
    std::fs::write(link.join("cwd"), dir.display().to_string()).unwrap();
    RecordedLink::read(&link).expect("a recorded link")
}

const CALLER: &str = "#include <stddef.h>\n\
    int quilt_invoke(const char *, size_t, const void *, size_t, void *);\n\
    int call(void *out) { return quilt_invoke(\"leaf\", 4, \"{}\", 2, out); }\n";

#[test]
fn objects_that_call_the_abi_are_found_with_their_bitcode_and_others_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let caller = object(dir.path(), "caller", CALLER, &["-fembed-bitcode"]);
    let plain = object(
        dir.path(),
        "plain",
        "int twice(int x) { return 2 * x; }\n",
        &["-fembed-bitcode"],
    );
    // Like rustc's symbols.o: it names an ABI symbol to keep it, but has no code that calls it.
    let keeper = object(
        dir.path(),
        "keeper",
        "int quilt_invoke(void);\nvoid *keep = (void *)quilt_invoke;\n",
        &[],
    );
    let threshold = object(
        dir.path(),
        "threshold",
        "const unsigned long QUILT_FANOUT_THRESHOLD = 0;\n",
        &["-fembed-bitcode"],
    );
    let link = record(dir.path(), &[&plain, &caller, &keeper, &threshold]);
    let found = link.rewritable().unwrap();
    let origins: Vec<&str> = found.iter().map(|r| r.origin.as_str()).collect();
    assert_eq!(
        origins,
        [
            caller.display().to_string(),
            threshold.display().to_string()
        ],
        "{found:?}"
    );
    assert_eq!(found[0].arg, 1);
    assert!(!found[0].defines_threshold);
    assert!(found[1].defines_threshold);
    // Bitcode starts with the magic "BC\xC0\xDE".
    assert!(found.iter().all(|r| r.bitcode.starts_with(b"BC\xC0\xDE")));
}

#[test]
fn an_object_that_calls_the_abi_without_bitcode_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let caller = object(dir.path(), "caller", CALLER, &[]);
    let e = record(dir.path(), &[&caller])
        .rewritable()
        .unwrap_err()
        .to_string();
    assert!(e.contains(&caller.display().to_string()), "{e}");
    assert!(
        e.contains("carries no bitcode") && e.contains(".llvmbc"),
        "{e}"
    );
}
