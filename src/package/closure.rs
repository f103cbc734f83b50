//! `--closure` in packaging: the programs' library closure becomes entries of the app layer,
//! a label on the image config, and the SBOM's Debian packages (written as scanners look for
//! them too, in `/var/lib/dpkg/status.d`).

use super::outcome::ClosureSummary;
use super::prepare::Verified;
use crate::closure::{self, ClosureRequest, Entry};
use crate::error::Error;
use crate::image::layer::Source;
use crate::image::spec::{AddEntry, ImagePath, ImageSpec};
use crate::request::ImageRequest;
use crate::sbom::{Component, Role};
use crate::ui::Ui;

/// What `--closure` asks for, checked against the rest of the flags: `--sysroot`/`--add-lib`
/// need it, and a closure image is one platform's, on scratch.
pub(super) fn request(
    args: &ImageRequest,
    platforms: usize,
) -> Result<Option<ClosureRequest>, Error> {
    let request = args.closure_request().map_err(Error::Usage)?;
    if request.is_some() {
        if args.base.is_some() {
            return Err(Error::Usage(
                "`--closure` images start from scratch: the libraries come from the host (or \
                 `--sysroot`), not from a `--base` image"
                    .into(),
            ));
        }
        if platforms > 1 {
            return Err(Error::Usage(
                "`--closure` resolves one platform's libraries: package one platform per run \
                 (several programs of one platform go together with `--platform`)"
                    .into(),
            ));
        }
    }
    Ok(request)
}

/// The image's `nsswitch.conf` when no `--add` replaces it.
const NSSWITCH: &str = include_str!("../../templates/nsswitch.conf");

/// Resolves the closure of `verified`'s programs, adds its files and links to `spec` (with
/// the closure label), warns of what was left out, and returns the packages for the SBOM with
/// the summary the outcome reports.
pub(super) fn add_closure(
    request: &ClosureRequest,
    verified: &Verified<'_>,
    spec: &mut ImageSpec,
    warn: &mut dyn FnMut(String),
    ui: &Ui,
) -> Result<(Vec<Component>, ClosureSummary), Error> {
    let started = std::time::Instant::now();
    let static_nss = |v: &Verified<'_>| {
        v.report
            .hazards
            .iter()
            .any(|h| h.code == "static-glibc-nss")
    };
    let mut programs = vec![closure::Program {
        host: verified.binary,
        image: spec.entrypoint.to_string(),
        static_nss: static_nss(verified),
    }];
    for (name, other) in &verified.others {
        programs.push(closure::Program {
            host: other.binary,
            image: format!("/app/{name}"),
            static_nss: static_nss(other),
        });
    }
    // The NSS modules follow the nsswitch.conf the image will have: an added one, else ours.
    let added = spec.adds.iter().find_map(|a| match a {
        AddEntry::File {
            dest,
            source: Source::File { path, .. },
            ..
        } if dest.as_str() == "/etc/nsswitch.conf" => Some(path.clone()),
        _ => None,
    });
    let nsswitch = match &added {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|source| crate::closure::ClosureError::Read {
                path: path.clone(),
                source,
            })?
        }
        None => NSSWITCH.to_string(),
    };
    let resolved = closure::resolve(&programs, request, &nsswitch)?;
    for warning in &resolved.warnings {
        warn(warning.clone());
    }
    let (mut files, mut links) = (0, 0);
    for (path, entry) in &resolved.entries {
        let dest: ImagePath = path.parse().map_err(Error::Usage)?;
        spec.adds.push(match entry {
            Entry::File { host, mode, .. } => {
                files += 1;
                let size = std::fs::metadata(host)
                    .map_err(|source| crate::closure::ClosureError::Read {
                        path: host.clone(),
                        source,
                    })?
                    .len();
                AddEntry::File {
                    dest,
                    source: Source::File {
                        path: host.clone(),
                        size,
                    },
                    mode: *mode,
                }
            }
            Entry::Link(target) => {
                links += 1;
                AddEntry::Link {
                    dest,
                    target: target.clone(),
                }
            }
        });
    }
    // The gconv configuration and the scanners' view of the packages, unless the user adds
    // their own file at that path.
    for (path, bytes) in &resolved.files {
        let dest: ImagePath = path.parse().map_err(Error::Usage)?;
        let added = spec
            .adds
            .iter()
            .any(|a| matches!(a, AddEntry::File { dest: d, .. } if *d == dest));
        if !added {
            spec.adds.push(AddEntry::File {
                dest,
                source: Source::Bytes(bytes.clone()),
                mode: 0o644,
            });
        }
    }
    spec.labels
        .insert(closure::LABEL.to_string(), "true".to_string());
    ui.status(
        "Resolved",
        format_args!(
            "the library closure: {files} files, {links} links, {} Debian packages ({} ms)",
            resolved.packages.len(),
            started.elapsed().as_millis()
        ),
    );
    let components = resolved
        .packages
        .iter()
        .map(|p| Component {
            purl: Some(p.purl()),
            comment: Some(
                "shared library copied by --closure; owner from the dpkg database".into(),
            ),
            ..Component::new(Role::Library, &p.name, Some(p.version.clone()))
        })
        .collect();
    let summary = ClosureSummary {
        files,
        links,
        packages: resolved.packages.iter().map(|p| p.purl()).collect(),
    };
    Ok((components, summary))
}
