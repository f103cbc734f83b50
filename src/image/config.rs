//! The image's JSON documents: config and manifest, built with oci-spec, serialised canonically.
//!
//! Config (image-spec `config.md`): `architecture`/`os` REQUIRED; `created`, `config`
//! (User, Env, Entrypoint, Cmd, WorkingDir, ExposedPorts, Labels), `history` OPTIONAL;
//! `rootfs.diff_ids` REQUIRED, one per layer in order. The manifest (`manifest.md`) points at
//! the config and the layers and carries the `org.opencontainers.image.*` annotations.

use std::collections::BTreeMap;

use oci_spec::OciSpecError;
use oci_spec::image::{
    ANNOTATION_CREATED, Arch, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfiguration,
    ImageConfigurationBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os, RootFsBuilder,
};

use super::spec::ImageSpec;
use crate::platform::Platform;

/// The in-image path of the CA bundle; also the `SSL_CERT_FILE` default.
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `PATH` as distroless and Debian set it; the entrypoint is absolute, so this is for tools
/// that look programs up (none in scratch, but `--add` may bring some).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The OCI architecture of a platform.
pub fn oci_arch(platform: Platform) -> Arch {
    Arch::from(platform.arch())
}

/// RFC 3339 UTC text for seconds since the epoch.
pub fn rfc3339(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The environment: defaults first (with a base, the base's own, plus the CA bundle's path
/// when we ship one), a user value replacing one of the same name in place.
fn environment(spec: &ImageSpec) -> Vec<String> {
    let mut env: Vec<(String, String)> = match &spec.base {
        None => vec![
            ("PATH".into(), DEFAULT_PATH.into()),
            ("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into()),
        ],
        Some(base) => {
            let mut env: Vec<(String, String)> = base
                .config
                .config()
                .as_ref()
                .and_then(|c| c.env().clone())
                .unwrap_or_default()
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.clone(), String::new()),
                })
                .collect();
            if spec.ca_in_app && !env.iter().any(|(k, _)| k == "SSL_CERT_FILE") {
                env.push(("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into()));
            }
            env
        }
    };
    for kv in &spec.env {
        match env.iter_mut().find(|(k, _)| *k == kv.key) {
            Some(slot) => slot.1 = kv.value.clone(),
            None => env.push((kv.key.clone(), kv.value.clone())),
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The image configuration for `spec`, whose layers have these diff_ids and history lines.
pub fn configuration(
    spec: &ImageSpec,
    diff_ids: &[String],
    history_lines: &[String],
) -> Result<ImageConfiguration, OciSpecError> {
    let created = rfc3339(spec.created);
    // A base's settings come first; ours (what the user asked for) win.
    let base = spec.base.as_ref().and_then(|b| b.config.config().clone());
    let mut config = ConfigBuilder::default()
        .user(spec.user.as_str())
        .env(environment(spec))
        .entrypoint(vec![spec.entrypoint.to_string()]);
    if !spec.args.is_empty() {
        config = config.cmd(spec.args.clone());
    }
    match (
        &spec.workdir,
        base.as_ref().and_then(|b| b.working_dir().clone()),
    ) {
        (Some(dir), _) => config = config.working_dir(dir.to_string()),
        (None, Some(dir)) => config = config.working_dir(dir),
        (None, None) => {}
    }
    let mut ports: Vec<String> = spec.ports.iter().map(|p| p.to_string()).collect();
    ports.extend(
        base.as_ref()
            .and_then(|b| b.exposed_ports().clone())
            .unwrap_or_default(),
    );
    if !ports.is_empty() {
        ports.sort();
        ports.dedup();
        config = config.exposed_ports(ports);
    }
    let mut labels: BTreeMap<String, String> = base
        .as_ref()
        .and_then(|b| b.labels().clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.extend(spec.labels.clone());
    if !labels.is_empty() {
        config = config.labels(
            labels
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    if let Some(volumes) = base.as_ref().and_then(|b| b.volumes().clone()) {
        config = config.volumes(volumes);
    }
    if let Some(signal) = base.as_ref().and_then(|b| b.stop_signal().clone()) {
        config = config.stop_signal(signal);
    }
    let mut history = spec
        .base
        .as_ref()
        .and_then(|b| b.config.history().clone())
        .unwrap_or_default();
    for line in history_lines {
        history.push(
            HistoryBuilder::default()
                .created(created.clone())
                .created_by(line.clone())
                .build()?,
        );
    }
    let mut builder = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(oci_arch(spec.platform))
        .os(Os::Linux)
        .config(config.build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids.to_vec())
                .build()?,
        )
        .history(history);
    if let Some(variant) = spec.platform.variant() {
        builder = builder.variant(variant);
    }
    builder.build()
}

/// The manifest pointing at `config` and `layers`, annotated with `annotations` and `created`.
pub fn manifest(
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: &BTreeMap<String, String>,
    created: i64,
) -> Result<ImageManifest, OciSpecError> {
    let mut annotations = annotations.clone();
    annotations.insert(ANNOTATION_CREATED.into(), rfc3339(created));
    ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .annotations(
            annotations
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
