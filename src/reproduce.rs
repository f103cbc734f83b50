//! `build --check-reproducible`: the same inputs must give the same image.
//!
//! The project is built as asked (its image also written to a private layout), then copied,
//! without its `target/` and `.git`, to a fresh directory elsewhere and built again there with
//! no layer cache. The two images must have the same digest. When they differ, the error lists
//! what differs: config fields, and for each differing layer the files whose content, mode,
//! owner or time differ, or that only one build has. A build path, a user name or a timestamp
//! that leaked into the binary shows up as the binary's content differing.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;
use crate::image::blob::HashWriter;
use crate::package::outcome::PackageOutcome;
use crate::plan::{MIRROR_SKIP, Mirror};
use crate::request::BuildRequest;
use crate::transport::ImageRef;
use crate::ui::Ui;

/// The ref name both builds write their private copy under.
const TAG: &str = "reproducibility-check";

/// One build, writing extra outputs besides those asked for.
pub type BuildOnce<'a> = dyn Fn(&BuildRequest, &[ImageRef]) -> Result<PackageOutcome, Error> + 'a;

/// Builds twice as the module says.
pub fn check(args: &BuildRequest, ui: &Ui, build: &BuildOnce<'_>) -> Result<PackageOutcome, Error> {
    let scratch = tempfile::Builder::new()
        .prefix("static-image-reproduce.")
        .tempdir()
        .map_err(Error::Staging)?;
    let layout = |name: &str| ImageRef::Oci {
        dir: scratch.path().join(name),
        reference: Some(TAG.into()),
    };
    let first = build(args, &[layout("first")])?;

    let source = args
        .project
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let source_dir = if source.is_dir() {
        source.clone()
    } else {
        source.parent().map(Path::to_owned).unwrap_or_default()
    };
    let source_dir = source_dir.canonicalize().map_err(Error::Staging)?;
    // Under its own folder name: a bare C folder or a Go module's directory names the program.
    let folder = source_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "project".into());
    let copy = scratch.path().join("elsewhere").join(folder);
    // The same copy a make or autotools build works in: without `target/` and `.git`.
    crate::build::sync_mirror(&Mirror {
        from: source_dir,
        to: copy.clone(),
        skip: MIRROR_SKIP.iter().map(|s| s.to_string()).collect(),
    })?;
    ui.status(
        "Rebuilding",
        format_args!(
            "in `{}`, without the layer cache, to compare",
            copy.display()
        ),
    );
    let mut again = args.clone();
    again.check_reproducible = false;
    again.project.path = Some(match source.file_name() {
        Some(name) if !source.is_dir() => copy.join(name),
        _ => copy.clone(),
    });
    again.image.output = vec![layout("second")];
    again.image.no_cache = true;
    let second = build(&again, &[])?;

    if first.digest == second.digest {
        ui.status(
            "Reproducible",
            format_args!("both builds gave `{}`", first.digest),
        );
        return Ok(first);
    }
    let differences = compare(
        &scratch.path().join("first"),
        &scratch.path().join("second"),
    )
    .unwrap_or_else(|e| vec![format!("the two images could not be compared: {e}")]);
    let kept = scratch.keep();
    Err(Error::NotReproducible {
        first: first.digest,
        second: second.digest,
        kept,
        differences,
    })
}

/// What differs between the images tagged [`TAG`] in two layouts.
fn compare(first: &Path, second: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let (a, b) = (manifests(first)?, manifests(second)?);
    for (platform, (manifest_a, _)) in &a {
        let Some((manifest_b, _)) = b.get(platform) else {
            out.push(format!("{platform}: only the first build has it"));
            continue;
        };
        let config = |layout: &Path, m: &Value| read_blob_json(layout, &m["config"]["digest"]);
        diff_json(
            &format!("{platform} config"),
            &config(first, manifest_a)?,
            &config(second, manifest_b)?,
            &mut out,
        );
        let layers = |m: &Value| m["layers"].as_array().cloned().unwrap_or_default();
        let (layers_a, layers_b) = (layers(manifest_a), layers(manifest_b));
        if layers_a.len() != layers_b.len() {
            out.push(format!(
                "{platform}: {} layers against {}",
                layers_a.len(),
                layers_b.len()
            ));
        }
        for (i, (la, lb)) in layers_a.iter().zip(&layers_b).enumerate() {
            if la["digest"] == lb["digest"] {
                continue;
            }
            let entries_a = entries(first, la)?;
            let entries_b = entries(second, lb)?;
            let before = out.len();
            for (path, ea) in &entries_a {
                match entries_b.get(path) {
                    None => out.push(format!(
                        "{platform} layer {i}: `/{path}` only in the first build"
                    )),
                    Some(eb) if eb != ea => out.push(format!(
                        "{platform} layer {i}: `/{path}` differs: {ea} against {eb}"
                    )),
                    Some(_) => {}
                }
            }
            for path in entries_b.keys().filter(|p| !entries_a.contains_key(*p)) {
                out.push(format!(
                    "{platform} layer {i}: `/{path}` only in the second build"
                ));
            }
            if out.len() == before {
                out.push(format!(
                    "{platform} layer {i}: the same files, different bytes (entry order or \
                     compression): {} against {}",
                    la["digest"], lb["digest"]
                ));
            }
        }
    }
    Ok(out)
}

/// Each platform's manifest (and digest) under [`TAG`].
fn manifests(layout: &Path) -> io::Result<BTreeMap<String, (Value, String)>> {
    let index: Value = serde_json::from_slice(&fs::read(layout.join("index.json"))?)?;
    let entry = index["manifests"]
        .as_array()
        .and_then(|m| {
            m.iter()
                .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == TAG)
        })
        .cloned()
        .ok_or_else(|| io::Error::other("no image under the check's tag"))?;
    let mut out = BTreeMap::new();
    let top = read_blob_json(layout, &entry["digest"])?;
    let list = match top["manifests"].as_array() {
        Some(list) => list.clone(),
        None => vec![entry],
    };
    for d in list {
        let platform = format!(
            "{}/{}",
            d["platform"]["os"].as_str().unwrap_or("linux"),
            d["platform"]["architecture"].as_str().unwrap_or("?")
        );
        let manifest = read_blob_json(layout, &d["digest"])?;
        out.insert(platform, (manifest, d["digest"].to_string()));
    }
    Ok(out)
}

fn blob_path(layout: &Path, digest: &Value) -> io::Result<PathBuf> {
    let hex = digest
        .as_str()
        .and_then(crate::image::blob::sha256_hex)
        .ok_or_else(|| io::Error::other(format!("`{digest}` is not a sha256 digest")))?;
    Ok(layout.join("blobs/sha256").join(hex))
}

fn read_blob_json(layout: &Path, digest: &Value) -> io::Result<Value> {
    Ok(serde_json::from_slice(&fs::read(blob_path(
        layout, digest,
    )?)?)?)
}

/// A layer's entries: path → "kind mode uid:gid mtime size sha256".
fn entries(layout: &Path, descriptor: &Value) -> io::Result<BTreeMap<String, String>> {
    let path = blob_path(layout, &descriptor["digest"])?;
    let media = descriptor["mediaType"].as_str().unwrap_or_default();
    let mut archive = tar::Archive::new(crate::verify::image::decompressed(&path, media)?);
    let mut out = BTreeMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry
            .path()?
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let header = entry.header().clone();
        let mut hashed = HashWriter::new(io::sink());
        io::copy(&mut entry, &mut hashed)?;
        let (_, digest, _) = hashed.finish();
        let digest = &digest["sha256:".len().."sha256:".len() + 16];
        out.insert(
            name,
            format!(
                "{:?} mode {:o} owner {}:{} mtime {} size {} sha256 {digest}…",
                header.entry_type(),
                header.mode().unwrap_or(0),
                header.uid().unwrap_or(0),
                header.gid().unwrap_or(0),
                header.mtime().unwrap_or(0),
                header.size().unwrap_or(0)
            ),
        );
    }
    Ok(out)
}

/// The paths at which two JSON documents differ, with both values.
fn diff_json(at: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let null = Value::Null;
                diff_json(
                    &format!("{at}.{key}"),
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff_json(&format!("{at}[{i}]"), p, q, out);
            }
        }
        _ if a != b => out.push(format!("{at}: {a} against {b}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_differences_name_their_paths() {
        let a: Value = serde_json::json!({"created": "1970", "config": {"Env": ["A=1"]}});
        let b: Value =
            serde_json::json!({"created": "2026", "config": {"Env": ["A=1"], "User": "x"}});
        let mut out = Vec::new();
        diff_json("config", &a, &b, &mut out);
        assert_eq!(
            out,
            vec![
                "config.config.User: null against \"x\"".to_string(),
                "config.created: \"1970\" against \"2026\"".to_string(),
            ]
        );
    }
}
