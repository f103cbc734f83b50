//! The command line and the project's settings file → requests. The clap types stop here:
//! each becomes its request by `From`, and the settings file then fills what the command line
//! left unset ([`build_request`]).

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::cli::{
    BuildArgs, ImageArgs, InitArgs, PackageArgs, ProjectArgs, RegistryArgs, SbomArgs, VerifyArgs,
};
use crate::config::{self, Origin};
use crate::error::Error;
use crate::request::{
    BuildRequest, ImageRequest, InitRequest, PackageRequest, ProjectRequest, RegistryRequest,
    SbomRequest, VerifyRequest,
};

/// Whether a flag of the command run (by its clap id) was given on the command line, rather
/// than left to its default or the environment: only those override the settings file.
pub fn given_on_command_line(matches: &ArgMatches) -> impl Fn(&str) -> bool + '_ {
    // The flags of the subcommand, or of the bare `static-image [PATH]` form.
    let sub = matches.subcommand().map_or(matches, |(_, m)| m);
    move |id: &str| {
        sub.try_contains_id(id).unwrap_or(false)
            && sub.value_source(id) == Some(ValueSource::CommandLine)
    }
}

/// `request` under the project's settings file, if it has one, with where each value came
/// from (for blaming a value that fails later on the file).
pub fn build_request(
    mut request: BuildRequest,
    given: config::Given<'_>,
) -> Result<(BuildRequest, Origin), Error> {
    let path = request.project.path();
    let Some(file) = config::locate(&path) else {
        return Ok((request, Origin::default()));
    };
    let root = project_dir(&path);
    let root = root.canonicalize().unwrap_or(root);
    let origin = config::load(&file, &root)?.apply(&mut request, &root, given, &file)?;
    Ok((request, origin))
}

/// The directory a project path names (the folder itself, or a manifest's folder).
pub fn project_dir(path: &Path) -> PathBuf {
    let dir = if path.is_dir() {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_owned()
    }
}

impl From<ProjectArgs> for ProjectRequest {
    fn from(args: ProjectArgs) -> ProjectRequest {
        ProjectRequest {
            path: args.path,
            platforms: args.platform,
            offline: args.offline,
            bin: args.bin,
            package: args.package,
            cgo: args.cgo,
            artifact: args.artifact,
            make_target: args.make_target,
            toolchains: args.toolchains.toolchains,
            build_args: args.build_args,
        }
    }
}

impl From<RegistryArgs> for RegistryRequest {
    fn from(args: RegistryArgs) -> RegistryRequest {
        RegistryRequest {
            insecure: args.insecure,
            timeout_secs: args.registry_timeout,
            max_blob_size: args.max_blob_size,
        }
    }
}

impl From<ImageArgs> for ImageRequest {
    fn from(args: ImageArgs) -> ImageRequest {
        ImageRequest {
            output: args.output,
            tag: args.tag,
            name: args.name,
            entrypoint_path: args.entrypoint_path,
            args: args.args,
            env: args.env,
            port: args.port,
            label: args.label,
            user: args.user,
            workdir: args.workdir,
            add: args.add,
            ca_bundle: args.ca_bundle,
            extra_ca: args.extra_ca,
            sign_key: args.sign_key,
            compression: args.compression,
            compression_level: args.compression_level,
            no_cache: args.no_cache,
            base: args.base,
            registry: args.registry.into(),
            sbom_package: args.sbom_package,
            no_sbom: args.no_sbom,
            sbom_format: args.sbom_format,
            closure: args.closure,
            sysroot: args.sysroot,
            add_lib: args.add_lib,
            gconv: args.gconv,
            debug_variant: args.debug_variant,
            debug_shell: args.debug_shell,
        }
    }
}

impl From<BuildArgs> for BuildRequest {
    fn from(args: BuildArgs) -> BuildRequest {
        BuildRequest {
            project: args.project.into(),
            image: args.image.into(),
            check_reproducible: args.check_reproducible,
        }
    }
}

/// `plan` takes the project flags only; the image's are the defaults (the settings file may
/// still set them, and is checked whole).
impl From<ProjectArgs> for BuildRequest {
    fn from(args: ProjectArgs) -> BuildRequest {
        BuildRequest {
            project: args.into(),
            ..BuildRequest::default()
        }
    }
}

impl From<PackageArgs> for PackageRequest {
    fn from(args: PackageArgs) -> PackageRequest {
        PackageRequest {
            binaries: args.binaries,
            platform: args.platform,
            image: args.image.into(),
        }
    }
}

impl From<VerifyArgs> for VerifyRequest {
    fn from(args: VerifyArgs) -> VerifyRequest {
        VerifyRequest {
            files: args.files,
            key: args.key,
            policy_file: args.policy,
            policy: crate::verify::policy::Policy {
                require_signature: args.require_signature,
                require_provenance: args.require_provenance,
                require_sbom: args.require_sbom,
                forbid_shells: args.forbid_shells,
                forbid_root: args.forbid_root,
                allowed_base: args.allowed_base,
            },
            platform: args.platform,
            registry: args.registry.into(),
            allow_dynamic: args.allow_dynamic,
        }
    }
}

impl From<SbomArgs> for SbomRequest {
    fn from(args: SbomArgs) -> SbomRequest {
        SbomRequest {
            image: args.image,
            platform: args.platform,
            registry: args.registry.into(),
        }
    }
}

impl From<InitArgs> for InitRequest {
    fn from(args: InitArgs) -> InitRequest {
        InitRequest {
            path: args.path,
            force: args.force,
            policy: args.policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::{CommandFactory, FromArgMatches};

    #[test]
    fn only_flags_typed_on_the_command_line_count_as_given() {
        let matches = Cli::command()
            .try_get_matches_from(["static-image", "build", "--port", "9090", "--offline"])
            .unwrap();
        let given = given_on_command_line(&matches);
        assert!(given("port") && given("offline"));
        // A default is not a choice the settings file must yield to.
        assert!(!given("compression") && !given("registry_timeout") && !given("nonsense"));
        let Some(Command::Build(args)) = Cli::from_arg_matches(&matches).unwrap().command else {
            panic!("build")
        };
        let request = BuildRequest::from(args);
        assert!(request.project.offline);
        assert_eq!(request.image.port[0].to_string(), "9090/tcp");
    }
}
