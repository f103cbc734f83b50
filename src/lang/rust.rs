//! Rust: the image's metadata from the Cargo package of the binary target, and the SBOM's
//! crates from `cargo metadata` for the target triple the plan built for.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::image as oci;

use crate::detect::{BinTarget, PackageInfo};
use crate::plan::ProvidedLibrary;
use crate::request::ProjectRequest;
use crate::sbom::{self, Facts};
use crate::ui::Ui;

/// `org.opencontainers.image.*` annotations from a Cargo package: the fields it fills.
pub fn annotations(package: &PackageInfo) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::new();
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            meta.insert(key.to_string(), v.clone());
        }
    };
    put(oci::ANNOTATION_VERSION, Some(&package.version));
    put(oci::ANNOTATION_DESCRIPTION, package.description.as_ref());
    put(oci::ANNOTATION_LICENSES, package.license.as_ref());
    put(oci::ANNOTATION_SOURCE, package.repository.as_ref());
    put(oci::ANNOTATION_URL, package.homepage.as_ref());
    put(oci::ANNOTATION_AUTHORS, package.authors.as_ref());
    meta
}

/// The crates linked into `bin` (of the project whose manifest is `manifest`) built for
/// `triple` with the features among the request's build arguments.
pub fn sbom_facts(
    manifest: &Path,
    triple: &str,
    bin: &BinTarget,
    request: &ProjectRequest,
    cache: Option<&Path>,
    ui: &Ui,
) -> Facts {
    let query = sbom::rust::Query {
        manifest,
        package: &bin.package,
        triple,
        features: sbom::rust::feature_flags(&request.build_args),
        offline: request.offline,
    };
    sbom::rust::facts(&query, cache, ui)
}

/// The SBOM's component for a C library built for a crate of the build (`provide`).
pub fn provided_component(library: &ProvidedLibrary) -> sbom::Component {
    sbom::Component {
        purl: Some(sbom::purl(
            "generic",
            &library.purl_name,
            Some(&library.version),
        )),
        comment: Some(format!(
            "built by static-image from the sources of the crate `{}` for `{}`, linked into \
             the binary",
            library.source_crate, library.for_crate
        )),
        ..sbom::Component::new(
            sbom::Role::Library,
            &library.library,
            Some(library.version.clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_the_fields_the_package_fills() {
        let package = PackageInfo {
            name: "hello".into(),
            version: "1.2.0".into(),
            license: Some("MIT".into()),
            homepage: Some(String::new()),
            ..PackageInfo::default()
        };
        let meta = annotations(&package);
        assert_eq!(
            meta,
            BTreeMap::from([
                (oci::ANNOTATION_VERSION.to_string(), "1.2.0".to_string()),
                (oci::ANNOTATION_LICENSES.to_string(), "MIT".to_string()),
            ])
        );
    }
}
