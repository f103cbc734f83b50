//! What a run of the binary costs, watched from outside while it runs: wall time, CPU time,
//! peak resident memory (VmHWM from `/proc/<pid>/status`, which only grows, so polling misses
//! at most the growth of the last moment before exit) and the bytes it holds under its TMPDIR.
//! These bound the hostile-input tests: a limit is generous, and no verdict depends on how
//! often the process is looked at.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use super::run::{Ran, Run};

/// The peak resident memory (VmHWM, KiB) of `child` while it runs, and its output. VmHWM only
/// grows, so reading it every few milliseconds misses at most the growth of the last moment
/// before exit.
pub fn run_measured(mut child: std::process::Child) -> (Ran, u64, Duration) {
    let started = Instant::now();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(kib) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        }) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (Ran::of(output), peak, elapsed)
}

/// What a run cost: its wall time, its peak resident memory (VmHWM, polled from
/// `/proc/<pid>/status`) and the most bytes it held at once under its own TMPDIR.
pub struct Cost {
    /// Wall time, start to exit.
    pub wall: Duration,
    /// User and system CPU time: what the work cost, whatever else the machine is doing.
    pub cpu: Duration,
    /// The largest VmHWM seen, in KiB.
    pub peak_rss_kib: u64,
    /// The most bytes seen under its TMPDIR at one look.
    pub peak_tmp_bytes: u64,
}

/// Runs `run` with TMPDIR at `tmp`, killing it (and failing) past `limit`.
pub fn measured(run: Run, tmp: &Path, limit: Duration) -> (Ran, Cost) {
    fs::create_dir_all(tmp).unwrap();
    let start = Instant::now();
    let mut child = run.env("TMPDIR", tmp).spawn();
    let status_path = format!("/proc/{}/status", child.id());
    // Read the pipes while polling, so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut s).unwrap();
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut s).unwrap();
        s
    });
    let (mut peak_rss_kib, mut peak_tmp_bytes, mut cpu_ticks) = (0, 0, 0);
    let stat_path = format!("/proc/{}/stat", child.id());
    let status = loop {
        if let Ok(text) = fs::read_to_string(&status_path)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_rss_kib = peak_rss_kib.max(kib);
        }
        peak_tmp_bytes = peak_tmp_bytes.max(bytes_under(tmp));
        // utime and stime, the 14th and 15th fields, after the parenthesised command name.
        if let Ok(text) = fs::read_to_string(&stat_path)
            && let Some((_, rest)) = text.rsplit_once(')')
        {
            let fields: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            cpu_ticks = cpu_ticks.max(fields.iter().sum());
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ran = Ran::of(std::process::Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    });
    let cost = Cost {
        wall: start.elapsed(),
        // Clock ticks are 1/100 s on Linux.
        cpu: Duration::from_millis(cpu_ticks * 10),
        peak_rss_kib,
        peak_tmp_bytes,
    };
    (ran, cost)
}

/// The bytes of every file below `dir` (allocated blocks: a sparse file counts what it holds).
pub fn bytes_under(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            total += bytes_under(&entry.path());
        } else {
            total += meta.blocks() * 512;
        }
    }
    total
}
