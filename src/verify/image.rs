//! `verify IMAGE_SPEC`: every ELF file of every platform of an image, from any transport the
//! tool reads (`oci:`, `oci-archive:`, a `docker-archive:` holding an OCI index, `docker://`),
//! made by any tool.
//!
//! Each platform's layers are read top-down as the runtime would stack them: a file replaced or
//! removed (a `.wh.` whiteout, an opaque directory) by a higher layer is not judged by its lower
//! copy. Every remaining regular file that starts with the ELF magic is verified against the
//! platform of the manifest it came from: no interpreter, no needed libraries, the right
//! machine. The entrypoint must be one of the files there. This is the check that catches the
//! classic `exec /app: no such file or directory` before the image ships. Dynamic ELF files
//! also get the closure check ([`crate::closure::check`]): their interpreter and libraries must
//! be in the image; an image labelled as a closure image (or `--allow-dynamic`) then accepts
//! them.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use serde::Serialize;

use super::elf_read::ElfBytes;
use super::entrypoint::{self, Content, EntrypointProblem, Program};
use super::stack::{self, Kind, Tree};
use super::{StaticReport, verify_bytes};
use crate::image::Image;
use crate::image::blob::BlobStore;
use crate::image::layer::Layer;
use crate::platform::{Platform, Platforms};
use crate::registry::RegistryOptions;
use crate::transport::{self as base, BaseImage, ImageRef, RefError};
use crate::ui::Ui;
use oci_spec::image::ImageConfiguration;

/// The verdict on one platform's image.
#[derive(Clone, Debug, Serialize)]
pub struct PlatformVerdict {
    /// The platform of its manifest.
    pub platform: Platform,
    /// Its manifest's digest.
    pub digest: String,
    /// The entrypoint its config names, if any.
    pub entrypoint: Option<String>,
    /// Every ELF file in its final filesystem, checked.
    pub files: Vec<StaticReport>,
    /// What is wrong beyond single files (a missing entrypoint, ELF files that do not parse).
    pub problems: Vec<String>,
    /// What is odd but harmless (a layer tar without its end blocks).
    pub notes: Vec<String>,
    /// What a shell-free image must not hold, each path with what it is: shells by name,
    /// scripts (a `#!` line), ELF interpreters of other languages. Judged only by a policy
    /// that forbids them (`--forbid-shells`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shells: Vec<String>,
    /// The user its config runs as (`""` is root).
    pub user: String,
    /// What the dynamic ELF files need that the image lacks (for their machine).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_libraries: Vec<crate::closure::check::Missing>,
    /// Whether the dynamic ELF files' closure is complete in the image; absent when none is
    /// dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure_complete: Option<bool>,
    /// No file has a problem and nothing else is wrong.
    pub ok: bool,
}

/// Names that are shells wherever they are (a link named `sh` to busybox is one too).
const SHELL_NAMES: [&str; 8] = ["sh", "bash", "ash", "dash", "busybox", "zsh", "ksh", "mksh"];
/// ELF programs that run code given as text: an image holding one can run a shell's worth.
const INTERPRETER_PREFIXES: [&str; 5] = ["python", "perl", "node", "ruby", "php"];

/// What `path` is as a shell-free image sees it, by its name.
fn shell_by_name(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    SHELL_NAMES
        .contains(&name)
        .then(|| format!("`{path}` (a shell)"))
}

/// An ELF program at `path` that is a known interpreter, by its name (`python3.11`, `node`).
fn interpreter_by_name(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    INTERPRETER_PREFIXES
        .iter()
        .find(|p| {
            name.strip_prefix(**p)
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
        })
        .map(|p| format!("`{path}` (the {p} interpreter)"))
}

/// The verdict on an image.
#[derive(Clone, Debug, Serialize)]
pub struct ImageVerdict {
    /// The image, as named.
    pub image: String,
    /// Each platform the tool knows, in the order the image lists them.
    pub platforms: Vec<PlatformVerdict>,
    /// Manifests for platforms the tool has no ELF machine for, not checked.
    pub skipped: Vec<String>,
    /// With `--key`: the signature, provenance and SBOM-signature checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<super::signed::Check>,
    /// The policy's checks (`--policy` and its flags).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<super::signed::Check>,
    /// Every platform is ok, and every signature check holds.
    pub ok: bool,
}

/// Why an image could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum ImageVerifyError {
    /// The image could not be read.
    #[error(transparent)]
    Read(#[from] base::BaseError),
    /// A layer could not be decompressed or its tar read.
    #[error("image `{image}`: layer `{digest}` cannot be read as a {media_type} tar")]
    Layer {
        /// The image.
        image: String,
        /// The layer's digest.
        digest: String,
        /// Its media type.
        media_type: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The staging area could not be made.
    #[error("cannot create a staging directory for the image's blobs")]
    Staging(#[source] io::Error),
    /// The config of an image just assembled could not be read back.
    #[error("image `{image}`: its config cannot be read back for verification")]
    Assembled {
        /// The image's name.
        image: String,
        /// Why.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// The image holds no platform the tool can check.
    #[error("image `{image}` holds no platform this tool knows (it has: {found})")]
    NoPlatform {
        /// The image.
        image: String,
        /// What it has.
        found: String,
    },
}

/// Whether a command-line word names an image rather than a file: it starts with a
/// transport, and no file of that name exists.
pub fn is_image_spec(word: &str) -> bool {
    ImageRef::names_transport(word) && !Path::new(word).exists()
}

/// Verifies every platform of the image `spec` names (`docker-archive:` is read as the OCI
/// archive it also is).
pub fn verify_image(
    text: &str,
    table: &Platforms,
    options: &RegistryOptions,
    demands: Demands<'_>,
    ui: &Ui,
) -> Result<ImageVerdict, ImageVerifyError> {
    let (images, skipped, _store) = open(text, table, options, ui)?;
    let mut platforms = Vec::new();
    for (platform, image) in &images {
        platforms.push(verify_platform(
            text,
            *platform,
            image,
            table,
            demands.allow_dynamic,
        )?);
    }
    let subjects = if demands.key.is_some() || demands.policy.reads_referrers() {
        base::attached(&parse(text)?, table, options, ui)?
    } else {
        Vec::new()
    };
    let signatures = match demands.key {
        Some(key) => super::signed::check(&subjects, key),
        None => Vec::new(),
    };
    let mut verdict = ImageVerdict {
        image: text.to_string(),
        platforms,
        skipped,
        signatures,
        policy: Vec::new(),
        ok: false,
    };
    verdict.policy = demands
        .policy
        .check(&verdict, &subjects, &verdict.signatures);
    verdict.ok = verdict.platforms.iter().all(|p| p.ok)
        && verdict.signatures.iter().all(|c| c.ok)
        && verdict.policy.iter().all(|c| c.ok);
    Ok(verdict)
}

/// What `verify IMAGE` demands beyond static binaries.
#[derive(Clone, Copy, Debug)]
pub struct Demands<'a> {
    /// The key its signatures must be by.
    pub key: Option<&'a crate::sign::PublicKey>,
    /// The rules it must meet.
    pub policy: &'a super::policy::Policy,
    /// `--allow-dynamic`: dynamic ELF files pass when their library closure is in the image
    /// (as they do in an image labelled as a closure image).
    pub allow_dynamic: bool,
}

/// Every platform of the image `text` names that the tool knows, the others' names, and the
/// store holding their blobs (which lives as long as it).
pub(crate) type Opened = (Vec<(Platform, BaseImage)>, Vec<String>, BlobStore);

/// Opens the image `text` names, from any transport (`docker-archive:` is read as the OCI
/// archive it also is); an image with no platform the tool knows is an error.
pub(crate) fn open(
    text: &str,
    platforms: &Platforms,
    options: &RegistryOptions,
    ui: &Ui,
) -> Result<Opened, ImageVerifyError> {
    let spec = parse(text)?;
    let store = BlobStore::new().map_err(ImageVerifyError::Staging)?;
    let (images, skipped) = base::load_every_platform(&spec, &store, platforms, options, ui)?;
    if images.is_empty() {
        return Err(ImageVerifyError::NoPlatform {
            image: text.to_string(),
            found: if skipped.is_empty() {
                "nothing".into()
            } else {
                skipped.join(", ")
            },
        });
    }
    Ok((images, skipped, store))
}

/// The image reference `text`, or an error naming it once.
fn parse(text: &str) -> Result<ImageRef, ImageVerifyError> {
    text.parse().map_err(|e: RefError| {
        ImageVerifyError::Read(base::BaseError::Invalid {
            spec: text.to_string(),
            // The spec is named once, by the error itself.
            detail: e
                .to_string()
                .trim_start_matches(&format!("`{text}`: "))
                .to_string(),
        })
    })
}

fn verify_platform(
    text: &str,
    platform: Platform,
    image: &BaseImage,
    platforms: &Platforms,
    allow_dynamic: bool,
) -> Result<PlatformVerdict, ImageVerifyError> {
    verify_stacked(text, platform, image, platforms, allow_dynamic).map(|(verdict, _)| verdict)
}

/// Checks an image `package` assembled (base layers and ours) before anything is written: its
/// entrypoint must resolve, in the stacked layers, to a static binary for its platform. Files
/// of a base image are the base's business; only what the image starts is judged here.
pub fn check_assembled(
    name: &str,
    image: &Image,
    platforms: &Platforms,
) -> Result<Option<String>, ImageVerifyError> {
    let config = ImageConfiguration::from_file(&image.config.path).map_err(|source| {
        ImageVerifyError::Assembled {
            image: name.to_string(),
            source,
        }
    })?;
    let stacked = BaseImage {
        name: name.to_string(),
        digest: image.manifest.digest.clone(),
        config,
        layers: image.layers.clone(),
    };
    let (_, problem) = verify_stacked(name, image.platform, &stacked, platforms, false)?;
    Ok(problem.map(|p| p.to_string()))
}

/// [`verify_platform`], with the entrypoint's problem apart.
fn verify_stacked(
    text: &str,
    platform: Platform,
    image: &BaseImage,
    platforms: &Platforms,
    allow_dynamic: bool,
) -> Result<(PlatformVerdict, Option<EntrypointProblem>), ImageVerifyError> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let tree = stacked_tree(text, &image.layers, &mut notes)?;
    // Each live content, named by the first path that shows it (hard links share one).
    let mut wanted: HashMap<(usize, usize), String> = HashMap::new();
    for (path, node) in tree.iter() {
        if let (Kind::File, Some(content)) = (&node.kind, node.content) {
            wanted.entry(content).or_insert_with(|| path.clone());
        }
    }
    let program = Program::of(&image.config);
    let located = program.as_ref().map(|p| entrypoint::locate(&tree, p));
    let target = match &located {
        Some(Ok((_, node))) => node.content,
        _ => None,
    };

    let mut shells: Vec<String> = tree
        .iter()
        // A directory named `busybox` holds programs; it runs nothing itself.
        .filter(|(_, node)| node.kind != Kind::Dir)
        .filter_map(|(path, _)| shell_by_name(path))
        .collect();
    // Pass 2: read only the live regular files, each in bounded memory.
    let mut files = Vec::new();
    let mut target_content: Option<Content<'static>> = None;
    let mut script: Option<String> = None;
    let mut objects: HashMap<ContentKey, (String, crate::closure::elf::DynInfo)> = HashMap::new();
    // The image's own ld.so.cache, which its loader reads (a damaged one is ignored, as the
    // loader ignores it).
    let cache_key = tree
        .resolve("/etc/ld.so.cache", "/")
        .ok()
        .filter(|(_, node)| node.kind == Kind::File)
        .and_then(|(_, node)| node.content);
    let mut ld_cache = None;
    read_wanted(text, &image.layers, &wanted, &mut |key, path, entry| {
        let mut head = Vec::new();
        entry.take(512).read_to_end(&mut head)?;
        let is_target = target == Some(key);
        if cache_key == Some(key) {
            let mut bytes = head.clone();
            entry
                .take(crate::closure::ldcache::MAX_CACHE_BYTES)
                .read_to_end(&mut bytes)?;
            ld_cache = crate::closure::ldcache::parse(&bytes).ok();
            return Ok(());
        }
        if let Some(interpreter) = entrypoint::shebang(&head) {
            shells.push(format!("`{path}` (a script for `{interpreter}`)"));
        }
        if head.starts_with(b"\x7fELF") {
            shells.extend(interpreter_by_name(path));
        }
        if !head.starts_with(b"\x7fELF") {
            if is_target {
                target_content = Some(match entrypoint::shebang(&head) {
                    Some(interpreter) => {
                        script = Some(interpreter);
                        Content::Other(String::new())
                    }
                    None => Content::Other(unprefixed(
                        path,
                        verify_bytes(Path::new(path), &head, None, platforms)
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default(),
                    )),
                });
            }
            return Ok(());
        }
        let bytes = ElfBytes::read(&head, entry)?;
        // What the loader reads, for the closure check (a file that does not parse is judged
        // below).
        if let Ok(info) = crate::closure::elf::read(Path::new(path), &bytes) {
            objects.insert(key, (path.to_string(), info));
        }
        let verdict = verify_bytes(Path::new(path), &bytes, Some(platform), platforms);
        if is_target {
            target_content = Some(Content::Elf(match &verdict {
                Ok(report) => Ok((!report.ok).then(|| report.verdict())),
                Err(e) => Err(unprefixed(path, e.to_string())),
            }));
        }
        match verdict {
            Ok(report) => files.push(report),
            // A shared library or object file is no program of ours to judge.
            Err(super::VerifyError::NotExecutable { .. }) => {}
            Err(e) => problems.push(e.to_string()),
        }
        Ok(())
    })?;
    let labelled = image
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().as_ref())
        .is_some_and(|l| l.contains_key(crate::closure::LABEL));
    let closure = closure_verdict(
        &tree,
        &objects,
        ld_cache.as_ref(),
        &mut files,
        labelled || allow_dynamic,
    );
    // Accepting dynamic files makes a missing library the failure; otherwise the files fail
    // for being dynamic, and what their closure lacks is told beside.
    let missing = closure.missing.iter().map(|m| m.to_string());
    if labelled || allow_dynamic {
        problems.extend(missing);
        notes.extend(closure.note.iter().cloned());
    } else {
        notes.extend(closure.note.iter().cloned());
        notes.extend(missing);
    }
    if closure.accepted
        && let Some(Content::Elf(Ok(Some(_)))) = &target_content
        && let Some((_, node)) = located.as_ref().and_then(|l| l.as_ref().ok())
        && node
            .content
            .and_then(|c| objects.get(&c))
            .is_some_and(|(p, _)| files.iter().any(|f| f.path == Path::new(p) && f.ok))
    {
        // The entrypoint is dynamic and its closure is in the image: it will start.
        target_content = Some(Content::Elf(Ok(None)));
    }
    let mut entry_problem = None;
    if let (Some(program), Some(located)) = (&program, located) {
        let problem = match located {
            Err(problem) => Some(problem),
            Ok((resolved, node)) => {
                let content = match (&script, target_content) {
                    (Some(interpreter), _) => Some(Content::Script(interpreter.as_str())),
                    (None, content) => content,
                };
                entrypoint::check(&tree, program, &resolved, node, content)
            }
        };
        problems.extend(problem.as_ref().map(|p| p.to_string()));
        entry_problem = problem;
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    shells.sort();
    shells.dedup();
    let ok = problems.is_empty() && files.iter().all(|f| f.ok);
    let verdict = PlatformVerdict {
        platform,
        digest: image.digest.clone(),
        entrypoint: program.map(|p| p.name),
        files,
        problems,
        notes,
        shells,
        user: image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.user().clone())
            .unwrap_or_default(),
        closure_complete: closure.dynamic.then_some(closure.missing.is_empty()),
        missing_libraries: closure.missing,
        ok,
    };
    Ok((verdict, entry_problem))
}

/// What the closure check concluded for one platform.
struct ClosureVerdict {
    /// Whether any ELF file is dynamic.
    dynamic: bool,
    /// Libraries and interpreters the image lacks.
    missing: Vec<crate::closure::check::Missing>,
    /// Whether dynamic files were accepted.
    accepted: bool,
    /// What to tell about the closure.
    note: Option<String>,
}

/// Checks the closure of the image's dynamic ELF files; with `allowed` (a closure image, or
/// `--allow-dynamic`) and nothing missing, their reports are made to pass.
fn closure_verdict(
    tree: &Tree,
    objects: &HashMap<ContentKey, (String, crate::closure::elf::DynInfo)>,
    cache: Option<&crate::closure::ldcache::LdCache>,
    files: &mut [StaticReport],
    allowed: bool,
) -> ClosureVerdict {
    use super::{Linkage, Problem};
    let dynamic = files.iter().any(|f| f.linkage == Linkage::Dynamic)
        || objects.values().any(|(_, i)| i.is_dynamic());
    if !dynamic {
        return ClosureVerdict {
            dynamic: false,
            missing: Vec::new(),
            accepted: false,
            note: None,
        };
    }
    let missing = crate::closure::check::check(tree, objects, cache);
    let complete = missing.is_empty();
    let accepted = allowed && complete;
    if accepted {
        for file in files.iter_mut().filter(|f| f.linkage == Linkage::Dynamic) {
            file.problems
                .retain(|p| !matches!(p, Problem::Interpreter { .. } | Problem::Needed { .. }));
            file.ok = file.problems.is_empty();
            if file.ok {
                file.hint = None;
            }
        }
    }
    let note = match (complete, allowed) {
        (true, true) => Some(
            "dynamic ELF files pass: each finds its interpreter and libraries in the image"
                .to_string(),
        ),
        (true, false) => Some(
            "the library closure of the dynamic ELF files is complete in the image (`verify \
             --allow-dynamic` accepts it)"
                .to_string(),
        ),
        (false, _) => Some("the library closure of the dynamic ELF files is incomplete".into()),
    };
    ClosureVerdict {
        dynamic: true,
        missing,
        accepted,
        note,
    }
}

/// A verify error's text without the path it starts with (the entrypoint line names it).
fn unprefixed(path: &str, message: String) -> String {
    message
        .strip_prefix(&format!("`{path}`: "))
        .map(str::to_string)
        .unwrap_or(message)
}

/// Where a content lives: its layer and its position among the layer's entries.
pub(crate) type ContentKey = (usize, usize);

fn layer_error<'a>(text: &'a str, layer: &'a Layer) -> impl Fn(io::Error) -> ImageVerifyError + 'a {
    move |source| ImageVerifyError::Layer {
        image: text.to_string(),
        digest: layer.blob.digest.clone(),
        media_type: layer.blob.media_type.to_string(),
        source,
    }
}

/// Pass 1: the final filesystem of the stacked layers, from the entries' headers alone (an
/// uncompressed layer's contents are skipped over, not read).
pub(crate) fn stacked_tree(
    text: &str,
    layers: &[Layer],
    notes: &mut Vec<String>,
) -> Result<Tree, ImageVerifyError> {
    let mut tree = Tree::new();
    for (i, layer) in layers.iter().enumerate() {
        let media_type: &str = layer.blob.media_type.as_ref();
        let plain = !crate::image::blob::is_compressed(media_type);
        let (entries, truncated) = if plain {
            File::open(&layer.blob.path).and_then(stack::layer_file_entries)
        } else {
            decompressed(&layer.blob.path, media_type)
                .and_then(|mut reader| stack::layer_entries(&mut reader))
        }
        .map_err(layer_error(text, layer))?;
        if truncated {
            notes.push(format!(
                "layer `{}` ends without tar's end-of-archive blocks",
                layer.blob.digest
            ));
        }
        tree.apply_layer(i, &entries);
    }
    Ok(tree)
}

/// Pass 2: streams the layers that hold a content `wanted` names (by layer and entry
/// position, as [`Tree`] records them) and hands each such entry to `on_content` with the path
/// that shows it; other layers are not read.
pub(crate) fn read_wanted(
    text: &str,
    layers: &[Layer],
    wanted: &HashMap<ContentKey, String>,
    on_content: &mut dyn FnMut(ContentKey, &str, &mut dyn Read) -> io::Result<()>,
) -> Result<(), ImageVerifyError> {
    let layers_wanted: HashSet<usize> = wanted.keys().map(|(layer, _)| *layer).collect();
    for (i, layer) in layers.iter().enumerate() {
        if !layers_wanted.contains(&i) {
            continue;
        }
        let layer_error = layer_error(text, layer);
        let reader =
            decompressed(&layer.blob.path, layer.blob.media_type.as_ref()).map_err(&layer_error)?;
        let mut archive = tar::Archive::new(reader);
        let mut position = 0usize;
        for entry in archive.entries().map_err(&layer_error)? {
            let Ok(mut entry) = entry else {
                // Pass 1 read these headers whole; what follows them was noted there.
                break;
            };
            if stack::classify(&entry).is_none() {
                continue;
            }
            position += 1;
            let key = (i, position - 1);
            if let Some(path) = wanted.get(&key) {
                on_content(key, path, &mut entry).map_err(&layer_error)?;
            }
        }
    }
    Ok(())
}

/// A layer blob's tar stream, by its media type (OCI or Docker).
pub(crate) fn decompressed(path: &Path, media_type: &str) -> io::Result<Box<dyn Read>> {
    crate::image::blob::layer_decoder(BufReader::new(File::open(path)?), media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_specs_are_told_from_files() {
        assert!(is_image_spec("docker://h/app"));
        assert!(!is_image_spec("./app"));
    }
}
