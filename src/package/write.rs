//! Step 3, write: the image set to every output, each through its sink (a layout, an
//! archive, a registry), in the order given.

use super::prepare::Run;
use crate::error::Error;
use crate::image::ImageSet;
use crate::transport::{SinkContext, Written, sink_for};
use crate::ui::Ui;

/// Writes `set` to every output of `run`; returns what the reported ones wrote.
pub(super) fn outputs(run: &Run<'_>, set: &ImageSet, ui: &Ui) -> Result<Vec<Written>, Error> {
    let tags = if run.args.tag.is_empty() {
        vec!["latest".to_string()]
    } else {
        run.args.tag.clone()
    };
    let context = context(run, ui);
    let mut written = Vec::new();
    for (i, output) in run.outputs.iter().enumerate() {
        let result = sink_for(output, &tags, &run.name, &context).write(set)?;
        if i < run.reported {
            ui.status("Wrote", &result.output);
            written.push(result);
        }
    }
    Ok(written)
}

/// What the sinks of `run` need beyond their specs.
pub(super) fn context(run: &Run<'_>, ui: &Ui) -> SinkContext {
    let cache = run.cache.as_ref();
    SinkContext {
        ui: ui.clone(),
        registry: run.registry.clone(),
        known_blobs: cache.map(|c| c.dir().join("registry-blobs.json")),
        cache_dir: cache.map(|c| c.dir().to_owned()),
    }
}
