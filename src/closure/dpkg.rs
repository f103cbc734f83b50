//! Which Debian package owns a file, from the dpkg database of a root
//! (`var/lib/dpkg/status` and `var/lib/dpkg/info/*.list`), for the SBOM's `pkg:deb` entries,
//! and the files by which scanners see those packages in an image ([`scanner_files`]).
//!
//! Debian 12 merged `/usr`: a package may list `/lib/x86_64-linux-gnu/libz.so.1.2.13` while the
//! file is reached as `/usr/lib/…`, so both spellings are looked up. A database file over
//! [`MAX_FILE`], or one that cannot be read, leaves the files without an owner.

use std::collections::BTreeMap;

use super::root::Root;

/// The largest status or list file read.
pub const MAX_FILE: u64 = 64 << 20;

/// An installed package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DebPackage {
    /// `Package`.
    pub name: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub arch: String,
    /// `Source`, when the package names one (`curl`, or `openssl (3.0.11-1)`): what security
    /// trackers key their advisories by.
    pub source: Option<String>,
}

impl DebPackage {
    /// `pkg:deb/debian/NAME@VERSION?arch=ARCH`.
    pub fn purl(&self) -> String {
        format!(
            "{}?arch={}",
            crate::sbom::purl("deb", &format!("debian/{}", self.name), Some(&self.version)),
            self.arch
        )
    }

    /// The package's paragraph as an image's `var/lib/dpkg/status.d/NAME` holds it.
    pub fn status_paragraph(&self) -> String {
        let mut text = format!(
            "Package: {}\nStatus: install ok installed\nArchitecture: {}\n",
            self.name, self.arch
        );
        if let Some(source) = &self.source {
            text.push_str(&format!("Source: {source}\n"));
        }
        text.push_str(&format!("Version: {}\n", self.version));
        text
    }
}

/// The largest `/etc/os-release` or `/etc/debian_version` copied into an image.
const MAX_RELEASE_FILE: u64 = 64 << 10;

/// The files by which scanners see `packages` in an image that has no dpkg database: one
/// `/var/lib/dpkg/status.d/NAME` paragraph per package, as distroless images have them (Trivy,
/// syft and grype read that folder), and the root's `/etc/debian_version` and
/// `/etc/os-release`, by which they know the distribution (Trivy drops the packages of an image
/// whose distribution it cannot tell). Empty when no package is known.
pub fn scanner_files(root: &Root, packages: &[DebPackage]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if packages.is_empty() {
        return files;
    }
    for package in packages {
        // Only names dpkg itself accepts (`[a-z0-9][a-z0-9+.-]+`, so a file name), and
        // architectures alike: a database in a `--sysroot` is not trusted to name paths. The
        // same name for two architectures gets the second one's architecture too.
        if !is_dpkg_name(&package.name) || !is_dpkg_name(&package.arch) {
            continue;
        }
        let mut path = format!("/var/lib/dpkg/status.d/{}", package.name);
        if files.contains_key(&path) {
            path = format!("{path}:{}", package.arch);
        }
        files.insert(path, package.status_paragraph().into_bytes());
    }
    for release in ["/etc/debian_version", "/etc/os-release"] {
        // Followed inside the root: a link cannot bring in a file from outside a sysroot.
        if let Some(text) = root.read_text(release, MAX_RELEASE_FILE) {
            files.insert(release.to_string(), text.into_bytes());
        }
    }
    files
}

/// The database: installed packages and the paths each owns.
#[derive(Clone, Debug, Default)]
pub struct Dpkg {
    owners: BTreeMap<String, DebPackage>,
}

/// Whether `name` is a package or architecture name as dpkg allows them.
fn is_dpkg_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 256
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
}

/// `status` paragraphs of installed packages: (name, arch) → package.
pub fn parse_status(text: &str) -> BTreeMap<(String, String), DebPackage> {
    let mut out = BTreeMap::new();
    for paragraph in text.split("\n\n") {
        let field = |key: &str| {
            paragraph
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let (Some(name), Some(version), Some(arch), Some(status)) = (
            field("Package"),
            field("Version"),
            field("Architecture"),
            field("Status"),
        ) else {
            continue;
        };
        if !status.ends_with(" installed") {
            continue;
        }
        out.insert(
            (name.clone(), arch.clone()),
            DebPackage {
                name,
                version,
                arch,
                source: field("Source"),
            },
        );
    }
    out
}

impl Dpkg {
    /// Reads the database of `root`; empty when it has none.
    pub fn read(root: &Root) -> Dpkg {
        let mut dpkg = Dpkg::default();
        let Some(status) = root.read_text("/var/lib/dpkg/status", MAX_FILE) else {
            return dpkg;
        };
        let packages = parse_status(&status);
        let Ok(Some(info)) = root.canonical("/var/lib/dpkg/info") else {
            return dpkg;
        };
        let Ok(dir) = std::fs::read_dir(root.host(&info)) else {
            return dpkg;
        };
        let mut lists: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".list").map(str::to_string))
            .collect();
        lists.sort();
        for list in lists {
            let (name, arch) = match list.split_once(':') {
                Some((name, arch)) => (name.to_string(), Some(arch.to_string())),
                None => (list.clone(), None),
            };
            let package = match arch {
                Some(arch) => packages.get(&(name, arch)),
                None => packages
                    .iter()
                    .find(|((n, _), _)| *n == name)
                    .map(|(_, p)| p),
            };
            let Some(package) = package else { continue };
            let Some(text) = root.read_text(&format!("{info}/{list}.list"), MAX_FILE) else {
                continue;
            };
            for path in text.lines().filter(|l| l.starts_with('/')) {
                dpkg.owners
                    .entry(path.to_string())
                    .or_insert_with(|| package.clone());
            }
        }
        dpkg
    }

    /// The package owning `path` (either side of the merged `/usr`).
    pub fn owner(&self, path: &str) -> Option<&DebPackage> {
        let other = match path.strip_prefix("/usr") {
            Some(rest) => rest.to_string(),
            None => format!("/usr{path}"),
        };
        self.owners.get(path).or_else(|| self.owners.get(&other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_come_from_status_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("var/lib/dpkg/info");
        std::fs::create_dir_all(&info).unwrap();
        std::fs::write(
            dir.path().join("var/lib/dpkg/status"),
            "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n\
             Version: 1:1.2.13.dfsg-1\n\nPackage: gone\nStatus: deinstall ok config-files\n\
             Architecture: amd64\nVersion: 1\n",
        )
        .unwrap();
        std::fs::write(
            info.join("zlib1g:amd64.list"),
            "/.\n/lib/x86_64-linux-gnu/libz.so.1.2.13\n",
        )
        .unwrap();
        std::fs::write(info.join("gone.list"), "/lib/gone.so\n").unwrap();
        let dpkg = Dpkg::read(&Root::new(dir.path()));
        let owner = dpkg
            .owner("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13")
            .unwrap();
        assert_eq!(
            owner.purl(),
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64"
        );
        assert!(dpkg.owner("/lib/gone.so").is_none());
        assert_eq!(owner.source, None);
    }

    #[test]
    fn scanners_get_a_paragraph_per_package_and_the_roots_release() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("etc/debian_version"), "12.11\n").unwrap();
        std::fs::write(root.join("usr/lib/os-release"), "ID=debian\n").unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        let status = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
                      Source: openssl\nVersion: 3.0.11-1~deb12u2\nDescription: x\n\n\
                      Package: ../../etc/evil\nStatus: install ok installed\n\
                      Architecture: amd64\nVersion: 1\n\n\
                      Package: odd\nStatus: install ok installed\nArchitecture: a/b\nVersion: 1\n";
        let packages: Vec<DebPackage> = parse_status(status).into_values().collect();
        let files = scanner_files(&Root::new(&root), &packages);
        let text = |path: &str| String::from_utf8(files[path].clone()).unwrap();
        assert_eq!(
            text("/var/lib/dpkg/status.d/libssl3"),
            "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
             Source: openssl\nVersion: 3.0.11-1~deb12u2\n"
        );
        assert_eq!(text("/etc/debian_version"), "12.11\n");
        assert_eq!(text("/etc/os-release"), "ID=debian\n");
        assert_eq!(files.len(), 3);
        // No package, nothing for scanners.
        assert!(scanner_files(&Root::new(&root), &[]).is_empty());
        // A link out of the root is followed inside it (to nothing there); an oversized file
        // is left out.
        let outside = dir.path().join("host-secret");
        std::fs::write(&outside, "ID=host\n").unwrap();
        std::fs::remove_file(root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("etc/os-release")).unwrap();
        std::fs::write(
            root.join("etc/debian_version"),
            "1".repeat(MAX_RELEASE_FILE as usize + 1),
        )
        .unwrap();
        let files = scanner_files(&Root::new(&root), &packages);
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["/var/lib/dpkg/status.d/libssl3"]
        );
    }
}
