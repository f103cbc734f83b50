//! `oci:DIR[:REF]`: an OCI image layout directory (image-spec `image-layout.md`), read
//! ([`read`]: `--base`, `verify`, `sbom`, and every unpacked archive) and written ([`write`]).

pub mod read;
pub mod write;
