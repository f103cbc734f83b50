//! The final filesystem of an image, as a runtime stacks its layers (overlay semantics), and
//! path resolution inside it.
//!
//! Input: each layer's tar entries, bottom layer first. Output: a [`Tree`] mapping every path
//! of the final filesystem to its [`Node`]: its kind, mode, link target, and which entry
//! (layer, position) holds its content, so a later pass reads only the entries it needs.
//!
//! The rules, in the order a layer applies them to what lies below it:
//! - within one layer, the last of two entries with the same path wins;
//! - a `.wh.NAME` whiteout removes `NAME` (and all under it) from lower layers, and a
//!   `.wh..wh..opq` marker removes everything under its directory from lower layers;
//! - an entry that is not a directory hides everything under its path in lower layers, and
//!   an entry under a path that a lower layer holds as a non-directory turns it into one;
//! - a hard link (tar `Link`) shares the content of the path it names at that point.
//!
//! Work is linear in the entries: the tree is ordered, so removing a directory's contents is
//! one range, and each path is removed at most once per time it is added.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::{self, Read};

/// Linux follows at most 40 symbolic links resolving one path (`MAXSYMLINKS`).
pub const MAX_LINKS: usize = 40;

/// What a path is in the final filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (or a hard link to one).
    File,
    /// A directory.
    Dir,
    /// A symbolic link, with its target as written.
    Symlink(String),
    /// A hard link whose target did not exist when its layer was applied.
    BrokenHardLink(String),
    /// A device, FIFO or socket.
    Special,
}

/// One path of the final filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Its kind.
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// The entry holding its content: (layer index, bottom first; entry position in it).
    pub content: Option<(usize, usize)>,
}

/// One tar entry as stacking sees it: the raw path and what it is.
#[derive(Clone, Debug)]
pub struct LayerEntry {
    /// The path as the tar names it (`./usr/bin/app`, `app/`).
    pub path: String,
    /// The entry's kind; for a hard link, [`Kind::File`] with `link` set.
    pub kind: Kind,
    /// For a hard link, the path it names.
    pub link: Option<String>,
    /// Permission bits.
    pub mode: u32,
}

/// The final filesystem: normalised absolute paths (`/usr/bin/app`) to nodes.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

/// Reads one layer's tar entries (headers only; contents are skipped), in tar order. The
/// flag is true when the stream ended between entries without tar's end blocks, which is
/// harmless (every entry before was whole).
pub fn layer_entries(reader: &mut dyn Read) -> io::Result<(Vec<LayerEntry>, bool)> {
    collect(tar::Archive::new(reader).entries()?)
}

/// [`layer_entries`] of an uncompressed layer file, seeking over contents instead of
/// reading them: time grows with the entries, not their sizes.
pub fn layer_file_entries(file: std::fs::File) -> io::Result<(Vec<LayerEntry>, bool)> {
    collect(tar::Archive::new(io::BufReader::new(file)).entries_with_seek()?)
}

fn collect<R: Read>(archive: tar::Entries<'_, R>) -> io::Result<(Vec<LayerEntry>, bool)> {
    let mut entries = Vec::new();
    for entry in archive {
        let entry = match entry {
            Ok(entry) => entry,
            // (The tar crate reports a stream ending between entries as an `Other` error
            // whose text says so; umoci 0.4 writes single-file layers this way.)
            Err(e)
                if e.kind() == io::ErrorKind::UnexpectedEof
                    || e.to_string().contains("unexpected EOF") =>
            {
                return Ok((entries, true));
            }
            Err(e) => return Err(e),
        };
        if let Some(found) = classify(&entry) {
            entries.push(found);
        }
    }
    Ok((entries, false))
}

/// What a tar entry adds to the filesystem; `None` for records that add nothing. Content
/// positions count only the entries this accepts.
pub fn classify<R: Read>(entry: &tar::Entry<'_, R>) -> Option<LayerEntry> {
    let header = entry.header();
    let link = || {
        entry
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default()
    };
    use tar::EntryType as T;
    let (kind, hard) = match header.entry_type() {
        T::Regular | T::Continuous | T::GNUSparse => (Kind::File, None),
        T::Directory => (Kind::Dir, None),
        T::Symlink => (Kind::Symlink(link()), None),
        T::Link => (Kind::File, Some(link())),
        T::Char | T::Block | T::Fifo => (Kind::Special, None),
        // Metadata records (pax, GNU long names) describe the next entry and the tar crate
        // applies them; anything else is not part of the filesystem.
        _ => return None,
    };
    Some(LayerEntry {
        path: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        kind,
        link: hard,
        mode: header.mode().unwrap_or(0) & 0o7777,
    })
}

/// `a/./b/../c/` → `/a/c`: `.` dropped, `..` never above `/`.
pub fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name => parts.push(name),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `/a/b` → (`/a`, `b`); `/a` → (`/`, `a`).
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => ("/", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Tree {
    /// An empty filesystem.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// The node at a normalised path, if an entry names it.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Every path and node, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter()
    }

    /// Whether anything lies under `dir` (a directory implied by its contents).
    fn has_children(&self, dir: &str) -> bool {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Removes everything under `dir` (not `dir` itself).
    fn remove_under(&mut self, dir: &str) {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.nodes.remove(&key);
        }
    }

    /// Applies one layer's entries (in tar order) over the layers below it.
    pub fn apply_layer(&mut self, layer: usize, entries: &[LayerEntry]) {
        // The layer's own view first: last of two entries with the same path wins.
        let mut own: BTreeMap<String, (usize, &LayerEntry)> = BTreeMap::new();
        let mut whiteouts: Vec<String> = Vec::new();
        let mut opaque: Vec<String> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let path = normalise(&entry.path);
            let (dir, name) = split(&path);
            if name == ".wh..wh..opq" {
                opaque.push(dir.to_string());
            } else if let Some(gone) = name.strip_prefix(".wh.") {
                whiteouts.push(join(dir, gone));
            } else if path != "/" {
                own.insert(path, (index, entry));
            }
        }
        // Removals apply to the lower layers only.
        for dir in &opaque {
            self.remove_under(dir);
        }
        for path in &whiteouts {
            self.nodes.remove(path);
            self.remove_under(path);
        }
        // Replacements, with hard links resolved in tar order against what exists then.
        let mut ordered: Vec<(&String, &(usize, &LayerEntry))> = own.iter().collect();
        ordered.sort_by_key(|(_, (index, _))| *index);
        for (path, (index, entry)) in ordered {
            // Parents of an entry are directories in this layer, whatever lay below.
            let mut dir = split(path).0;
            while dir != "/" {
                match self.nodes.get(dir) {
                    Some(node) if node.kind != Kind::Dir => {
                        self.remove_under(dir);
                        self.nodes.insert(dir.to_string(), dir_node(0o755));
                    }
                    _ => {}
                }
                dir = split(dir).0;
            }
            let node = match (&entry.link, &entry.kind) {
                (Some(target), _) => {
                    let target = normalise(target);
                    match self.nodes.get(&target) {
                        Some(t) if t.kind == Kind::File => Node {
                            kind: Kind::File,
                            mode: t.mode,
                            content: t.content,
                        },
                        Some(t) => t.clone(),
                        None => Node {
                            kind: Kind::BrokenHardLink(target),
                            mode: entry.mode,
                            content: None,
                        },
                    }
                }
                (None, kind) => Node {
                    kind: kind.clone(),
                    mode: entry.mode,
                    content: (*kind == Kind::File).then_some((layer, *index)),
                },
            };
            if node.kind != Kind::Dir {
                self.remove_under(path);
            }
            match self.nodes.entry(path.clone()) {
                // A directory over a directory merges; it takes the upper mode.
                Entry::Occupied(mut slot) => *slot.get_mut() = node,
                Entry::Vacant(slot) => {
                    slot.insert(node);
                }
            }
        }
    }

    /// Resolves `path` (absolute, or relative to `cwd`) as `execve` would: every symbolic
    /// link followed inside the image root, the last component included.
    pub fn resolve(&self, path: &str, cwd: &str) -> Result<(String, &Node), Unresolved> {
        let start = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{cwd}/{path}")
        };
        // Components still to walk, last first (so a link's target is pushed on top).
        let mut pending: Vec<String> = components(&start).rev().collect();
        let mut at = String::from("/");
        let mut links = 0usize;
        let mut last_link: Option<(String, String)> = None;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    at = split(&at).0.to_string();
                    continue;
                }
                _ => {}
            }
            let here = join(&at, &part);
            let node = match self.nodes.get(&here) {
                Some(node) => node,
                None if self.has_children(&here) => &IMPLIED_DIR,
                None => {
                    return Err(match last_link {
                        Some((link, target)) => Unresolved::Dangling { link, target },
                        None => Unresolved::Missing { path: here },
                    });
                }
            };
            match &node.kind {
                Kind::Symlink(target) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Unresolved::Loop { path: here });
                    }
                    if target.starts_with('/') {
                        at = String::from("/");
                    }
                    last_link = Some((here, target.clone()));
                    pending.extend(components(target).rev());
                }
                Kind::Dir => at = here,
                _ if !pending.is_empty() => {
                    return Err(Unresolved::NotADirectory { path: here });
                }
                _ => return Ok((here, node)),
            }
        }
        let node = self.nodes.get(&at).unwrap_or(&IMPLIED_DIR);
        Ok((at, node))
    }
}

static IMPLIED_DIR: Node = Node {
    kind: Kind::Dir,
    mode: 0o755,
    content: None,
};

fn dir_node(mode: u32) -> Node {
    Node {
        kind: Kind::Dir,
        mode,
        content: None,
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = String> + '_ {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
}

/// Why a path does not resolve to anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// Nothing is at the path.
    Missing {
        /// The first path that does not exist.
        path: String,
    },
    /// A symbolic link names something that does not exist.
    Dangling {
        /// The last link followed.
        link: String,
        /// Its target, as written.
        target: String,
    },
    /// More than [`MAX_LINKS`] links were followed.
    Loop {
        /// The link at which resolution gave up.
        path: String,
    },
    /// A path component other than the last is not a directory.
    NotADirectory {
        /// That component.
        path: String,
    },
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::Missing { path } => write!(f, "`{path}` does not exist"),
            Unresolved::Dangling { link, target } => {
                write!(f, "`{link}` is a dangling link to `{target}`")
            }
            Unresolved::Loop { path } => write!(
                f,
                "symbolic link loop at `{path}` (more than {MAX_LINKS} links followed)"
            ),
            Unresolved::NotADirectory { path } => write!(f, "`{path}` is not a directory"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, mode: u32) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: Kind::File,
            link: None,
            mode,
        }
    }
    fn dir(path: &str) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: Kind::Dir,
            link: None,
            mode: 0o755,
        }
    }
    fn link(path: &str, target: &str) -> LayerEntry {
        LayerEntry {
            path: path.into(),
            kind: Kind::Symlink(target.into()),
            link: None,
            mode: 0o777,
        }
    }

    #[test]
    fn layers_stack_as_overlay_does() {
        let mut tree = Tree::new();
        tree.apply_layer(
            0,
            &[
                dir("app/"),
                file("app/bin", 0o755),
                file("etc/a", 0o644),
                file("etc/b", 0o644),
                dir("opt"),
                file("opt/x", 0o644),
            ],
        );
        tree.apply_layer(
            1,
            &[
                file("app", 0o755),
                file("etc/.wh.a", 0),
                file("opt/.wh..wh..opq", 0),
                file("opt/y", 0o600),
                file("dup", 0o755),
                file("./dup", 0o644),
            ],
        );
        let paths: Vec<&str> = tree.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["/app", "/dup", "/etc/b", "/opt", "/opt/y"]);
        assert_eq!(tree.get("/dup").unwrap().mode, 0o644);
        assert_eq!(tree.get("/dup").unwrap().content, Some((1, 5)));
        assert_eq!(tree.get("/app").unwrap().kind, Kind::File);
    }

    #[test]
    fn resolution_follows_links_inside_the_root() {
        let mut tree = Tree::new();
        tree.apply_layer(
            0,
            &[
                file("bin/real", 0o755),
                link("app", "/bin/real"),
                link("usr/rel", "../../../bin/real"),
                link("loop", "loop2"),
                link("loop2", "/loop"),
                link("dangle", "/nowhere"),
                dir("d"),
            ],
        );
        assert_eq!(tree.resolve("/app", "/").unwrap().0, "/bin/real");
        assert_eq!(tree.resolve("/usr/rel", "/").unwrap().0, "/bin/real");
        assert_eq!(tree.resolve("real", "/bin").unwrap().0, "/bin/real");
        assert_eq!(
            tree.resolve("/loop", "/").unwrap_err(),
            Unresolved::Loop {
                path: "/loop".into()
            }
        );
        assert_eq!(
            tree.resolve("/dangle", "/").unwrap_err().to_string(),
            "`/dangle` is a dangling link to `/nowhere`"
        );
        assert_eq!(tree.resolve("/d", "/").unwrap().1.kind, Kind::Dir);
        assert_eq!(
            tree.resolve("/bin/real/x", "/").unwrap_err(),
            Unresolved::NotADirectory {
                path: "/bin/real".into()
            }
        );
        assert_eq!(
            tree.resolve("/gone", "/").unwrap_err(),
            Unresolved::Missing {
                path: "/gone".into()
            }
        );
    }

    #[test]
    fn hard_links_share_their_target_content() {
        let mut tree = Tree::new();
        tree.apply_layer(0, &[file("bin/real", 0o755)]);
        let hard = LayerEntry {
            path: "app".into(),
            kind: Kind::File,
            link: Some("bin/real".into()),
            mode: 0o644,
        };
        let broken = LayerEntry {
            link: Some("nope".into()),
            path: "other".into(),
            ..hard.clone()
        };
        tree.apply_layer(1, &[hard, broken]);
        assert_eq!(tree.get("/app").unwrap().content, Some((0, 0)));
        assert_eq!(tree.get("/app").unwrap().mode, 0o755);
        assert_eq!(
            tree.get("/other").unwrap().kind,
            Kind::BrokenHardLink("/nope".into())
        );
    }
}
