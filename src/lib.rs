//! `static-image`: Go, Rust and C projects and static binaries → reproducible `FROM scratch`
//! OCI images.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! ```text
//! detect ──> plan ──────> build ──> verify ──> image (assemble) ──> output (write / push)
//! Project    BuildPlan     PathBuf   StaticReport  Image           oci | oci-archive | docker-archive
//!                                                                  | docker:// (registry)
//!            (toolchain:
//!             strategies
//!             as data)
//! ```
//!
//! `sbom` turns the verify report (and what Cargo or the toolchain says) into the SPDX document
//! that `image` puts in the app layer and attaches to the image as a referrer.
//!
//! `closure` finds what a dynamic program's loader opens (`package --closure`) and checks an
//! image holds it (`verify`).
//!
//! `lang` holds what each language adds around those stages (metadata, SBOM facts, Go's cgo
//! retry). Only `exec` (through `build`, `detect`, `sbom` and the toolchain probe) and `output`
//! touch the outside world. `app` is the one module that knows every stage: it turns the
//! command line ([`cli`]) and the project's settings file ([`config`]) into requests
//! ([`request`]), runs one function per command, renders the error and picks the exit code.

pub mod ahead;
pub mod app;
pub mod build;
pub mod cache;
pub mod cli;
pub mod closure;
pub mod config;
pub mod detect;
pub mod error;
pub mod exec;
pub mod fsguard;
pub mod image;
pub mod lang;
pub mod package;
pub mod plan;
pub mod platform;
pub mod provide;
pub mod registry;
pub mod report;
pub mod reproduce;
pub mod request;
pub mod sbom;
pub mod sign;
pub mod staging;
pub mod toolchain;
pub mod transport;
pub mod ui;
pub mod verify;

pub use app::main;
