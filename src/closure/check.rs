//! `verify IMAGE`'s closure check: every dynamic ELF object of an image must find its program
//! interpreter and each `DT_NEEDED` library **inside the image**, for its own machine, by the
//! loader's search (`DT_RPATH` when there is no `DT_RUNPATH`, the programs' `DT_RPATH`,
//! `DT_RUNPATH`, the image's own `/etc/ld.so.cache` when it has one, the default directories;
//! `$ORIGIN` is the object's directory).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::elf::DynInfo;
use super::ldcache::LdCache;
use super::resolve::{Target, expand};
use super::root::{join, normalise, parent};
use crate::verify::stack::{Kind, Tree};

/// Where a content lives in the image's layers (layer, entry position).
pub type ContentKey = (usize, usize);

/// A library or interpreter the image lacks.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Missing {
    /// The library name (or the interpreter's path).
    pub library: String,
    /// Every file needing it.
    pub needed_by: Vec<String>,
    /// Files by that name the loader would skip for being for another machine.
    pub wrong_machine: Vec<String>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not in the image (needed by {})",
            self.library,
            crate::ui::backticked(&self.needed_by)
        )?;
        if !self.wrong_machine.is_empty() {
            write!(
                f,
                "; {} is for another machine",
                crate::ui::backticked(&self.wrong_machine)
            )?;
        }
        Ok(())
    }
}

/// Checks every dynamic object of `objects` (each content's path and loading facts) against
/// the image's `tree`; returns what is missing, sorted.
pub fn check(
    tree: &Tree,
    objects: &HashMap<ContentKey, (String, DynInfo)>,
    cache: Option<&LdCache>,
) -> Vec<Missing> {
    let mut missing: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    // The programs' DT_RPATH applies to every object they load that has no DT_RUNPATH.
    let program_rpath: Vec<String> = objects
        .values()
        .filter(|(_, info)| {
            info.interpreter.is_some() && info.soname.is_none() && info.runpath.is_empty()
        })
        .flat_map(|(path, info)| {
            info.rpath
                .iter()
                .map(|r| normalise(&expand(r, parent(path), &Target::of(info))))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut sorted: Vec<&(String, DynInfo)> = objects.values().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, info) in sorted {
        if !info.loadable || !info.is_dynamic() {
            continue;
        }
        let target = Target::of(info);
        let fits = |candidate: &str, wrong: &mut BTreeSet<String>| {
            let Ok((resolved, node)) = tree.resolve(candidate, "/") else {
                return false;
            };
            if node.kind != Kind::File {
                return false;
            }
            match node.content.and_then(|c| objects.get(&c)) {
                Some((_, other)) if Target::of(other) == target => true,
                Some(_) => {
                    wrong.insert(resolved);
                    false
                }
                None => false,
            }
        };
        // A library's own interpreter is used only when it is run as a program.
        if let (Some(interpreter), None) = (&info.interpreter, &info.soname) {
            let mut wrong = BTreeSet::new();
            if !fits(interpreter, &mut wrong) {
                let entry = missing.entry(interpreter.clone()).or_default();
                entry.0.insert(path.clone());
                entry.1.extend(wrong);
            }
        }
        let own = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|r| normalise(&expand(r, parent(path), &target)))
                .collect()
        };
        let mut dirs = Vec::new();
        if info.runpath.is_empty() {
            dirs.extend(own(&info.rpath));
            dirs.extend(program_rpath.iter().cloned());
        }
        dirs.extend(own(&info.runpath));
        let defaults = target.default_dirs();
        for name in &info.needed {
            let mut wrong = BTreeSet::new();
            let cached = || {
                cache
                    .map(|c| c.lookup(name, target.machine))
                    .unwrap_or_default()
            };
            let found = if name.contains('/') {
                fits(&normalise(name), &mut wrong)
            } else {
                dirs.iter().any(|dir| fits(&join(dir, name), &mut wrong))
                    || cached()
                        .into_iter()
                        .any(|path| fits(&normalise(path), &mut wrong))
                    || defaults
                        .iter()
                        .any(|dir| fits(&join(dir, name), &mut wrong))
            };
            if !found {
                let entry = missing.entry(name.clone()).or_default();
                entry.0.insert(path.clone());
                entry.1.extend(wrong);
            }
        }
    }
    missing
        .into_iter()
        .map(|(library, (by, wrong))| Missing {
            library,
            needed_by: by.into_iter().collect(),
            wrong_machine: wrong.into_iter().collect(),
        })
        .collect()
}
