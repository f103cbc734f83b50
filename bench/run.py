#!/usr/bin/env python3
"""Packaging benchmark: static-image against its peers and the machine's floor, in one run.

    python3 bench/run.py [--runs N] [--sizes 1,20,200]

For each input (a real static ELF padded with bytes of the machine's own binaries to ~1, ~20
and ~200 MB: packaging cost depends on bytes, not on what they do) it runs, alternating
A B C … A B C … so drift hits every tool alike:

  static-image cold   `static-image package` into a new oci-archive, with an empty cache
  static-image again  the same command again, nothing changed (same output, same cache): the
                      run is answered from the last one's record
  again, cache only   again, with a label that changes every run: the record cannot answer,
                      the layers come from the layer cache
  static-image zstd   the cold run with `--compression zstd` (level 3, multi-threaded)
  static-image none   the cold run with `--compression none`: what buildah writes
  buildah             from scratch, copy binary + CA bundle, config --entrypoint, commit to
                      an oci-archive (vfs storage, no daemon)
  umoci               init, new, insert binary + CA bundle, config --entrypoint
  floor               one streaming pass doing what a layer must: read, gzip at the same
                      level with the same backend, sha256 of both streams, write
                      (examples/floor.rs)

and prints medians with the min–max spread, user+sys CPU, peak RSS (of the largest process of
a run), output size, and ratios to the floor and to each peer.

Before them, the no-op builds: `static-image build` of the Rust and Go fixtures, built once, against
the bare `cargo build` / `go build` with the flags static-image's plan gives them (the command
it runs), alternating, `--noop-runs` times each.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CA = "/etc/ssl/certs/ca-certificates.crt"


# A child forked from Python counts Python's own pages in its peak RSS; GNU time forks from a
# small C program, so its %M is the measured program's.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(cmd, env=None):
    """Runs one command; returns (wall s, user+sys s, peak RSS KiB or None)."""
    rss_file = tempfile.NamedTemporaryFile(prefix="rss.", delete=False)
    rss_file.close()
    wrapped = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + cmd if GNU_TIME else cmd
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    with open(rss_file.name) as f:
        text = f.read().strip().splitlines()
    os.unlink(rss_file.name)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    rss = int(text[-1]) if GNU_TIME and text and text[-1].isdigit() else None
    return wall, usage.ru_utime + usage.ru_stime, rss


def run_all(cmds, env=None):
    """Runs commands in sequence as one measured step."""
    total = [0.0, 0.0, None]
    for cmd in cmds:
        wall, cpu, rss = run(cmd, env)
        total[0] += wall
        total[1] += cpu
        if rss is not None:
            total[2] = max(total[2] or 0, rss)
    return tuple(total)


def rss_mb(values):
    known = [v for v in values if v is not None]
    return f"{max(known) / 1024:.1f}" if known else "-"


def size_of(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def make_input(work, megabytes, seed_elf):
    """A static ELF followed by bytes of this machine's binaries, `megabytes` MB in all."""
    path = os.path.join(work, f"app-{megabytes}mb")
    want = megabytes * 1_000_000
    with open(path, "wb") as out:
        with open(seed_elf, "rb") as f:
            out.write(f.read())
        sources = sorted(
            os.path.join(d, f)
            for root in ("/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib")
            for d, _, fs in os.walk(root)
            for f in fs
        )
        for src in sources:
            if out.tell() >= want:
                break
            try:
                if os.path.islink(src) or not os.path.isfile(src):
                    continue
                with open(src, "rb") as f:
                    out.write(f.read(want - out.tell()))
            except OSError:
                continue
    os.chmod(path, 0o755)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per tool and input (default 5)")
    parser.add_argument("--sizes", default="1,20,200",
                        help="input sizes in MB (default 1,20,200; empty skips packaging)")
    parser.add_argument("--noop-runs", type=int, default=40,
                        help="runs per command of the no-op builds (default 40; 0 skips them)")
    args = parser.parse_args()

    print("building static-image and the floor (release)…", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "static-image",
                    "--example", "floor"], cwd=REPO, check=True)
    tool = os.path.join(REPO, "target/release/static-image")
    floor = os.path.join(REPO, "target/release/examples/floor")
    have = {name: shutil.which(name) is not None for name in ("buildah", "umoci", "musl-gcc")}
    if not have["musl-gcc"]:
        sys.exit("musl-gcc is needed to make the input binaries (apt-get install musl-tools)")

    work = tempfile.mkdtemp(prefix="static-image-bench.")
    seed_c = os.path.join(work, "seed.c")
    with open(seed_c, "w") as f:
        f.write('#include <stdio.h>\nint main(void){puts("hello");return 0;}\n')
    seed = os.path.join(work, "seed")
    subprocess.run(["musl-gcc", "-static", "-O2", "-o", seed, seed_c], check=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")

    def static_image_cold(inp, out):
        cache = tempfile.mkdtemp(dir=work)
        result = run([tool, "-q", "package", inp, "--ca-bundle", CA, "-o", f"oci-archive:{out}"],
                     dict(env, STATIC_IMAGE_CACHE_DIR=cache))
        shutil.rmtree(cache)
        return result

    # Signing: the same cold package with a key (signatures and provenance as referrers), and
    # the no-op replay with it (the key file's stamp joins the run record's).
    key = os.path.join(work, "bench")
    subprocess.run([tool, "-q", "keygen", "-o", key], check=True)

    def static_image_signed(inp, out):
        cache = tempfile.mkdtemp(dir=work)
        result = run([tool, "-q", "package", inp, "--ca-bundle", CA, "--sign-key", key + ".key",
                      "-o", f"oci-archive:{out}"], dict(env, STATIC_IMAGE_CACHE_DIR=cache))
        shutil.rmtree(cache)
        return result

    def static_image_signed_again(inp, out):
        cache = os.path.join(work, "signed-cache")
        cmd = [tool, "-q", "package", inp, "--ca-bundle", CA, "--sign-key", key + ".key",
               "-o", f"oci:{out}"]
        warm_env = dict(env, STATIC_IMAGE_CACHE_DIR=cache)
        if not os.path.exists(out):
            run(cmd, warm_env)  # the first build, not measured
        return run(cmd, warm_env)

    def static_image_compressed(kind):
        def cold(inp, out):
            cache = tempfile.mkdtemp(dir=work)
            result = run([tool, "-q", "package", inp, "--ca-bundle", CA, "--compression", kind,
                          "-o", f"oci-archive:{out}"], dict(env, STATIC_IMAGE_CACHE_DIR=cache))
            shutil.rmtree(cache)
            return result
        return cold

    def static_image_again(inp, out):
        cache = os.path.join(work, "warm-cache")
        cmd = [tool, "-q", "package", inp, "--ca-bundle", CA, "-o", f"oci:{out}"]
        warm_env = dict(env, STATIC_IMAGE_CACHE_DIR=cache)
        if not os.path.exists(out):
            run(cmd, warm_env)  # the first build, not measured
        return run(cmd, warm_env)

    def static_image_cache_only(inp, out):
        cache = os.path.join(work, "cache-only-cache")
        warm_env = dict(env, STATIC_IMAGE_CACHE_DIR=cache)
        label = ["--label", f"run={time.monotonic_ns()}"]
        cmd = [tool, "-q", "package", inp, "--ca-bundle", CA, "-o", f"oci:{out}"]
        if not os.path.exists(out):
            run(cmd + label, warm_env)  # the first build, not measured
        return run(cmd + ["--label", f"run={time.monotonic_ns()}"], warm_env)

    def buildah(inp, out):
        b = ["buildah", "--storage-driver", "vfs"]
        name = f"bench-{os.getpid()}"
        steps = [
            b + ["from", "--name", name, "scratch"],
            b + ["copy", name, inp, "/app/app"],
            b + ["copy", name, CA, "/etc/ssl/certs/ca-certificates.crt"],
            b + ["config", "--entrypoint", '["/app/app"]', name],
            b + ["commit", "-q", "--rm", name, f"oci-archive:{out}"],
        ]
        return run_all(steps)

    def umoci(inp, out):
        steps = [
            ["umoci", "init", "--layout", out],
            ["umoci", "new", "--image", f"{out}:t"],
            ["umoci", "insert", "--image", f"{out}:t", inp, "/app/app"],
            ["umoci", "insert", "--image", f"{out}:t", CA, "/etc/ssl/certs/ca-certificates.crt"],
            ["umoci", "config", "--image", f"{out}:t", "--config.entrypoint", "/app/app"],
        ]
        return run_all(steps)

    def floor_pass(inp, out):
        return run([floor, inp, out])

    # `none` writes what buildah writes (uncompressed layers): the like-for-like comparison.
    tools = [("static-image cold", static_image_cold), ("static-image again", static_image_again),
             ("again, cache only", static_image_cache_only),
             ("signed cold", static_image_signed), ("signed again", static_image_signed_again),
             ("static-image zstd", static_image_compressed("zstd")),
             ("static-image none", static_image_compressed("none"))]
    tools += [(n, f) for n, f, ok in (("buildah", buildah, have["buildah"]),
                                      ("umoci", umoci, have["umoci"])) if ok]
    tools.append(("floor", floor_pass))
    missing = [n for n in ("buildah", "umoci") if not have[n]]
    if missing:
        print(f"not installed, left out: {', '.join(missing)}", file=sys.stderr)

    # First, on a quiet disk: the packaging runs below leave writeback behind that slows the
    # ~25 ms no-op builds unevenly (1.06× against 1.29× the bare cargo, run after them).
    if args.noop_runs > 0:
        os.sync()
        noop_table(tool, work, args.noop_runs)

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = {}
    for mb in sizes:
        inp = make_input(work, mb, seed)
        real_mb = os.path.getsize(inp) / 1e6
        print(f"input {real_mb:.1f} MB: {args.runs} rounds of {len(tools)} tools…", file=sys.stderr)
        for rnd in range(args.runs):
            for name, fn in tools:
                out = os.path.join(work, f"out-{name.replace(' ', '-')}-{mb}")
                kept = ("static-image again", "again, cache only", "signed again")
                if name not in kept and os.path.exists(out):
                    shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
                wall, cpu, rss = fn(inp, out)
                entry = results.setdefault((mb, name), {"wall": [], "cpu": [], "rss": []})
                entry["wall"].append(wall)
                entry["cpu"].append(cpu)
                entry["rss"].append(rss)
                entry["size"] = size_of(out)
        results[(mb, "input")] = real_mb

    if sizes:
        print(f"\n{os.cpu_count()} CPUs; {args.runs} runs each, alternating; wall median (min–max)\n")
        head = f"{'input':>8}  {'tool':<19} {'wall s':>8} {'(min–max)':>17} {'cpu s':>7} " \
               f"{'RSS MB':>7} {'out MB':>7} {'×floor':>7} {'×buildah':>9} {'×umoci':>7}"
        print(head)
        print("-" * len(head))
        for mb in sizes:
            med = {n: statistics.median(results[(mb, n)]["wall"]) for n, _ in tools}
            for name, _ in tools:
                r = results[(mb, name)]
                wall = med[name]
                def ratio(other):
                    return f"{med[other] / wall:.1f}×" if other in med else "-"
                spread = f"({min(r['wall']):.3f}–{max(r['wall']):.3f})"
                print(f"{results[(mb, 'input')]:>6.1f}MB  {name:<19} {wall:>8.3f} "
                      f"{spread:>17} "
                      f"{statistics.median(r['cpu']):>7.2f} {rss_mb(r['rss']):>7} "
                      f"{r['size'] / 1e6:>7.1f} {wall / med['floor']:>6.2f}× "
                      f"{ratio('buildah'):>9} {ratio('umoci'):>7}")
            print()
        print("×floor: wall / floor's wall.  ×buildah, ×umoci: how many times faster than that peer.")
    shutil.rmtree(work, ignore_errors=True)


def real_go():
    """The go binary itself: `go` on PATH may be a wrapper that costs its own start-up."""
    go = shutil.which("go")
    if go is None:
        return None
    root = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True).stdout.strip()
    exe = os.path.join(root, "bin", "go")
    return exe if os.access(exe, os.X_OK) else go


def timed(cmd, cwd, env, log):
    """Wall time of `cmd` writing to `log`, as in CI. Not /dev/null: cargo finishes faster when
    its stderr is /dev/null than when it is a file, a pipe or a terminal (~1.5 ms here), and the
    cargo static-image runs always writes to a pipe."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=out, stderr=out)
        return time.perf_counter() - start


def noop_table(tool, work, runs):
    """`static-image build` with nothing to do against the bare compiler's no-op."""
    fixtures = os.path.join(REPO, "tests", "fixtures")
    go = real_go()
    cases = [("rust-hello", "cargo build")]
    if go:
        cases.append(("go-vendor", "go build"))
    else:
        print("go not installed: the Go no-op is left out", file=sys.stderr)
    print(f"\nno-op builds: {runs} runs each, alternating; wall median (min–max) in ms\n")
    head = f"{'fixture':<11} {'command':<20} {'median':>7} {'(min–max)':>15} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for fixture, bare_name in cases:
        project = os.path.join(work, f"noop-{fixture}")
        shutil.copytree(os.path.join(fixtures, fixture), project)
        env = dict(os.environ)
        if go:
            env["PATH"] = os.path.dirname(go) + os.pathsep + env["PATH"]
        # The bare command is the very one the plan runs (same flags, same output), so the two
        # share one up-to-date build and differ only by what static-image adds.
        plan = subprocess.run([tool, "plan", "--json"], cwd=project, env=env, check=True,
                              capture_output=True, text=True)
        [step] = json.loads(plan.stdout)[0]["steps"]
        bare = [step["program"]] + step["args"]
        env.update(step["env"])
        ours = [tool, "-q", "build"]
        for _ in range(3):  # build, then settle: the first no-ops write what later ones reuse
            subprocess.run(ours, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
            subprocess.run(bare, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        time.sleep(1.1)  # a record is written only for inputs older than a second
        subprocess.run(ours, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
        log = os.path.join(work, "noop.log")
        times = {"static-image build": [], bare_name: []}
        for _ in range(runs):
            times["static-image build"].append(timed(ours, project, env, log))
            times[bare_name].append(timed(bare, project, env, log))
        med = {k: statistics.median(v) for k, v in times.items()}
        for name, values in times.items():
            print(f"{fixture:<11} {name:<20} {med[name] * 1000:>7.1f} "
                  f"{f'({min(values) * 1000:.1f}–{max(values) * 1000:.1f})':>15} "
                  f"{med[name] / med[bare_name]:>5.2f}×")
        print()
    print("ratio: wall / the bare command's wall (the target is 1.1× or less).")


if __name__ == "__main__":
    main()
