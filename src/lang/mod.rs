//! What each language adds around the generic stages once its plan is made: the image's default
//! name and `org.opencontainers.image.*` metadata, what the SBOM lists beyond the binary, and
//! a failed build's second chance (Go with cgo). How a language is *built* is the plan's
//! (`plan::{rust,go,c}`); what is done with the result is here, one file per language, so the
//! app layer asks "the language" and never matches on it itself.
//!
//! Everything is read from the plan's [`Facts`](crate::plan::Facts), decided once: nothing
//! here selects the binary target again or reads a step's arguments.

pub mod c;
pub mod go;
pub mod rust;

use std::collections::BTreeMap;
use std::path::Path;

use crate::detect::Project;
use crate::plan::{BuildPlan, Facts};
use crate::request::ProjectRequest;
use crate::toolchain::LibcKind;
use crate::ui::Ui;

/// Warns when `plan` links glibc statically: scratch has none of the shared modules glibc
/// loads at run time.
pub fn warn_of_static_glibc(plan: &BuildPlan, ui: &Ui) {
    if plan.libc == Some(LibcKind::Glibc) {
        ui.warn(format_args!(
            "{} for {} links glibc statically (strategy `{}`, the first this machine has): \
             name and user lookups (NSS), dlopen and iconv need glibc's shared modules, \
             which scratch lacks; `static-image toolchains` shows how to build against musl",
            plan.name, plan.platform, plan.strategy
        ));
    }
}

/// The image's name when `--name` is not given, for the binary `artifact` that `plan` built.
pub fn default_name(plan: &BuildPlan, artifact: &Path) -> String {
    match &plan.facts {
        Facts::C { .. } => c::default_name(artifact).unwrap_or_else(|| plan.name.clone()),
        Facts::Rust { .. } | Facts::Go { .. } => plan.name.clone(),
    }
}

/// The `org.opencontainers.image.*` (and our own) annotations the build knows for the binary
/// `artifact` that `plan` built.
pub fn metadata(plan: &BuildPlan, artifact: &Path) -> BTreeMap<String, String> {
    match &plan.facts {
        Facts::Rust { bin, .. } => rust::annotations(&bin.package),
        Facts::Go { .. } => go::annotations(artifact),
        Facts::C { .. } => BTreeMap::new(),
    }
}

/// What the build knows for the SBOM of the binary `plan` built, beyond the binary itself;
/// `cache` keeps answers that are slow to ask for.
pub fn sbom_facts(
    project: &Project,
    plan: &BuildPlan,
    request: &ProjectRequest,
    cache: Option<&Path>,
    ui: &Ui,
) -> crate::sbom::Facts {
    match (&plan.facts, project) {
        (
            Facts::Rust {
                triple,
                bin,
                provided,
            },
            Project::Rust(p),
        ) => {
            let mut facts = rust::sbom_facts(&p.manifest_path, triple, bin, request, cache, ui);
            facts
                .parts
                .extend(provided.iter().map(rust::provided_component));
            facts
        }
        // A Go binary tells its modules itself; with cgo, the C library is the toolchain's.
        (facts, _) => c::c_library(facts.c_compiler(), ui),
    }
}
