//! Which Debian package owns a file, from the dpkg database of a root
//! (`var/lib/dpkg/status` and `var/lib/dpkg/info/*.list`), for the SBOM's `pkg:deb` entries.
//!
//! Debian 12 merged `/usr`: a package may list `/lib/x86_64-linux-gnu/libz.so.1.2.13` while the
//! file is reached as `/usr/lib/…`, so both spellings are looked up. Each file read is capped
//! ([`MAX_FILE`]); a database that cannot be read leaves the files without an owner.

use std::collections::BTreeMap;
use std::io::Read;

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
}

/// The database: installed packages and the paths each owns.
#[derive(Clone, Debug, Default)]
pub struct Dpkg {
    owners: BTreeMap<String, DebPackage>,
}

fn read_capped(path: &std::path::Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text).ok()?;
    Some(text)
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
            },
        );
    }
    out
}

impl Dpkg {
    /// Reads the database of `root`; empty when it has none.
    pub fn read(root: &Root) -> Dpkg {
        let mut dpkg = Dpkg::default();
        let Some(status) = read_capped(&root.host("/var/lib/dpkg/status")) else {
            return dpkg;
        };
        let packages = parse_status(&status);
        let Ok(dir) = std::fs::read_dir(root.host("/var/lib/dpkg/info")) else {
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
            let Some(text) = read_capped(&root.host(&format!("/var/lib/dpkg/info/{list}.list")))
            else {
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
    }
}
