//! The names inside an image reference: a registry image (`HOST[:PORT]/REPO[:TAG|@DIGEST]`,
//! what follows `docker://`), a Docker repository and tag (`docker-archive:FILE:REPO:TAG`), an
//! OCI ref name (`oci:DIR:REF`), each checked by its own grammar.
//!
//! As in Docker, the first `/`-separated part is a registry host only when it holds a `.` or
//! a `:` or is `localhost`; otherwise the image is on Docker Hub (`docker.io`), where a
//! one-part name lives under `library/`.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::{Digest, Sha256Digest};

/// Docker Hub as users name it.
const DOCKER_HUB: &str = "docker.io";
/// Where Docker Hub's registry API answers.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a name is not well-formed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not an `org.opencontainers.image.ref.name`.
    #[error(
        "`{name}` is not a valid image reference name (letters, digits and `-._:@+/`, \
         starting and ending with a letter or digit)"
    )]
    RefName {
        /// The name.
        name: String,
    },
    /// Not a Docker tag.
    #[error(
        "`{tag}` is not a valid tag (up to 128 of letters, digits, `_.-`, not starting with `.` or `-`)"
    )]
    Tag {
        /// The tag.
        tag: String,
    },
    /// Not a repository name.
    #[error(
        "`{repo}` is not a valid repository name (lowercase letters, digits and `._-`, \
         in `/`-separated parts)"
    )]
    Repository {
        /// The repository.
        repo: String,
    },
    /// Nothing after `docker://`.
    #[error("no repository after `docker://`")]
    NoRepository,
    /// A registry host and nothing after it.
    #[error("no repository after the registry")]
    NoRepositoryAfterRegistry,
    /// `@` followed by something other than a SHA-256 digest.
    #[error("`{digest}` is not a sha256 digest")]
    NotSha256 {
        /// What followed the `@`.
        digest: String,
    },
    /// A registry image name with one of the problems above.
    #[error("`docker://{text}`: {problem}")]
    Registry {
        /// What followed `docker://`.
        text: String,
        /// What is wrong with it.
        problem: Box<NameError>,
    },
}

/// An image in a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRef {
    /// The registry as named: `HOST[:PORT]` (`docker.io` for Docker Hub).
    pub registry: String,
    /// The repository inside it: `team/app`.
    pub repository: String,
    /// The tag, if named.
    pub tag: Option<String>,
    /// The manifest digest, if named (`@sha256:…`): always a SHA-256.
    pub digest: Option<Digest>,
}

impl RegistryRef {
    /// The host (and port) the API is reached at.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to ask the registry for: the digest when named, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_ref()
            .map(|d| d.as_ref())
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// `HOST/REPO@DIGEST`, the name of exactly what was pushed.
    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.registry, self.repository)
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "docker://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for RegistryRef {
    type Err = NameError;

    /// Parses what follows `docker://`.
    fn from_str(text: &str) -> Result<RegistryRef, NameError> {
        let bad = |problem: NameError| NameError::Registry {
            text: text.to_string(),
            problem: Box::new(problem),
        };
        if text.is_empty() {
            return Err(bad(NameError::NoRepository));
        }
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(sha256_digest(digest).map_err(bad)?)),
            None => (text, None),
        };
        // A tag follows the last `:` after the last `/` (a port's `:` is before a `/`).
        let (name, tag) = match name.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (name, None),
        };
        if let Some(tag) = &tag {
            check_tag(tag).map_err(bad)?;
        }
        let (registry, repository) = match registry_host(name) {
            Some(host) => (host.to_string(), name[host.len() + 1..].to_string()),
            None if name.contains('/') => (DOCKER_HUB.to_string(), name.to_string()),
            None => (DOCKER_HUB.to_string(), format!("library/{name}")),
        };
        if repository.is_empty() {
            return Err(bad(NameError::NoRepositoryAfterRegistry));
        }
        check_repo(&repository).map_err(bad)?;
        Ok(RegistryRef {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// `sha256:<64 hex digits>` as a typed digest; upper-case hex is taken as Docker takes it.
fn sha256_digest(text: &str) -> Result<Digest, NameError> {
    text.strip_prefix("sha256:")
        .and_then(|hex| hex.to_ascii_lowercase().parse::<Sha256Digest>().ok())
        .map(Digest::from)
        .ok_or_else(|| NameError::NotSha256 {
            digest: text.to_string(),
        })
}

/// Checks an `org.opencontainers.image.ref.name` (image-spec `annotations.md` grammar:
/// alphanumeric components joined by `-._:@+/`).
pub fn check_ref_name(name: &str) -> Result<String, NameError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-._:@+/".contains(c);
    let ends_ok = name
        .chars()
        .next()
        .zip(name.chars().last())
        .is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric());
    if ends_ok && name.chars().all(ok_char) {
        Ok(name.to_string())
    } else {
        Err(NameError::RefName { name: name.into() })
    }
}

/// Checks a Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), NameError> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok && tag.len() <= 128 {
        Ok(())
    } else {
        Err(NameError::Tag { tag: tag.into() })
    }
}

/// A Docker repository and tag, as `docker load` records them (`app:latest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerRef {
    /// `app`, `team/app`, `registry.example:5000/team/app`.
    pub repo: String,
    /// `latest` unless given.
    pub tag: String,
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

impl FromStr for DockerRef {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `host:5000/app` has a colon that is not a tag separator: a tag never holds `/`.
        let (repo, tag) = match s.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, tag),
            _ => (s, "latest"),
        };
        check_tag(tag)?;
        check_repo(repo)?;
        Ok(DockerRef {
            repo: repo.to_string(),
            tag: tag.to_string(),
        })
    }
}

/// Checks a repository name: lowercase path components of `[a-z0-9]` joined by `._-`, after
/// an optional registry host (which holds a `.` or `:` or is `localhost`).
pub(crate) fn check_repo(repo: &str) -> Result<(), NameError> {
    let mut parts: Vec<&str> = repo.split('/').collect();
    if registry_host(repo).is_some() {
        parts.remove(0);
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if parts.iter().all(|c| component_ok(c)) {
        Ok(())
    } else {
        Err(NameError::Repository { repo: repo.into() })
    }
}

/// The registry host a repository name starts with, if any: a first `/`-separated part holding
/// a `.` or `:`, or `localhost` (Docker's rule for telling `host/app` from `team/app`).
pub(crate) fn registry_host(repo: &str) -> Option<&str> {
    let (first, _) = repo.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

/// A repository name made from an application name: lowercase, other characters as `-`.
pub fn repo_from_name(name: &str) -> String {
    let mut repo: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    repo = repo.trim_matches('-').to_string();
    if repo.is_empty() { "app".into() } else { repo }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> RegistryRef {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_ports_tags_and_digests() {
        let r = parse("127.0.0.1:5000/team/app:v1");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.manifest_ref(), "v1");
        assert_eq!(r.to_string(), "docker://127.0.0.1:5000/team/app:v1");

        let r = parse("localhost/app");
        assert_eq!((r.registry.as_str(), r.tag.as_deref()), ("localhost", None));
        assert_eq!(r.manifest_ref(), "latest");

        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("reg.example:443/app@{digest}"));
        assert_eq!(
            r.digest.as_ref().map(|d| d.to_string()),
            Some(digest.clone())
        );
        assert_eq!(r.manifest_ref(), digest);
        // Docker takes upper-case hex; the digest is kept as the registry names it.
        let upper = parse(&format!("reg.example/app@sha256:{}", "A".repeat(64)));
        assert_eq!(upper.digest.map(|d| d.to_string()), Some(digest.clone()));
        assert_eq!(
            r.with_digest(&digest),
            format!("reg.example:443/app@{digest}")
        );
    }

    #[test]
    fn docker_hub_names() {
        let r = parse("alpine:3");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("docker.io", "library/alpine")
        );
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(parse("team/app").repository, "team/app");
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for (text, why) in [
            ("", "no repository"),
            ("host.example/App", "repository"),
            ("host.example/app:-x", "tag"),
            ("host.example/app@sha256:12", "sha256 digest"),
            ("host.example/", "no repository after the registry"),
        ] {
            let err = text.parse::<RegistryRef>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn repository_names_from_app_names() {
        assert_eq!(repo_from_name("My_App.v2"), "my-app-v2");
        assert_eq!(repo_from_name("__"), "app");
        assert!(check_repo(&repo_from_name("Hello World")).is_ok());
    }
}
