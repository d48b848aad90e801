//! The `quilt` command's verbs, as a library so that tests and other tools can drive them.

pub mod bench;
pub mod deploy;
pub mod experiment;
pub mod http;
pub mod logs;
pub mod merge;
pub mod optimize;
pub mod plot;
pub mod populate;
pub mod profile;
pub mod scaffold;
pub mod up;
pub mod verify;
