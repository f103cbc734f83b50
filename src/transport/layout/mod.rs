//! `oci:DIR[:REF]`: an OCI image layout directory (image-spec `image-layout.md`), read
//! ([`read`]: `--base`, `verify`, `sbom`, and every unpacked archive) and written ([`write`]).

pub mod read;
pub mod write;

use std::io;

use oci_spec::image::{OciLayout, OciLayoutBuilder};

/// The image-layout version this tool writes and, in a layout it adds to, expects.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// The bytes of the `oci-layout` file (REQUIRED: "This REQUIRED property specifies the image
/// layout version"): `{"imageLayoutVersion":"1.0.0"}`.
pub fn marker() -> io::Result<Vec<u8>> {
    let layout = OciLayoutBuilder::default()
        .image_layout_version(LAYOUT_VERSION)
        .build()
        .map_err(io::Error::other)?;
    Ok(serde_json::to_vec(&layout)?)
}

/// Checks the bytes of an existing `oci-layout` file: an [`OciLayout`] of our version.
pub fn check_marker(bytes: &[u8]) -> Result<(), String> {
    let layout: OciLayout = serde_json::from_slice(bytes)
        .map_err(|e| format!("`oci-layout` is not an image layout marker: {e}"))?;
    match layout.image_layout_version().as_str() {
        LAYOUT_VERSION => Ok(()),
        other => Err(format!(
            "`oci-layout` has imageLayoutVersion {other:?}, expected {LAYOUT_VERSION:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_the_spec_s_bytes_and_reads_back() {
        let bytes = marker().unwrap();
        assert_eq!(bytes, br#"{"imageLayoutVersion":"1.0.0"}"#);
        assert!(check_marker(&bytes).is_ok());
        let err = check_marker(br#"{"imageLayoutVersion":"2.0.0"}"#).unwrap_err();
        assert!(err.contains("expected \"1.0.0\""), "{err}");
        assert!(
            check_marker(b"{}")
                .unwrap_err()
                .contains("not an image layout marker")
        );
    }
}
