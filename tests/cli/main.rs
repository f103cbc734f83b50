//! End-to-end tests of the `static-image` binary with real toolchains and real image tools.
//! One test binary, one module per command (see `tests/cli/`).

// A panic is how a test reports failure; helpers shared by tests may unwrap like the tests do.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;

mod base;
mod build_c;
mod build_go;
mod build_rust;
mod cache;
mod compression;
mod config;
mod hostile;
mod hostile_images;
mod hostile_outputs;
mod hostile_project;
mod hostile_registry;
mod hostile_verdicts;
mod multiarch;
mod outputs_crash;
mod package;
mod registry;
mod replay;
mod reproducibility;
mod sbom;
mod toolchains;
mod verify;
