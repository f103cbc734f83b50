//! End-to-end tests of the `static-image` binary with real toolchains and real image tools.
//! One test binary, one module per command (see `tests/cli/`).

#[macro_use]
mod support;

mod build;
mod package;
mod verify;
