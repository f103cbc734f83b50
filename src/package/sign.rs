//! Step 2b, sign (with `--sign-key`): for every platform manifest and the index, a signature
//! and an SLSA provenance; for every SBOM artifact, a signature. Each is a Sigstore bundle
//! attached as a referrer of what it signs, so every transport carries it as it carries the
//! SBOM. Signatures are deterministic: a signed image is as reproducible as an unsigned one.

use std::io::Read as _;

use serde_json::{Map, Value, json};

use super::prepare::{Inputs, Run};
use crate::error::Error;
use crate::image::blob::Blob;
use crate::image::{Artifact, ImageError, ImageSet, artifact};
use crate::sign::PrivateKey;
use crate::sign::bundle::{self, Bundle};
use crate::sign::provenance::{self, Resource};
use crate::ui::Ui;

/// The annotation cosign and the sigstore clients read to tell a bundle's kind without
/// fetching it: the predicate type of an attestation, this one for a plain signature.
pub const ANNOTATION_PREDICATE: &str = "dev.sigstore.bundle.predicateType";
/// The predicate "type" a plain signature bundle is annotated with (cosign's).
pub const SIGNATURE_KIND: &str = "https://sigstore.dev/cosign/sign/v1";
/// Names the builder in the provenance (a CI runner's identity, say).
pub const BUILDER_ID_ENV: &str = "STATIC_IMAGE_BUILDER_ID";

/// Signs every manifest, the index and each SBOM of `set`, and attaches the bundles.
pub(super) fn attach(
    run: &Run<'_>,
    inputs: &Inputs<'_>,
    key: &PrivateKey,
    set: &mut ImageSet,
    ui: &Ui,
) -> Result<(), Error> {
    ui.status(
        "Signing",
        format_args!("`{}` with key {}", run.name, &key.public().hint()[..16]),
    );
    let store = &inputs.store;
    let mut referrers = Vec::new();
    let mut every_dependency = Vec::new();
    for (i, image) in set.images().iter().enumerate() {
        let dependencies = dependencies(run, inputs, i, image.platform);
        let external = external(run, &[image.platform.to_string()]);
        referrers.push(signature(run, store, key, &image.manifest)?);
        referrers.push(attestation(
            run,
            store,
            key,
            &image.manifest,
            external,
            dependencies.clone(),
        )?);
        if let Some(sbom) = &image.sbom {
            referrers.push(signature(run, store, key, &sbom.manifest)?);
        }
        every_dependency.extend(dependencies);
    }
    if let Some(index) = set.index() {
        let platforms: Vec<String> = set
            .images()
            .iter()
            .map(|i| i.platform.to_string())
            .collect();
        every_dependency.sort_by_key(|r| serde_json::to_string(r).unwrap_or_default());
        every_dependency.dedup();
        referrers.push(signature(run, store, key, index)?);
        referrers.push(attestation(
            run,
            store,
            key,
            index,
            external(run, &platforms),
            every_dependency,
        )?);
    }
    for referrer in referrers {
        set.attach(referrer);
    }
    Ok(())
}

/// A message-signature bundle over `subject`'s bytes.
fn signature(
    run: &Run<'_>,
    store: &crate::image::blob::BlobStore,
    key: &PrivateKey,
    subject: &Blob,
) -> Result<crate::image::Referrer, Error> {
    let bytes = read(subject)?;
    let bundle = Bundle::sign_message(key, &bytes).to_bytes();
    Ok(artifact(
        store,
        subject,
        Artifact {
            artifact_type: bundle::MEDIA_TYPE,
            what: "signature",
            document: &bundle,
            title: "signature.sigstore.json",
            annotations: vec![(ANNOTATION_PREDICATE, SIGNATURE_KIND.into())],
        },
        run.created,
    )?)
}

/// A DSSE bundle of the SLSA provenance statement about `subject`.
fn attestation(
    run: &Run<'_>,
    store: &crate::image::blob::BlobStore,
    key: &PrivateKey,
    subject: &Blob,
    external: Value,
    dependencies: Vec<Resource>,
) -> Result<crate::image::Referrer, Error> {
    // SOURCE_DATE_EPOCH stands for the build's time; without it a clock reading would make
    // every run's statement (and so the image's referrers) differ: the times are left out.
    let times = std::env::var_os("SOURCE_DATE_EPOCH").map(|_| (run.created, run.created));
    let statement = provenance::statement(&provenance::Inputs {
        subject_name: run.name.clone(),
        subject_digest: subject.digest.clone(),
        external,
        dependencies,
        builder_id: std::env::var(BUILDER_ID_ENV)
            .ok()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| provenance::DEFAULT_BUILDER_ID.into()),
        times,
    });
    let bundle = Bundle::sign_statement(key, &statement).to_bytes();
    Ok(artifact(
        store,
        subject,
        Artifact {
            artifact_type: bundle::MEDIA_TYPE,
            what: "provenance",
            document: &bundle,
            title: "provenance.sigstore.json",
            annotations: vec![(ANNOTATION_PREDICATE, provenance::PREDICATE_TYPE.into())],
        },
        run.created,
    )?)
}

/// The flags that shaped the image, with the build's own parameters.
fn external(run: &Run<'_>, platforms: &[String]) -> Value {
    let args = run.args;
    let mut map = Map::new();
    map.insert("name".into(), json!(run.name));
    map.insert("platforms".into(), json!(platforms));
    let pairs = |kv: &[crate::image::spec::KeyValue]| -> Vec<String> {
        kv.iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect()
    };
    let image = json!({
        "entrypoint": args.entrypoint_path.as_ref().map(|p| p.to_string()),
        "args": args.args,
        "env": pairs(&args.env),
        "ports": args.port.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "labels": pairs(&args.label),
        "user": args.user.as_ref().map(|u| u.as_str().to_string()),
        "workdir": args.workdir.as_ref().map(|p| p.to_string()),
        "tags": args.tag,
        "compression": run.compression.id(),
        "sbom": (!args.no_sbom).then(|| args.sbom_format.name()),
        "base": args.base,
    });
    map.insert("image".into(), image);
    for (key, value) in &run.defaults.provenance.external {
        map.insert(key.clone(), value.clone());
    }
    Value::Object(map)
}

/// What the image at `index` was made from: the binary, the build's inputs, the base.
fn dependencies(
    run: &Run<'_>,
    inputs: &Inputs<'_>,
    index: usize,
    platform: crate::platform::Platform,
) -> Vec<Resource> {
    let mut out = Vec::new();
    // The digests run over every image's programs in turn, the entrypoint's first.
    let skip: usize = inputs.verified[..index.min(inputs.verified.len())]
        .iter()
        .map(|v| v.all().count())
        .sum();
    if let Some(verified) = inputs.verified.get(index) {
        for (program, digest) in verified.all().zip(inputs.digests.iter().skip(skip)) {
            // The file's name only: an absolute path would differ between checkouts.
            let name = program
                .binary
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut binary = Resource::with_digest(&name, "sha256", digest);
            binary.annotations.insert("role".into(), "binary".into());
            out.push(binary);
            out.extend(toolchain(&program.report));
        }
    }
    if let Some(deps) = run.defaults.provenance.dependencies.get(&platform) {
        out.extend(deps.iter().cloned());
    }
    if let Some(base) = inputs.bases.get(index) {
        let hex = base.digest.strip_prefix("sha256:").unwrap_or(&base.digest);
        out.push(Resource {
            uri: Some(base.name.clone()),
            ..Resource::with_digest("base", "sha256", hex)
        });
    }
    out
}

/// The compilers the binary names (its `.comment`, Go's build info): what made it.
fn toolchain(report: &crate::verify::StaticReport) -> Vec<Resource> {
    let mut out: Vec<Resource> = report
        .compilers
        .iter()
        .map(|compiler| Resource {
            name: Some("compiler".into()),
            annotations: [("version".to_string(), compiler.clone())].into(),
            ..Resource::default()
        })
        .collect();
    if let Some(version) = report.go.as_ref().and_then(|g| g.go_version.as_ref()) {
        out.push(Resource {
            name: Some("go".into()),
            uri: Some(format!(
                "pkg:golang/stdlib@{}",
                version.trim_start_matches("go")
            )),
            ..Resource::default()
        });
    }
    out
}

/// A manifest's bytes (manifests are small; the size is the blob's own, already checked).
fn read(blob: &Blob) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    std::fs::File::open(&blob.path)
        .and_then(|f| f.take(blob.size).read_to_end(&mut bytes))
        .map_err(|source| {
            Error::Image(ImageError::Store {
                what: "manifest to sign",
                source,
            })
        })?;
    Ok(bytes)
}
