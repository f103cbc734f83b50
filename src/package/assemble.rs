//! Step 2, assemble: each platform's layers (compressed side by side, or taken from the layer
//! cache), config, manifest and SBOM referrer, checked when stacked on a base, then one
//! [`ImageSet`] (under an image index when there are several).

use super::prepare::{Inputs, Run};
use crate::error::Error;
use crate::image::layer::Origin;
use crate::image::layer::Source;
use crate::image::spec::{ImagePath, ImageSpec, User};
use crate::image::{Image, ImageError, ImageSet, Reuse, assemble};
use crate::transport::BaseImage;
use crate::ui::Ui;

/// The assembled images.
pub(super) struct Assembled {
    /// Every platform's image, in platform order.
    pub set: ImageSet,
    /// False when a damaged cache entry was found: the run's warning would not hold for a
    /// replay of it.
    pub replayable: bool,
}

/// Assembles one image per verified binary into `inputs.store`.
pub(super) fn images(run: &Run<'_>, inputs: &mut Inputs<'_>, ui: &Ui) -> Result<Assembled, Error> {
    let name = &run.name;
    // A cached blob's bytes are read (and so verified) only for outputs that lack it.
    let (outputs, cache) = (&run.outputs, run.cache.as_ref());
    let needed = |digest: &str| outputs.iter().any(|o| o.needs_blob(digest, cache));
    let needed: &(dyn Fn(&str) -> bool + Sync) = &needed;
    for v in &inputs.verified {
        ui.status("Packaging", format_args!("`{name}` for {}", v.platform));
    }
    let progress = ui.progress(
        "Compressing",
        &format!("`{name}`"),
        inputs
            .verified
            .iter()
            .flat_map(|v| v.all())
            .map(|v| v.size)
            .sum(),
    );
    let on_bytes = |n| progress.add(n);
    let reuse = Reuse {
        cache,
        needed,
        on_bytes: &on_bytes,
    };
    // Platforms are independent: compress them side by side (the cores are otherwise idle).
    let assembled: Vec<Result<Image, ImageError>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            inputs
                .verified
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let base = inputs.bases.get(i).cloned();
                    // Without `--user`, a base's user stands (else ours, nonroot).
                    let user = match (&run.args.user, base.as_ref().and_then(base_user)) {
                        (None, Some(user)) => user,
                        _ => inputs.spec.user.clone(),
                    };
                    let programs =
                        v.others
                            .iter()
                            .map(|(name, other)| {
                                let path =
                                    format!("/app/{name}").parse::<ImagePath>().unwrap_or_else(
                                        |e| unreachable!("program names are checked before: {e}"),
                                    );
                                let source = Source::File {
                                    path: other.binary.to_owned(),
                                    size: other.size,
                                };
                                (path, source)
                            })
                            .collect();
                    let spec = ImageSpec {
                        platform: v.platform,
                        programs,
                        base,
                        user,
                        sbom: inputs.documents.get(&v.platform).cloned(),
                        ..inputs.spec.clone()
                    };
                    let store = &inputs.store;
                    let (binary, size) = (v.binary, v.size);
                    scope.spawn(move || assemble(binary, size, &spec, store, reuse))
                })
                .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    progress.finish();
    let mut images = Vec::new();
    let mut replayable = true;
    for image in assembled {
        let image = image?;
        // The stacked layers must start what the config names: a base may shadow our path.
        // Our own layers cannot (their entries are checked for clashes as they are laid out),
        // so an image on scratch is not read back.
        let on_base = image.origins.contains(&Origin::Base);
        if on_base
            && let Some(problem) =
                crate::verify::image::check_assembled(name, &image, &run.defaults.platforms)?
        {
            return Err(Error::EntrypointUnfit {
                platform: image.platform,
                problem,
            });
        }
        for (layer, origin) in image.layers.iter().zip(&image.origins) {
            match origin {
                Origin::Cached => ui.verbose(format_args!(
                    "reused cached layer {} ({} bytes)",
                    layer.blob.digest, layer.blob.size
                )),
                Origin::Rebuilt { digest } => {
                    replayable = false;
                    inputs.warnings.warn(format!(
                        "the cached layer `{digest}` was damaged; it was removed from the cache and \
                     the layer compressed again"
                    ))
                }
                Origin::Built | Origin::Base => {}
            }
        }
        images.push(image);
    }
    Ok(Assembled {
        set: ImageSet::of(images, &inputs.store)?,
        replayable,
    })
}

/// The user a base image runs as, if it names one.
fn base_user(base: &BaseImage) -> Option<User> {
    let user = base.config.config().as_ref()?.user().clone()?;
    (!user.is_empty()).then(|| User::of_base(&user))
}
