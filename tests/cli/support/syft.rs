//! syft, the scanner the SBOM tests read images with (its update check off: no network).

use serde_json::Value;

/// The `artifacts` of `syft ARGS… -o syft-json`.
pub fn syft_artifacts(args: &[&str]) -> Value {
    let out = std::process::Command::new("syft")
        .args(args)
        .args(["-o", "syft-json", "-q"])
        .env("SYFT_CHECK_FOR_APP_UPDATE", "false")
        .output()
        .expect("syft runs");
    assert!(
        out.status.success(),
        "syft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("syft prints JSON");
    json["artifacts"].clone()
}

/// What syft finds in the image `spec` (`docker-archive:FILE`, `oci-archive:FILE`) with its
/// SBOM cataloger added to the default ones: the packages the SBOM files inside name.
pub fn syft_scan(spec: &str) -> Value {
    syft_artifacts(&["scan", spec, "--select-catalogers", "+sbom-cataloger"])
}
