//! A crate two functions share, whose answer depends on a feature only one of them enables.

/// `hello, <name>`, or with the feature `loud`, `HELLO, <NAME>!`.
pub fn greet(name: &str) -> String {
    if cfg!(feature = "loud") {
        format!("HELLO, {}!", name.to_uppercase())
    } else {
        format!("hello, {name}")
    }
}
