//! Step 1, prepare: every check on the flags and outputs, once, before any slow work
//! ([`Run::checked`]); then the images' inputs ([`inputs`]): each binary verified against its
//! platform, the `--add` files, the CA bundle, the base image, each binary's digest and SBOM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::outcome::show_verified;
use super::{Binaries, PackageDefaults};
use crate::cache::layers::{LayerCache, hash_file};
use crate::error::Error;
use crate::image::blob::BlobStore;
use crate::image::ca::CaBundle;
use crate::image::layer::LayerCompression;
use crate::image::spec::{ImagePath, ImageSpec, User, expand_adds};
use crate::platform::{Platform, Platforms};
use crate::registry::RegistryOptions;
use crate::request::ImageRequest;
use crate::sbom;
use crate::transport::{self, BaseImage, ImageRef, Input, OutputError, check_outputs, check_tag};
use crate::ui::Ui;
use crate::verify::{StaticReport, VerifyError, verify_path};

/// Seconds since the epoch for image timestamps: `SOURCE_DATE_EPOCH` if set, else 0.
pub fn source_date_epoch() -> Result<i64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(_) => Ok(0),
        Ok(v) if v.trim().is_empty() => Ok(0),
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            // RFC 3339 stops at year 9999; past it a timestamp cannot be written faithfully.
            .filter(|s| (0..=253_402_300_799).contains(s))
            .ok_or(Error::SourceDateEpoch(v)),
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::Usage(format!(
            "`{}` cannot be an application name: it becomes a file name in the image (give --name)",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// The layer compression the flags ask for.
pub(super) fn layer_compression(args: &ImageRequest) -> Result<LayerCompression, Error> {
    LayerCompression::from_args(args.compression, args.compression_level).map_err(Error::Usage)
}

/// Checks the flags that can only be judged together, before any slow work.
pub fn check_args(args: &ImageRequest, name: &str) -> Result<(), Error> {
    check_name(name)?;
    let compression = layer_compression(args)?;
    if let LayerCompression::Zstd(_) = compression {
        for output in &args.output {
            if let ImageRef::DockerArchive { file, .. } = output {
                return Err(Error::Usage(format!(
                    "`docker-archive:{}` takes gzip or uncompressed layers (`docker load` reads \
                     no zstd); use `--compression gzip` or `none`, or an `oci-archive:`",
                    file.display()
                )));
            }
        }
    }
    for tag in &args.tag {
        check_tag(tag).map_err(|e| Error::Usage(e.to_string()))?;
    }
    for output in &args.output {
        output.preflight()?;
    }
    super::debug::check_args(args)?;
    check_paths(args, &super::debug::with_variants(args, &args.output), &[])
}

/// Refuses outputs that name one another or one of the run's inputs: the binaries, the
/// `--add` sources, the CA files and a local `--base`.
fn check_paths(args: &ImageRequest, outputs: &[ImageRef], binaries: &[&Path]) -> Result<(), Error> {
    let base = args
        .base
        .as_deref()
        .and_then(|b| b.parse::<ImageRef>().ok());
    let mut inputs: Vec<Input<'_>> = binaries
        .iter()
        .map(|path| Input {
            role: "the binary",
            path,
        })
        .collect();
    inputs.extend(args.add.iter().map(|add| Input {
        role: "the `--add` source",
        path: &add.source,
    }));
    // `builtin` names the compiled-in roots, not a file.
    let ca = args.ca_bundle.iter().filter(|p| p.as_os_str() != "builtin");
    inputs.extend(ca.chain(&args.extra_ca).map(|path| Input {
        role: "the CA file",
        path,
    }));
    inputs.extend(args.sign_key.iter().map(|path| Input {
        role: "the signing key",
        path,
    }));
    inputs.extend(args.debug_shell.iter().map(|path| Input {
        role: "the `--debug-shell` file",
        path,
    }));
    match &base {
        Some(
            ImageRef::Oci { dir: path, .. }
            | ImageRef::OciArchive { file: path, .. }
            | ImageRef::DockerArchive { file: path, .. },
        ) => {
            inputs.push(Input {
                role: "the `--base` image",
                path,
            });
        }
        Some(ImageRef::Registry(_)) | None => {}
    }
    Ok(check_outputs(outputs, &inputs)?)
}

/// Refuses programs of one image that cannot each have their own file in `/app/`.
fn check_programs(binaries: &[Binaries]) -> Result<(), Error> {
    for group in binaries.iter().filter(|b| b.programs.len() > 1) {
        for (i, program) in group.programs.iter().enumerate() {
            check_name(&program.name)?;
            if let Some(other) = group.programs[..i].iter().find(|p| p.name == program.name) {
                return Err(Error::Usage(format!(
                    "`{}` and `{}` would both be `/app/{}` in the image; each program needs its \
                     own name",
                    other.path.display(),
                    program.path.display(),
                    program.name
                )));
            }
        }
    }
    Ok(())
}

/// Refuses outputs that cannot hold `platforms` platforms (a docker-archive holds one).
pub fn check_platform_count(args: &ImageRequest, platforms: usize) -> Result<(), Error> {
    if platforms > 1 {
        for output in &args.output {
            if let ImageRef::DockerArchive { file, .. } = output {
                return Err(OutputError::OnePlatform { path: file.clone() }.into());
            }
        }
    }
    Ok(())
}

/// The layer cache to use: none with `--no-cache`, else `STATIC_IMAGE_CACHE_DIR` or `default`.
pub fn cache_dir(args: &ImageRequest, default: &Path) -> Option<PathBuf> {
    (!args.no_cache).then(|| {
        std::env::var_os("STATIC_IMAGE_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| default.to_owned())
    })
}

/// A packaging run whose flags and outputs passed every check: what every later step reads.
pub(super) struct Run<'a> {
    /// Each platform's binaries and the platform asked of them.
    pub binaries: &'a [Binaries],
    /// The image flags.
    pub args: &'a ImageRequest,
    /// What the caller knows beyond the flags.
    pub defaults: &'a PackageDefaults,
    /// The application's name: `--name`, else the caller's.
    pub name: String,
    /// Every output: those asked for (or the default layout), then the caller's extra ones.
    pub outputs: Vec<ImageRef>,
    /// How many of `outputs` are reported (the extra ones are not).
    pub reported: usize,
    /// The images' timestamp.
    pub created: i64,
    /// The layer cache, unless `--no-cache`.
    pub cache: Option<LayerCache>,
    /// How layers are compressed.
    pub compression: LayerCompression,
    /// How registries are spoken to (a `docker://` base or output).
    pub registry: RegistryOptions,
    /// `--sign-key`, read before any slow work.
    pub key: Option<crate::sign::PrivateKey>,
    /// `--closure`: where and what to resolve dynamic programs' libraries with.
    pub closure: Option<crate::closure::ClosureRequest>,
}

impl<'a> Run<'a> {
    /// Checks the flags, the platform count and every output against every input.
    pub fn checked(
        binaries: &'a [Binaries],
        args: &'a ImageRequest,
        defaults: &'a PackageDefaults,
    ) -> Result<Run<'a>, Error> {
        let name = args.name.clone().unwrap_or_else(|| defaults.name.clone());
        check_args(args, &name)?;
        check_programs(binaries)?;
        check_platform_count(args, binaries.len())?;
        let mut outputs = if args.output.is_empty() {
            vec![ImageRef::Oci {
                dir: defaults.output_dir.join(&name),
                reference: None,
            }]
        } else {
            args.output.clone()
        };
        let reported = outputs.len();
        outputs.extend(defaults.extra_outputs.iter().cloned());
        let paths: Vec<&Path> = binaries
            .iter()
            .flat_map(|b| b.programs.iter().map(|p| p.path.as_path()))
            .collect();
        check_paths(args, &super::debug::with_variants(args, &outputs), &paths)?;
        let closure = super::closure::request(args, binaries.len())?;
        let key = match &args.sign_key {
            Some(path) => {
                let passphrase = crate::sign::key::passphrase_from_env();
                let passphrase = passphrase.as_deref().map(String::as_str);
                Some(crate::sign::PrivateKey::read(path, passphrase)?)
            }
            None => None,
        };
        Ok(Run {
            key,
            closure,
            binaries,
            args,
            defaults,
            name,
            outputs,
            reported,
            created: source_date_epoch()?,
            cache: cache_dir(args, &defaults.cache_dir).map(LayerCache::new),
            compression: layer_compression(args)?,
            registry: args.registry.options(),
        })
    }
}

/// Warnings shown as they come and kept for the outcome.
pub(super) struct Warnings {
    ui: Ui,
    /// Every warning shown, in order.
    pub shown: Vec<String>,
}

impl Warnings {
    /// Warnings kept but not shown (they were shown once already).
    pub fn silent() -> Warnings {
        Warnings {
            ui: Ui::new(0, true, Default::default()),
            shown: Vec::new(),
        }
    }

    /// Shows `message` and keeps it.
    pub fn warn(&mut self, message: String) {
        self.ui.warn(&message);
        self.shown.push(message);
    }
}

/// A binary that passed verification.
pub(super) struct Verified<'a> {
    /// The program's name (its file's name in `/app/` when the image holds several).
    pub name: &'a str,
    /// The file.
    pub binary: &'a Path,
    /// Its platform: the one asked for, else its own.
    pub platform: Platform,
    /// Its verify report.
    pub report: StaticReport,
    /// Its size in bytes, for the progress bar.
    pub size: u64,
    /// What the build knows for its SBOM.
    pub facts: Option<&'a sbom::Facts>,
    /// The image's other programs, each at `/app/<name>` (none for one program).
    pub others: Vec<(&'a str, Verified<'a>)>,
}

impl Verified<'_> {
    /// Every program's binary with its report: the entrypoint's first.
    pub fn all(&self) -> impl Iterator<Item = &Verified<'_>> {
        std::iter::once(self).chain(self.others.iter().map(|(_, v)| v))
    }
}

/// What the images are made of.
pub(super) struct Inputs<'a> {
    /// The binaries, in the order given.
    pub verified: Vec<Verified<'a>>,
    /// The image as the flags describe it, for the first platform.
    pub spec: ImageSpec,
    /// Where blobs are staged (inside the cache when there is one).
    pub store: BlobStore,
    /// Each platform's base image, with `--base`.
    pub bases: Vec<BaseImage>,
    /// Each binary's SHA-256, for its SBOM and the run record; empty when neither needs it.
    pub digests: Vec<String>,
    /// Each platform's SBOM document, unless `--no-sbom`.
    pub documents: BTreeMap<Platform, crate::sbom::Documents>,
    /// Every warning so far.
    pub warnings: Warnings,
    /// The library closure added, with `--closure`.
    pub closure: Option<super::outcome::ClosureSummary>,
}

/// Verifies every binary and gathers what the images are made of. `recorded` says whether the
/// run will be recorded (it then needs the binaries' digests even without an SBOM).
pub(super) fn inputs<'a>(run: &Run<'a>, recorded: bool, ui: &Ui) -> Result<Inputs<'a>, Error> {
    let mut warnings = Warnings {
        ui: ui.clone(),
        shown: Vec::new(),
    };
    let verified = verify_all(run, &mut warnings, ui)?;
    let mut spec = image_spec(run, verified[0].platform, &mut warnings)?;
    let mut declared = run.args.sbom_package.clone();
    let mut closure = None;
    if let Some(request) = &run.closure {
        let (components, summary) = super::closure::add_closure(
            request,
            &verified[0],
            &mut spec,
            &mut |m| warnings.warn(m),
            ui,
        )?;
        declared.extend(components);
        closure = Some(summary);
    }
    // Staged inside the cache when there is one, so storing a layer there is a hard link.
    let store = match &run.cache {
        Some(cache) => BlobStore::new_in(cache.dir()).or_else(|_| BlobStore::new()),
        None => BlobStore::new(),
    }
    .map_err(Error::Staging)?;
    let bases = match &run.args.base {
        Some(text) => {
            let base: ImageRef = text
                .parse()
                .map_err(|e: transport::RefError| Error::Usage(e.to_string()))?;
            ui.status("Reading", format_args!("base image `{base}`"));
            let platforms: Vec<Platform> = verified.iter().map(|v| v.platform).collect();
            transport::load(&base, &platforms, &store, &run.registry, ui)?
        }
        None => Vec::new(),
    };
    let digests = if !run.args.no_sbom || recorded || run.key.is_some() {
        digests(run, &verified)?
    } else {
        Vec::new()
    };
    let documents = if run.args.no_sbom {
        BTreeMap::new()
    } else {
        super::documents::sbom_documents(
            run,
            &verified,
            &digests,
            &spec.entrypoint,
            &declared,
            &mut warnings,
        )?
    };
    Ok(Inputs {
        verified,
        spec,
        store,
        bases,
        digests,
        documents,
        warnings,
        closure,
    })
}

/// Verifies each binary against its platform; two images for one platform is an error.
fn verify_all<'a>(
    run: &Run<'a>,
    warnings: &mut Warnings,
    ui: &Ui,
) -> Result<Vec<Verified<'a>>, Error> {
    let mut verified: Vec<Verified<'a>> = Vec::new();
    for group in run.binaries {
        let mut programs = Vec::new();
        for program in &group.programs {
            let mut checked = verify_binary(
                &program.path,
                group.platform,
                run.closure.is_some(),
                &run.defaults.platforms,
                ui,
                &mut |m| warnings.warn(m),
            )?;
            checked.facts = program.facts.as_ref();
            programs.push((program.name.as_str(), checked));
        }
        let mut programs = programs.into_iter();
        let Some((name, mut checked)) = programs.next() else {
            continue;
        };
        checked.name = name;
        for (name, other) in programs {
            // One image runs on one machine: a program for another is refused, not shipped.
            if other.platform != checked.platform {
                return Err(Error::Usage(format!(
                    "`{}` is for {} and `{}` for {}; the programs of one image are for one \
                     platform",
                    checked.binary.display(),
                    checked.platform,
                    other.binary.display(),
                    other.platform
                )));
            }
            checked.others.push((name, other));
        }
        if let Some(other) = verified.iter().find(|v| v.platform == checked.platform) {
            return Err(Error::Usage(format!(
                "`{}` and `{}` are both for {}; an image holds one binary per platform (to put \
                 both in one image, name the platform: `package --platform {} BIN BIN`)",
                other.binary.display(),
                checked.binary.display(),
                checked.platform,
                checked.platform
            )));
        }
        verified.push(checked);
    }
    Ok(verified)
}

/// The image the flags describe, for `platform`: entrypoint, config values, labels and
/// annotations, the `--add` files and the CA bundle.
fn image_spec(
    run: &Run<'_>,
    platform: Platform,
    warnings: &mut Warnings,
) -> Result<ImageSpec, Error> {
    let args = run.args;
    let adds = expand_adds(&args.add)?;
    let mut warn = |m| warnings.warn(m);
    let ca = match &run.cache {
        Some(cache) => CaBundle::load_remembered(
            args.ca_bundle.as_deref(),
            &args.extra_ca,
            &mut warn,
            cache.dir(),
        )?,
        None => CaBundle::load(args.ca_bundle.as_deref(), &args.extra_ca, &mut warn)?,
    };
    let name = &run.name;
    // Several programs each go to `/app/<their name>`: the entrypoint is the first's.
    let file_name = match run.binaries.first().map(|b| b.programs.as_slice()) {
        Some([first, _, ..]) => first.name.as_str(),
        _ => name.as_str(),
    };
    let entrypoint = match &args.entrypoint_path {
        Some(p) => p.clone(),
        // The name holds no `/` and is not `.`/`..` (checked before), so this parses.
        None => format!("/app/{file_name}")
            .parse::<ImagePath>()
            .map_err(Error::Usage)?,
    };
    let mut metadata = run.defaults.metadata.clone();
    metadata
        .entry(oci_spec::image::ANNOTATION_TITLE.into())
        .or_insert_with(|| name.clone());
    let mut labels = metadata.clone();
    for kv in &args.label {
        labels.insert(kv.key.clone(), kv.value.clone());
    }
    Ok(ImageSpec {
        name: name.clone(),
        platform,
        entrypoint,
        args: args.args.clone(),
        env: args.env.clone(),
        ports: args.port.clone(),
        labels,
        annotations: metadata,
        user: args.user.clone().unwrap_or_else(User::nonroot),
        workdir: args.workdir.clone(),
        adds,
        // Each platform's programs are its own; the assembly fills them in.
        programs: Vec::new(),
        ca,
        created: run.created,
        compression: run.compression,
        base: None,
        ca_in_app: args.ca_bundle.is_some() || !args.extra_ca.is_empty(),
        sbom: None,
        sbom_format: args.sbom_format,
    })
}

/// Each binary's SHA-256, for its SBOM and the run record, through the cache's file memo when
/// there is one (the layer key reads it again from there).
fn digests(run: &Run<'_>, verified: &[Verified<'_>]) -> Result<Vec<String>, Error> {
    let mut digests = Vec::new();
    for v in verified.iter().flat_map(Verified::all) {
        let digest = match &run.cache {
            Some(cache) => cache.file_digest(v.binary),
            None => hash_file(v.binary),
        }
        .map_err(|source| VerifyError::Read {
            path: v.binary.to_path_buf(),
            source,
        })?;
        digests.push(digest);
    }
    Ok(digests)
}

/// Verifies one binary (refusing a dynamic one unless `dynamic` allows it, or one for another
/// platform) and warns about its hazards.
fn verify_binary<'a>(
    binary: &'a Path,
    platform: Option<Platform>,
    dynamic: bool,
    platforms: &Platforms,
    ui: &Ui,
    warn: &mut dyn FnMut(String),
) -> Result<Verified<'a>, Error> {
    let report = verify_path(binary, platform, platforms)?;
    // With `--closure`, a loader and libraries are what the closure brings; another machine is
    // still refused.
    let fits = report.ok
        || (dynamic
            && report
                .problems
                .iter()
                .all(|p| !matches!(p, crate::verify::Problem::WrongPlatform { .. })));
    if !fits {
        return Err(Error::NotStatic(Box::new(report)));
    }
    if report.ok {
        show_verified(&report, ui, warn);
    } else {
        ui.status(
            "Verified",
            format_args!(
                "`{}`: dynamic, {}; its libraries come with it (--closure)",
                binary.display(),
                report.machine.name
            ),
        );
    }
    let Some(platform) = platform.or(report.machine.platform) else {
        return Err(Error::NoPlatform {
            path: binary.to_owned(),
            machine: format!("{}, {}-bit", report.machine.name, report.machine.bits),
            supported: platforms.names(),
        });
    };
    let size = std::fs::metadata(binary)
        .map_err(|source| VerifyError::Read {
            path: binary.to_owned(),
            source,
        })?
        .len();
    Ok(Verified {
        name: "",
        binary,
        platform,
        report,
        size,
        facts: None,
        others: Vec::new(),
    })
}
