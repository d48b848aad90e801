//! A procedural macro two functions share, whose expansion depends on a feature only one of them
//! enables: what it generates is compiled into each function, so each must get its own features.

use proc_macro::TokenStream;

/// Expands to the string literal `"hi"`, or with the feature `loud`, `"HI"`.
#[proc_macro]
pub fn salute(_input: TokenStream) -> TokenStream {
    let word = if cfg!(feature = "loud") { "HI" } else { "hi" };
    format!("{word:?}").parse().unwrap()
}
