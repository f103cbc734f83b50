//! End-to-end tests of the `static-image` binary with real toolchains and real image tools.
//! One test binary, one module per command (see `tests/cli/`).

// A panic is how a test reports failure; helpers shared by tests may unwrap like the tests do.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;
mod support_server;

mod base;
mod build;
mod c;
mod cache;
mod clients;
mod compression;
mod config;
mod crash;
mod go;
mod hostile;
mod hostile_images;
mod hostile_outputs;
mod hostile_project;
mod hostile_registry;
mod hostile_verdicts;
mod multiarch;
mod package;
mod registry;
mod replay;
mod reproduce;
mod sbom;
mod tls;
mod toolchains;
mod verify;
