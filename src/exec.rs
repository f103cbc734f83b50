//! Subprocesses: the only place `std::process` is used.
//!
//! A [`Cmd`] carries a human description ("cargo build"), the program, its arguments, the
//! environment changes and the working directory. It echoes `+ <command line>` under `-v`,
//! checks the exit status, and on failure reports the quoted command line, how it ended and
//! the tail of its stderr, set off from our own text. Child stdout never reaches our stdout,
//! which carries results only: it is forwarded to stderr or handed to the caller.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::ui::Ui;

/// How many trailing stderr lines a failure report shows.
const STDERR_TAIL_LINES: usize = 20;

/// How many watched lines are kept from the start of a child's output, and how many from its
/// end: the first error is usually the one that matters, the last says where it stopped.
const NOTED_HEAD: usize = 150;
const NOTED_END: usize = 50;

/// Watched lines are cut to this many bytes: a compiler's echoed command line can be huge.
const NOTED_WIDTH: usize = 400;

/// A subprocess failed to start, failed, or printed what we could not read.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The program could not be started at all (not found, not executable).
    #[error("could not start {description}: `{command}`")]
    Spawn {
        /// What the command was for.
        description: String,
        /// The quoted command line.
        command: String,
        /// Why the OS refused.
        #[source]
        source: io::Error,
    },
    /// The program ran and ended badly.
    #[error("{description} failed: {status}\n  command: `{command}`{tail}", tail = if *shown { String::new() } else { format_tail(stderr_tail) })]
    Failed {
        /// What the command was for.
        description: String,
        /// The quoted command line.
        command: String,
        /// "exited with status N" or "was killed by signal S".
        status: String,
        /// The last lines of the child's stderr (boxed: errors travel by value).
        stderr_tail: Box<[String]>,
        /// Its stderr was already shown live, so the report does not repeat it.
        shown: bool,
        /// The lines of its whole output (stderr, and stdout unless the caller reads it) that
        /// contain one of the [`Cmd::watch`] needles, in order: the first ones and the last
        /// ones when there were many. Not shown here: the caller knows what they mean.
        noted: Box<[String]>,
    },
    /// The program's output is not UTF-8 where text was expected.
    #[error("{description} printed output that is not UTF-8: `{command}`")]
    NotUtf8 {
        /// What the command was for.
        description: String,
        /// The quoted command line.
        command: String,
    },
    /// Reading the child's output failed.
    #[error("could not read the output of {description}: `{command}`")]
    Io {
        /// What the command was for.
        description: String,
        /// The quoted command line.
        command: String,
        /// The read error.
        #[source]
        source: io::Error,
    },
}

fn format_tail(lines: &[String]) -> String {
    let mut out = String::new();
    if !lines.is_empty() {
        out.push_str("\n  its stderr ended with:");
        for line in lines {
            let _ = write!(out, "\n  | {line}");
        }
    }
    out
}

/// A command to run, built up and then run once.
#[derive(Clone, Debug)]
pub struct Cmd {
    description: String,
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    watch: Vec<String>,
}

impl Cmd {
    /// A command described as `description` in messages ("cargo build").
    pub fn new(description: impl Into<String>, program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            description: description.into(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: None,
            watch: Vec::new(),
        }
    }

    /// Bytes for the child's stdin (else it reads nothing): a credential helper's question.
    pub fn stdin(mut self, bytes: Vec<u8>) -> Cmd {
        self.stdin = Some(bytes);
        self
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Cmd {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child (the rest is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Keeps the lines of its output that contain any of `needles` (see
    /// [`ExecError::Failed::noted`]), however long the output: a failure's first error may be
    /// hundreds of lines above its last.
    pub fn watch<I: IntoIterator<Item = S>, S: Into<String>>(mut self, needles: I) -> Cmd {
        self.watch.extend(needles.into_iter().map(Into::into));
        self
    }

    /// Runs the child in `dir`.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// The command line as a shell would take it, environment changes first.
    pub fn command_line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), quote(v)))
            .collect();
        words.push(quote(&self.program));
        words.extend(self.args.iter().map(|a| quote(a)));
        words.join(" ")
    }

    /// Runs to completion; the child's stdout goes to our stderr. Under `--quiet` its stderr is
    /// captured and shown only if it fails.
    pub fn run(&self, ui: &Ui) -> Result<(), ExecError> {
        // Its stdout is shown, not parsed: a make's stdout holds configure's messages.
        self.start(ui)?
            .finish_watching(ui, &mut |line| ui.child_output(line), true)
    }

    /// Runs to completion and returns its stdout, which must be UTF-8.
    pub fn capture(&self, ui: &Ui) -> Result<String, ExecError> {
        let mut child = self.spawn(ui)?;
        let stderr = child
            .stderr
            .take()
            .map(|s| thread::spawn(move || tail_of(s)));
        let mut stdout = Vec::new();
        let read = child
            .stdout
            .take()
            .map_or(Ok(0), |mut s| s.read_to_end(&mut stdout));
        let status = child.wait().map_err(|e| self.io_error(e))?;
        let tail = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        read.map_err(|e| self.io_error(e))?;
        self.check(status, tail, false, Noted::default())?;
        String::from_utf8(stdout).map_err(|_| ExecError::NotUtf8 {
            description: self.description.clone(),
            command: self.command_line(),
        })
    }

    /// Runs to completion, handing each line of its stdout to `on_line` as it arrives (cargo's
    /// JSON messages). Its stderr is shown live (unless `--quiet`) and its tail kept for the
    /// failure report and for recognising known failures.
    pub fn stream(&self, ui: &Ui, on_line: &mut dyn FnMut(&str)) -> Result<(), ExecError> {
        self.start(ui)?.finish(ui, on_line)
    }

    /// Starts the child with its output held back: [`Started::finish`] shows and hands it over
    /// as [`Cmd::stream`] does, from the start; [`Started::discard`] waits for the child and
    /// drops it. For work begun before it is known to be wanted.
    pub fn start(&self, ui: &Ui) -> Result<Started, ExecError> {
        let mut child = self.spawn(ui)?;
        let (lines, held) = mpsc::channel();
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let lines = lines.clone();
            readers.push(thread::spawn(move || {
                for line in BufReader::new(stdout).split(b'\n') {
                    let line = line.map(Line::Out).unwrap_or_else(Line::Broken);
                    let stop = matches!(line, Line::Broken(_));
                    if lines.send(line).is_err() || stop {
                        return;
                    }
                }
            }));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(thread::spawn(move || {
                for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
                    if lines.send(Line::Err(line)).is_err() {
                        return;
                    }
                }
            }));
        }
        Ok(Started {
            cmd: self.clone(),
            child,
            held,
            readers,
        })
    }

    fn spawn(&self, ui: &Ui) -> Result<std::process::Child, ExecError> {
        ui.verbose(format_args!("+ {}", self.command_line()));
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            command.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| self.spawn_error(e))?;
        if let (Some(bytes), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // Written from a thread so a child that answers before reading cannot deadlock us;
            // a child that exits without reading is not an error of ours.
            thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
        }
        Ok(child)
    }

    fn check(
        &self,
        status: ExitStatus,
        stderr_tail: Vec<String>,
        shown: bool,
        noted: Noted,
    ) -> Result<(), ExecError> {
        if status.success() {
            return Ok(());
        }
        let status = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => format!("ended with {status}"),
        };
        Err(ExecError::Failed {
            description: self.description.clone(),
            command: self.command_line(),
            status,
            stderr_tail: stderr_tail.into(),
            shown,
            noted: noted.into_lines(),
        })
    }

    fn spawn_error(&self, source: io::Error) -> ExecError {
        ExecError::Spawn {
            description: self.description.clone(),
            command: self.command_line(),
            source,
        }
    }

    fn io_error(&self, source: io::Error) -> ExecError {
        ExecError::Io {
            description: self.description.clone(),
            command: self.command_line(),
            source,
        }
    }
}

/// A line from a child: stdout (text expected), stderr (bytes, shown as they are), or the end
/// of a stdout that could not be read.
enum Line {
    Out(Vec<u8>),
    Err(Vec<u8>),
    Broken(io::Error),
}

/// A child started by [`Cmd::start`], its output held until it is finished or discarded.
pub struct Started {
    cmd: Cmd,
    child: Child,
    held: mpsc::Receiver<Line>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Started {
    /// Shows its stderr (unless `--quiet`) and hands its stdout lines to `on_line`, held ones
    /// first, then live; then checks how it ended.
    pub fn finish(self, ui: &Ui, on_line: &mut dyn FnMut(&str)) -> Result<(), ExecError> {
        self.finish_watching(ui, on_line, false)
    }

    /// [`Started::finish`]; `watch_stdout`: its stdout lines are watched too (they are text
    /// for people, not messages for the caller).
    fn finish_watching(
        mut self,
        ui: &Ui,
        on_line: &mut dyn FnMut(&str),
        watch_stdout: bool,
    ) -> Result<(), ExecError> {
        let show = !ui.is_quiet();
        let mut tail = Tail::default();
        let mut noted = Noted::default();
        let mut read_result = Ok(());
        let watch = std::mem::take(&mut self.cmd.watch);
        // Ends when both readers have hung up.
        for line in self.held.iter() {
            match line {
                Line::Out(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim_end_matches('\r');
                    if watch_stdout {
                        noted.offer(text, &watch);
                    }
                    on_line(text);
                }
                Line::Err(bytes) => {
                    tail.push(&bytes, show.then_some(ui));
                    noted.offer(&String::from_utf8_lossy(&bytes), &watch);
                }
                Line::Broken(e) => read_result = Err(e),
            }
        }
        let status = self.child.wait().map_err(|e| self.cmd.io_error(e))?;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        read_result.map_err(|e| self.cmd.io_error(e))?;
        self.cmd.check(status, tail.0.into(), show, noted)
    }

    /// Waits for it to end, dropping its output: it was started on a guess that proved wrong.
    /// (Waited for, not killed: a cargo killed mid-build would leave its rustc children
    /// writing into the target directory beside the build that replaces it.)
    pub fn discard(mut self) {
        // Read to the end: a closed pipe would fail the child's next write.
        for _ in self.held.iter() {}
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

/// The last lines of a child's stderr (lossily decoded), each shown as it comes when asked
/// (bytes untouched, so a child's colours survive).
#[derive(Default)]
struct Tail(std::collections::VecDeque<String>);

impl Tail {
    fn push(&mut self, line: &[u8], show: Option<&Ui>) {
        if let Some(ui) = show {
            let mut shown = line.to_vec();
            shown.push(b'\n');
            ui.write_stderr(&shown);
        }
        if self.0.len() == STDERR_TAIL_LINES {
            self.0.pop_front();
        }
        self.0
            .push_back(String::from_utf8_lossy(line).trim_end().to_string());
    }
}

/// The lines of a child's output that contain a watched needle: the first [`NOTED_HEAD`], then
/// the last [`NOTED_END`], with a line saying how many were left out between them.
#[derive(Default)]
struct Noted {
    head: Vec<String>,
    end: std::collections::VecDeque<String>,
    dropped: usize,
}

impl Noted {
    fn offer(&mut self, line: &str, needles: &[String]) {
        if !needles.iter().any(|n| line.contains(n.as_str())) {
            return;
        }
        let mut line = line.trim_end().to_string();
        if line.len() > NOTED_WIDTH {
            let mut cut = NOTED_WIDTH;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            line.push_str(" …");
        }
        if self.head.len() < NOTED_HEAD {
            self.head.push(line);
            return;
        }
        if self.end.len() == NOTED_END {
            self.end.pop_front();
            self.dropped += 1;
        }
        self.end.push_back(line);
    }

    fn into_lines(self) -> Box<[String]> {
        let gap = (self.dropped > 0).then(|| format!("… ({} more)", self.dropped));
        self.head.into_iter().chain(gap).chain(self.end).collect()
    }
}

/// Reads a stream to its end and keeps its last lines.
fn tail_of(stream: impl Read) -> Vec<String> {
    let mut tail = Tail::default();
    for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
        tail.push(&line, None);
    }
    tail.0.into()
}

/// Quotes a word for a POSIX shell when it needs it, so a printed command can be pasted.
fn quote(word: &OsStr) -> String {
    let text = word.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_a_shell_would_split() {
        let cmd = Cmd::new("test", "cargo")
            .args(["build", "--features", "a b", "it's", ""])
            .env("RUSTFLAGS", "-C target-feature=+crt-static");
        assert_eq!(
            cmd.command_line(),
            "RUSTFLAGS='-C target-feature=+crt-static' cargo build --features 'a b' 'it'\\''s' ''"
        );
    }

    #[test]
    fn capture_returns_stdout_and_checks_status() {
        let ui = Ui::default();
        let out = Cmd::new("echo", "sh").args(["-c", "echo hello; echo noise >&2"]);
        assert_eq!(out.capture(&ui).unwrap(), "hello\n");

        let err = Cmd::new("failing step", "sh")
            .args(["-c", "echo first >&2; echo last >&2; exit 3"])
            .capture(&ui)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("failing step failed: exited with status 3"),
            "{text}"
        );
        assert!(text.contains("| first\n  | last"), "{text}");
    }

    #[test]
    fn spawn_failure_is_distinct_from_exit_failure() {
        let err = Cmd::new("missing tool", "/nonexistent/tool")
            .capture(&Ui::default())
            .unwrap_err();
        assert!(matches!(err, ExecError::Spawn { .. }), "{err:?}");

        let err = Cmd::new("killed", "sh")
            .args(["-c", "kill -9 $$"])
            .capture(&Ui::default())
            .unwrap_err();
        assert!(err.to_string().contains("was killed by signal 9"), "{err}");
    }

    #[test]
    fn watched_lines_are_kept_from_the_whole_output_in_order() {
        // 300 lines of noise around the first error, on both streams; the tail alone (20
        // lines) would have lost it.
        let script = "echo 'configure: error: first' ; i=0; while [ $i -lt 300 ]; do \
                      echo \"noise $i\" >&2; i=$((i+1)); done; echo 'late error: x' >&2; \
                      i=0; while [ $i -lt 260 ]; do echo \"error: $i\" >&2; i=$((i+1)); done; exit 2";
        let err = Cmd::new("watched", "sh")
            .args(["-c", script])
            .watch(["error:"])
            .run(&Ui::new(0, true, crate::ui::ColorChoice::Never))
            .unwrap_err();
        let ExecError::Failed { noted, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(noted[0], "configure: error: first");
        assert_eq!(noted[1], "late error: x");
        assert_eq!(noted.len(), NOTED_HEAD + 1 + NOTED_END);
        assert_eq!(noted[NOTED_HEAD], "… (62 more)");
        assert_eq!(noted.last().map(String::as_str), Some("error: 259"));
        // A caller that reads stdout itself gets its stdout unwatched.
        let err = Cmd::new("streamed", "sh")
            .args(["-c", "echo 'error: out'; echo 'error: err' >&2; exit 1"])
            .watch(["error:"])
            .stream(&Ui::default(), &mut |_| {})
            .unwrap_err();
        let ExecError::Failed { noted, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(&noted[..], ["error: err"]);
    }

    #[test]
    fn stream_hands_over_lines_in_order() {
        let mut seen = Vec::new();
        Cmd::new("printer", "sh")
            .args(["-c", "printf 'a\\nb\\nc\\n'"])
            .stream(&Ui::default(), &mut |l| seen.push(l.to_string()))
            .unwrap();
        assert_eq!(seen, ["a", "b", "c"]);
    }
}
