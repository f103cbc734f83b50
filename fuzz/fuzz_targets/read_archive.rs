//! The image reader (`--base`, `verify IMAGE`, `sbom IMAGE`) on an arbitrary `oci-archive:`
//! file: the tar unpacker with its path checks, `index.json`, manifests and configs. It must
//! refuse with an error, never panic, and never write outside its private directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use static_image::image::blob::BlobStore;
use static_image::platform::{Platform, Platforms};
use static_image::registry::RegistryOptions;
use static_image::transport::{self, ImageRef};
use static_image::ui::Ui;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let archive = dir.path().join("image.tar");
    if std::fs::write(&archive, data).is_err() {
        return;
    }
    let Ok(store) = BlobStore::new() else {
        return;
    };
    let spec: ImageRef = match format!("oci-archive:{}", archive.display()).parse() {
        Ok(spec) => spec,
        Err(_) => return,
    };
    let options = RegistryOptions::default();
    let ui = Ui::new(0, true, Default::default());
    let _ = transport::load(&spec, &[Platform::amd64()], &store, &options, &ui);
    let _ = transport::load_every_platform(&spec, &store, &Platforms::builtin(), &options, &ui);
});
