//! Comparing what the binary printed with what a test expects, whole: [`assert_output`]
//! normalises the parts that change from run to run (temporary directories, the repository's
//! path, digests), so a test states every line of a message and not one word of it.

use std::path::PathBuf;

use super::run::repo;

/// What the prefix of every test's temporary directory is replaced with.
pub const TMP: &str = "[TMP]";

/// `text` with the run-to-run parts replaced:
///
/// - a directory made by [`tempdir`](super::fixtures::tempdir) (`$TMPDIR/static-image-test.XXXXXX`)
///   → `[TMP]`, so `/tmp/static-image-test.Ab12Cd/out` reads `[TMP]/out`;
/// - the repository root → `[ROOT]`;
/// - `sha256:` and 64 hex digits → `sha256:<digest>`, and `sha256/<digest>` in a blob's path.
pub fn normalise(text: &str) -> String {
    let mut text = text.to_string();
    for dir in temp_roots() {
        text = replace_temp_dirs(&text, &format!("{}/static-image-test.", dir.display()));
    }
    text = text.replace(&repo().display().to_string(), "[ROOT]");
    replace_digests(&text)
}

/// Asserts that `actual`, normalised by [`normalise`], is `expected` (a trailing newline
/// aside), showing both in full when it is not.
#[track_caller]
pub fn assert_output(actual: &str, expected: &str) {
    let normal = normalise(actual);
    let (got, want) = (
        normal.trim_end_matches('\n'),
        expected.trim_end_matches('\n'),
    );
    assert!(
        got == want,
        "the output differs from what is expected.\n--- expected:\n{want}\n--- actual \
         (normalised):\n{got}\n--- actual (as printed):\n{actual}"
    );
}

/// The temporary directory, as given and as the kernel resolves it (a run may print either).
fn temp_roots() -> Vec<PathBuf> {
    let dir = std::env::temp_dir();
    let mut roots = vec![dir.clone()];
    if let Ok(real) = dir.canonicalize()
        && real != dir
    {
        roots.push(real);
    }
    roots
}

/// Replaces `PREFIX` + the random suffix `tempfile` appends (letters and digits) with [`TMP`].
fn replace_temp_dirs(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        out.push_str(TMP);
        let after = &rest[at + prefix.len()..];
        let suffix = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        rest = &after[suffix..];
    }
    out.push_str(rest);
    out
}

/// Replaces every `sha256:` (or `sha256/`, a blob's path) followed by exactly 64 lowercase hex
/// digits with `sha256:<digest>` (`sha256/<digest>`).
fn replace_digests(text: &str) -> String {
    replace_digests_after(&replace_digests_after(text, "sha256:"), "sha256/")
}

fn replace_digests_after(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let after = &rest[at + prefix.len()..];
        let hex = after
            .bytes()
            .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .count();
        out.push_str(&rest[..at + prefix.len()]);
        if hex == 64 {
            out.push_str("<digest>");
            rest = &after[64..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The part of `stderr` from its first `error:` line on: our own message, without what a
/// child tool printed before it (which changes with the tool's release).
pub fn error_part(stderr: &str) -> &str {
    let at = stderr
        .match_indices("error: ")
        .map(|(at, _)| at)
        .find(|&at| at == 0 || stderr.as_bytes()[at - 1] == b'\n')
        .unwrap_or_else(|| panic!("no `error:` line in:\n{stderr}"));
    &stderr[at..]
}
