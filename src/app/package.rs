//! `package`: already-built static binaries → one image, named once for every platform.
//!
//! `package BIN…` takes one binary per platform (each binary's machine names its platform);
//! `package --platform P BIN…` puts every binary in P's one image, each at `/app/<its file
//! name>`, the first (or the one `--entrypoint-path` names) the entrypoint.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::plan::env_platform;
use crate::error::Error;
use crate::package::{self, Binaries, PackageDefaults, PackageOutcome};
use crate::request::PackageRequest;
use crate::ui::{self, Ui};

/// `package`: verifies the binaries and packages them as the request asks.
pub fn package(request: &PackageRequest, ui: &Ui) -> Result<PackageOutcome, Error> {
    let (table, platform) = env_platform(request.platform.as_ref())?;
    // With `--platform`, several binaries are the programs of one image.
    let together = platform.is_some() && request.binaries.len() > 1;
    let inputs: Vec<Binaries> = if together {
        let programs = request
            .binaries
            .iter()
            .flat_map(|b| Binaries::one(b.clone(), platform).programs)
            .collect();
        let programs = package::entrypoint_first(programs, request.image.entrypoint_path.as_ref());
        vec![Binaries { platform, programs }]
    } else {
        request
            .binaries
            .iter()
            .map(|b| Binaries::one(b.clone(), platform))
            .collect()
    };
    let names: Vec<String> = inputs
        .iter()
        .filter_map(|b| Some(b.programs.first()?.name.clone()))
        .collect();
    // One name for every platform: a per-platform file name (`app-arm64`) must not become the
    // arm64 image's entrypoint `/app/app-amd64`. One image of several programs is named after
    // its entrypoint's.
    let name = match (&request.image.name, shared_stem(&names)) {
        (Some(name), _) => name.clone(),
        (None, Some(stem)) => {
            if names.iter().any(|n| *n != stem) {
                ui.status(
                    "Naming",
                    format!(
                        "the image `{stem}`, the stem the binaries' names share (`--name` sets \
                         another)"
                    ),
                );
            }
            stem
        }
        (None, None) => {
            // Two unrelated names are more likely two programs of one image than one program
            // for two platforms: both spellings are given.
            return Err(Error::Usage(format!(
                "the binaries' names ({}) share no stem to name the image after; give it one \
                 with `--name` (for one binary per platform), or name the platform to put them \
                 all in its one image: `package --platform PLATFORM BIN BIN`",
                ui::backticked(&names)
            )));
        }
    };
    let defaults = PackageDefaults {
        name,
        output_dir: default_target_dir().join("static-image"),
        cache_dir: default_target_dir().join("static-image-cache"),
        metadata: BTreeMap::new(),
        extra_outputs: Vec::new(),
        platforms: table,
        provenance: Default::default(),
    };
    package::package_many(&inputs, &request.image, &defaults, ui)
}

/// Where `package` writes by default: cargo's target dir convention, relative to here.
fn default_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The name several binaries share: the whole file name when they have one, else their common
/// leading words (split at `-`, `_` and `.`): `app-amd64`, `app-arm64` → `app`.
fn shared_stem(names: &[String]) -> Option<String> {
    let first = names.first()?;
    if names.iter().all(|n| n == first) {
        return (!first.is_empty()).then(|| first.clone());
    }
    let words = |n: &str| {
        n.split(['-', '_', '.'])
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mut common = words(first);
    for other in &names[1..] {
        let other = words(other);
        let same = common
            .iter()
            .zip(&other)
            .take_while(|(a, b)| a == b)
            .count();
        common.truncate(same);
    }
    // The stem as the first name spells it, separators included.
    let length: usize =
        common.iter().map(String::len).sum::<usize>() + common.len().saturating_sub(1);
    let stem = &first[..length];
    (!stem.is_empty()).then(|| stem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binaries_for_several_platforms_share_one_name() {
        let stem =
            |names: &[&str]| shared_stem(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(stem(&["app-amd64", "app-arm64"]), Some("app".into()));
        assert_eq!(
            stem(&["my-app.x86_64", "my-app.aarch64"]),
            Some("my-app".into())
        );
        assert_eq!(stem(&["server", "server"]), Some("server".into()));
        assert_eq!(stem(&["server"]), Some("server".into()));
        assert_eq!(stem(&["a-amd64", "b-arm64"]), None);
        assert_eq!(stem(&["hi-amd64", "hi-arm64"]), Some("hi".into()));
    }
}
