//! End-to-end tests of the `static-image` binary with real toolchains and real image tools.
//! One test binary, one file per user-facing feature; the harnesses they share (the runner,
//! fixtures, a registry, a TLS server, runc…) are in `support/`, one file each.

// A panic is how a test reports failure; helpers shared by tests may unwrap like the tests do.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;

// Building a project, per language.
mod build_c;
mod build_go;
mod build_rust;
mod native_c;
mod native_rust;
mod plan;
mod toolchains;

// Making and writing images.
mod base;
mod clients;
mod closure;
mod compression;
mod config;
mod debug_variant;
mod multiarch;
mod outputs;
mod outputs_crash;
mod package;
mod registry;
mod tls;

// Reading images and binaries.
mod sbom;
mod scanners;
mod signing;
mod verify;

// Runs that give the same answer: the same bytes again, or the work remembered.
mod cache;
mod reproducibility;

// Hostile or broken input, per class.
mod hostile_images;
mod hostile_outputs;
mod hostile_project;
mod hostile_registry;
mod hostile_verdicts;

// Several programs in one image.
mod multibin;
