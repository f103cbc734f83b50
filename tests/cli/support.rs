//! Harnesses for the end-to-end tests, one file each under `support/`: driving the real binary
//! ([`run`]), skipping or failing when a tool is missing ([`tools`]), fixtures and the programs
//! tests compile ([`fixtures`], [`programs`], [`go`]), reading what was written ([`layout`]),
//! comparing messages whole ([`output`]), running images ([`runc`]), and the servers tests
//! start on 127.0.0.1 ([`registry`], [`tls`], [`http`]), plus what the hostile-input tests
//! build and measure with ([`rewrite`], [`measure`]).
//!
//! The helpers nearly every test uses are re-exported here (`use crate::support::*`); the
//! servers and the rewriter are named by their module.

/// Command-line words from anything displayable:
/// `args!["package", exe.display(), "-o", format!("oci:{}", dir.display())]`.
macro_rules! args {
    ($($word:expr),* $(,)?) => { vec![$($word.to_string()),*] };
}

pub mod containerd;
pub mod daemon;
pub mod dockerd;
pub mod fixtures;
pub mod go;
pub mod http;
pub mod layout;
pub mod measure;
pub mod output;
pub mod podman;
pub mod programs;
pub mod registry;
pub mod rewrite;
pub mod run;
pub mod runc;
pub mod syft;
pub mod tls;
pub mod tools;

pub use fixtures::*;
pub use go::*;
pub use layout::*;
pub use output::*;
pub use programs::*;
pub use run::*;
pub use runc::*;
pub use syft::*;
pub use tools::*;
