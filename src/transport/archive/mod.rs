//! `oci-archive:FILE[:REF]` and `docker-archive:FILE[:REPO[:TAG]]`: an OCI layout in one tar
//! file. Reading unpacks it into a private folder and reads that as a layout ([`read`]);
//! writing builds the tar beside the target and renames it into place ([`write`]).

pub mod read;
pub mod write;
