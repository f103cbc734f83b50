//! The library closure of dynamic programs, found as glibc's loader finds it (`elf/dl-load.c`),
//! without running anything: the program's `PT_INTERP`; for each `DT_NEEDED`, a name with a
//! `/` as it is, else `DT_RPATH` (of the object and of the program, when the object has no
//! `DT_RUNPATH`), `DT_RUNPATH`, the root's `ld.so.cache`, then the machine's default
//! directories; transitively, each object once, a library of another machine or class skipped
//! as the loader skips it. `$ORIGIN` is the directory the object is loaded from in the image
//! (a program's is its entrypoint's, `/app`), `$LIB` and `$PLATFORM` expand as on Debian.
//!
//! Every file is placed at the path the loader opens, with the links the root has there
//! (`libz.so.1 -> libz.so.1.2.13`); directories are real directories in the image.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::elf::{self, DynInfo};
use super::ldcache::LdCache;
use super::root::{Root, file_name, join, normalise, parent, relative};
pub use super::target::{Target, expand};
use super::{ClosureError, Entry};
use crate::verify::stack::MAX_LINKS;

/// The most objects one closure may hold (real programs need tens).
pub const MAX_OBJECTS: usize = 2048;

/// A directory the loader searches.
#[derive(Clone, Debug)]
enum SearchDir {
    /// A directory of the root (same path in the image).
    Root(String),
    /// `$ORIGIN` of an object outside the root: where it is on the host, and in the image.
    Origin { host: PathBuf, image: String },
}

/// How a library was found (decides whether the image needs a link in a default directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Path,
    Cache,
    Default,
}

/// One loaded object.
#[derive(Clone, Debug)]
struct Object {
    /// Where it is in the image.
    image: String,
    /// Whether it was found inside the root (its `$ORIGIN` is then a root directory).
    in_root: bool,
    /// Its directory on the host (for `$ORIGIN` of an object outside the root).
    host_dir: PathBuf,
    /// Its loading facts.
    info: DynInfo,
}

/// The closure being resolved.
pub struct Resolver<'a> {
    root: &'a Root,
    cache: Option<&'a LdCache>,
    target: Target,
    /// The first program's `DT_RPATH` (searched for every object without `DT_RUNPATH`) and
    /// its image directory, for `$ORIGIN`.
    program_rpath: Vec<SearchDir>,
    queue: VecDeque<Object>,
    seen: BTreeSet<String>,
    /// Every image path and what goes there.
    pub entries: BTreeMap<String, Entry>,
    /// Every object's imports, for glibc's dlopened extras.
    pub imports: BTreeSet<String>,
    /// Libraries not found: name → the objects needing it.
    missing: BTreeMap<String, BTreeSet<String>>,
    /// Candidates skipped for being for another machine: name → paths.
    wrong_machine: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Resolver<'a> {
    /// A resolver for objects of `target`, in `root`.
    pub fn new(root: &'a Root, cache: Option<&'a LdCache>, target: Target) -> Resolver<'a> {
        Resolver {
            root,
            cache,
            target,
            program_rpath: Vec::new(),
            queue: VecDeque::new(),
            seen: BTreeSet::new(),
            entries: BTreeMap::new(),
            imports: BTreeSet::new(),
            missing: BTreeMap::new(),
            wrong_machine: BTreeMap::new(),
        }
    }

    /// Adds a program read from `host`, going to `image` (not itself an entry: the caller
    /// places programs), with its interpreter.
    pub fn add_program(
        &mut self,
        host: &Path,
        image: &str,
        info: DynInfo,
    ) -> Result<(), ClosureError> {
        if Target::of(&info) != self.target {
            return Err(ClosureError::Machine {
                path: host.to_owned(),
            });
        }
        let host_dir = std::fs::canonicalize(host)
            .map_err(|source| ClosureError::Read {
                path: host.to_owned(),
                source,
            })?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let object = Object {
            image: image.to_string(),
            in_root: false,
            host_dir,
            info,
        };
        if self.program_rpath.is_empty() && object.info.runpath.is_empty() {
            self.program_rpath = self.dirs(&object, &object.info.rpath);
        }
        if let Some(interpreter) = object.info.interpreter.clone() {
            if !interpreter.starts_with('/') {
                return Err(ClosureError::Interpreter {
                    path: interpreter,
                    needed_by: image.to_string(),
                });
            }
            let logical = normalise(&interpreter);
            match self.root_candidate(&logical)? {
                Some(_) => self.place(&logical, 0)?,
                None => {
                    return Err(ClosureError::Interpreter {
                        path: interpreter,
                        needed_by: image.to_string(),
                    });
                }
            }
        }
        self.seen.insert(object.image.clone());
        self.queue.push_back(object);
        Ok(())
    }

    /// Adds a library of the root (`--add-lib`, an NSS module) at its own path, with its
    /// closure.
    pub fn add_library(&mut self, logical: &str) -> Result<bool, ClosureError> {
        let logical = normalise(logical);
        if self.seen.contains(&logical) {
            return Ok(true);
        }
        let Some(host) = self.root_candidate(&logical)? else {
            return Ok(false);
        };
        self.place(&logical, 0)?;
        let info = read_info(&host)?;
        self.seen.insert(logical.clone());
        self.queue.push_back(Object {
            image: logical,
            in_root: true,
            host_dir: PathBuf::new(),
            info,
        });
        Ok(true)
    }

    /// Finds a library by name as the program would (cache, default directories) and adds
    /// it: false when nothing fits.
    pub fn add_by_name(&mut self, name: &str) -> Result<bool, ClosureError> {
        let found = self.find(name, &[])?;
        match found {
            Some((dir, via)) => {
                self.take(name, dir, via)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Resolves every queued object's needs, transitively.
    pub fn run(&mut self) -> Result<(), ClosureError> {
        while let Some(object) = self.queue.pop_front() {
            if self.seen.len() > MAX_OBJECTS {
                return Err(ClosureError::TooMany { limit: MAX_OBJECTS });
            }
            self.imports.extend(object.info.imports.iter().cloned());
            let mut dirs = Vec::new();
            if object.info.runpath.is_empty() {
                dirs.extend(self.dirs(&object, &object.info.rpath));
                dirs.extend(self.program_rpath.iter().cloned());
            }
            dirs.extend(self.dirs(&object, &object.info.runpath));
            for name in &object.info.needed {
                if name.contains('/') {
                    let logical = normalise(name);
                    if !self.add_library(&logical)? {
                        self.missing
                            .entry(name.clone())
                            .or_default()
                            .insert(object.image.clone());
                    }
                    continue;
                }
                match self.find(name, &dirs)? {
                    Some((dir, via)) => self.take(name, dir, via)?,
                    None => {
                        self.missing
                            .entry(name.clone())
                            .or_default()
                            .insert(object.image.clone());
                    }
                }
            }
        }
        Ok(())
    }

    /// The libraries not found, each with every object needing it, and the candidates of
    /// another machine that were skipped.
    pub fn finish(self) -> Result<(BTreeMap<String, Entry>, BTreeSet<String>), ClosureError> {
        if !self.missing.is_empty() {
            let missing = self
                .missing
                .into_iter()
                .map(|(name, by)| {
                    let skipped = self
                        .wrong_machine
                        .get(&name)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default();
                    (name, by.into_iter().collect(), skipped)
                })
                .collect();
            return Err(ClosureError::NotFound { missing });
        }
        Ok((self.entries, self.imports))
    }

    /// An object's search path entries as directories.
    fn dirs(&self, object: &Object, entries: &[String]) -> Vec<SearchDir> {
        let mut dirs = Vec::new();
        for entry in entries {
            if object.in_root {
                let expanded = expand(entry, parent(&object.image), &self.target);
                // A relative entry is relative to the working directory: nothing to resolve.
                if expanded.starts_with('/') {
                    dirs.push(SearchDir::Root(normalise(&expanded)));
                }
            } else if entry.contains("ORIGIN") {
                let host = expand(entry, &object.host_dir.to_string_lossy(), &self.target);
                let image = expand(entry, parent(&object.image), &self.target);
                dirs.push(SearchDir::Origin {
                    host: PathBuf::from(normalise(&host)),
                    image: normalise(&image),
                });
            } else {
                let expanded = expand(entry, "", &self.target);
                if expanded.starts_with('/') {
                    dirs.push(SearchDir::Root(normalise(&expanded)));
                }
            }
        }
        dirs
    }

    /// The host file of the root's `logical` path when it is an ELF object for the target;
    /// a file for another machine is noted and skipped.
    fn root_candidate(&mut self, logical: &str) -> Result<Option<PathBuf>, ClosureError> {
        let canonical = self
            .root
            .canonical(logical)
            .map_err(|source| ClosureError::Read {
                path: self.root.host(logical),
                source,
            })?;
        let Some(canonical) = canonical else {
            return Ok(None);
        };
        let host = self.root.host(&canonical);
        Ok(self.fits(logical, host))
    }

    /// `host` when it is a regular file with an ELF header for the target.
    fn fits(&mut self, shown: &str, host: PathBuf) -> Option<PathBuf> {
        if !std::fs::metadata(&host).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let mut head = [0u8; 20];
        let read = std::fs::File::open(&host).and_then(|mut f| f.read_exact(&mut head));
        if read.is_ok() && self.target.matches(&head) {
            return Some(host);
        }
        if head.starts_with(b"\x7fELF") {
            self.wrong_machine
                .entry(file_name(shown).to_string())
                .or_default()
                .insert(shown.to_string());
        }
        None
    }

    /// Where `name` is found: the search path, the cache, then the default directories.
    fn find(
        &mut self,
        name: &str,
        dirs: &[SearchDir],
    ) -> Result<Option<(SearchDir, Via)>, ClosureError> {
        for dir in dirs {
            let found = match dir {
                SearchDir::Root(dir) => self.root_candidate(&join(dir, name))?.is_some(),
                SearchDir::Origin { host, image } => {
                    let shown = join(image, name);
                    self.fits(&shown, host.join(name)).is_some()
                }
            };
            if found {
                return Ok(Some((dir.clone(), Via::Path)));
            }
        }
        if let Some(cache) = self.cache {
            let paths: Vec<String> = cache
                .lookup(name, self.target.machine)
                .into_iter()
                .map(normalise)
                .collect();
            for path in paths {
                if self.root_candidate(&path)?.is_some() {
                    return Ok(Some((
                        SearchDir::Root(parent(&path).to_string()),
                        Via::Cache,
                    )));
                }
            }
        }
        for dir in self.target.default_dirs() {
            if self.root_candidate(&join(&dir, name))?.is_some() {
                return Ok(Some((SearchDir::Root(dir), Via::Default)));
            }
        }
        Ok(None)
    }

    /// Places `name` found in `dir` and queues it.
    fn take(&mut self, name: &str, dir: SearchDir, via: Via) -> Result<(), ClosureError> {
        let (image, in_root, host_dir, host) = match dir {
            SearchDir::Root(dir) => {
                let logical = join(&dir, name);
                self.place(&logical, 0)?;
                // The image has no ld.so.cache: a library the cache found outside the default
                // directories gets a link where the image's loader looks, `/lib/<triple>` for
                // a multiarch glibc and `/lib` for one built without (a cross sysroot's).
                let defaults = self.target.default_dirs();
                if via == Via::Cache && !defaults.contains(&dir) {
                    let mut homes = vec![defaults[0].clone()];
                    homes.extend(self.target.triple().map(|_| "/lib".to_string()));
                    for home in homes {
                        let target = relative(&home, &logical);
                        self.entries
                            .entry(join(&home, name))
                            .or_insert_with(|| Entry::Link(target));
                    }
                }
                let canonical = self.root.canonical(&logical).ok().flatten();
                let host = self.root.host(canonical.as_deref().unwrap_or(&logical));
                (logical, true, PathBuf::new(), host)
            }
            SearchDir::Origin { host, image } => {
                let file = host.join(name);
                let real = std::fs::canonicalize(&file).map_err(|source| ClosureError::Read {
                    path: file.clone(),
                    source,
                })?;
                let logical = join(&image, name);
                self.entries
                    .entry(logical.clone())
                    .or_insert_with(|| Entry::File {
                        host: real.clone(),
                        mode: mode_of(&real),
                        logical: None,
                    });
                (logical, false, host, real)
            }
        };
        if !self.seen.insert(image.clone()) {
            return Ok(());
        }
        let info = read_info(&host)?;
        self.queue.push_back(Object {
            image,
            in_root,
            host_dir,
            info,
        });
        Ok(())
    }

    /// Puts the root's `logical` path into the image: a link as a link (and what it points
    /// to), a regular file as a copy.
    fn place(&mut self, logical: &str, hops: usize) -> Result<(), ClosureError> {
        if self.entries.contains_key(logical) {
            return Ok(());
        }
        if hops > MAX_LINKS {
            return Err(ClosureError::Links {
                path: logical.to_string(),
            });
        }
        let read = |path: PathBuf| {
            move |source| ClosureError::Read {
                path: path.clone(),
                source,
            }
        };
        let dir = self
            .root
            .canonical(parent(logical))
            .map_err(read(self.root.host(logical)))?
            .ok_or_else(|| ClosureError::Links {
                path: logical.to_string(),
            })?;
        let real = join(&dir, file_name(logical));
        let host = self.root.host(&real);
        let meta = std::fs::symlink_metadata(&host).map_err(read(host.clone()))?;
        if meta.file_type().is_symlink() {
            let text = std::fs::read_link(&host).map_err(read(host.clone()))?;
            let text = text.to_string_lossy();
            let target = if text.starts_with('/') {
                normalise(&text)
            } else {
                // Kept beside the link where it is the same file there (`libz.so.1 ->
                // libz.so.1.2.13` under `/lib` reached through `/lib -> usr/lib`), so the image
                // holds one directory, not two.
                let beside = join(parent(logical), &text);
                let real = join(&dir, &text);
                let same = |a: &str, b: &str| {
                    matches!(
                        (self.root.canonical(a), self.root.canonical(b)),
                        (Ok(Some(x)), Ok(Some(y))) if x == y
                    )
                };
                if beside == real || same(&beside, &real) {
                    beside
                } else {
                    real
                }
            };
            let shown = if parent(&target) == parent(logical) {
                file_name(&target).to_string()
            } else {
                target.clone()
            };
            self.entries.insert(logical.to_string(), Entry::Link(shown));
            return self.place(&target, hops + 1);
        }
        if !meta.is_file() {
            return Err(ClosureError::Links {
                path: logical.to_string(),
            });
        }
        self.entries.insert(
            logical.to_string(),
            Entry::File {
                mode: mode_of(&host),
                host,
                logical: Some(real),
            },
        );
        Ok(())
    }
}

/// 0755 for a file anyone may execute (the loader), else 0644: modes normalised.
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o111 != 0 => 0o755,
        _ => 0o644,
    }
}

/// The loading facts of the file at `host`.
pub fn read_info(host: &Path) -> Result<DynInfo, ClosureError> {
    let file = std::fs::File::open(host).map_err(|source| ClosureError::Read {
        path: host.to_owned(),
        source,
    })?;
    // SAFETY: read-only private map of a library file that packaging does not modify; a
    // concurrent truncation faults instead of giving stale bytes (as verify's maps).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| ClosureError::Read {
        path: host.to_owned(),
        source,
    })?;
    elf::read(host, &map).map_err(ClosureError::Elf)
}
