#!/usr/bin/python3
"""The real mimalloc-bench programs under glibc, mimalloc, jemalloc, tcmalloc
(LD_PRELOAD) and memcg-run, interleaved, with medians, ratios, geometric
means and peak RSS (docs/benchmarks.md, "mimalloc-bench suite").

    mimalloc_bench.py --suite DIR [--build DIR] [--runs N] [--rows A,B,...]
                      [--allocators glibc,mimalloc,...] [--memcg-run PATH]
                      [--procs N] [--list]

DIR is a checkout of https://github.com/daanx/mimalloc-bench (kept outside
this repository: it carries none of that code). The programs are built from
DIR/bench into --build (default DIR/out/memcg-suite) by a CMake file this
script writes there, listing only the programs below (the suite's own
CMakeLists also wants sources it downloads). Each row runs with the
arguments of the suite's bench.sh, with procs = --procs (default: the
number of CPUs): rows ending in 1T use 1 thread, NT rows use procs.

Every (row, allocator) pair runs --runs times (default 3); the order of the
allocators is shuffled per row and run, so drift spreads over all of them.
Time is wall-clock seconds, read from a monotonic clock around each run
(GNU time's %e has a resolution of 10 ms, too coarse for mstress), and peak
RSS is the maximum resident set size from GNU time (/usr/bin/time -f "%M",
whose own start is in every allocator's time alike). Rows that run for a fixed
time (larson, rptest, xmalloc-test, glibc-thread) report their own rate;
their time is the suite's relative time, computed from the output as
bench.sh does. The table gives each
allocator's median time, memcg-run's cost relative to mimalloc and to the
row's best peer, and memcg-run's peak RSS relative to glibc's. Exit status
1 if a program fails under some allocator (its output is printed).

Allocator "memcg" is memcg-run's default mode (the process tree's shared
counters); "memcg-pp" is `memcg-run --per-process`. With both, the memcg/pp
column is what the process tree costs (issue target: at most 1.05 on larson
and xmalloc), e.g. --rows larsonNT,xmalloc-testNT --allocators memcg,memcg-pp.
"""
import argparse
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

LIBDIR = "/usr/lib/x86_64-linux-gnu"
PRELOADS = {
    "glibc": None,
    "mimalloc": LIBDIR + "/libmimalloc.so.2",
    "jemalloc": LIBDIR + "/libjemalloc.so.2",
    "tcmalloc": LIBDIR + "/libtcmalloc_minimal.so.4",
}

# The suite's programs: target -> sources (relative to DIR/bench) and build
# settings, as in the suite's bench/CMakeLists.txt.
PROGRAMS = {
    "cfrac": dict(lang="C", sources=["cfrac/" + s for s in (
        "cfrac.c pops.c pconst.c pio.c pabs.c pneg.c pcmp.c podd.c phalf.c padd.c psub.c pmul.c pdivmod.c "
        "psqrt.c ppowmod.c atop.c ptoa.c itop.c utop.c ptou.c errorp.c pfloat.c pidiv.c pimod.c picmp.c "
        "primes.c pcfrac.c pgcd.c").split()], defs=["NOMEMOPT=1"], opts=["-std=gnu89"], libs=["m"]),
    "espresso": dict(lang="C", sources=["espresso/" + s for s in (
        "cofactor.c cols.c compl.c contain.c cubestr.c cvrin.c cvrm.c cvrmisc.c cvrout.c dominate.c equiv.c "
        "espresso.c essen.c exact.c expand.c gasp.c getopt.c gimpel.c globals.c hack.c indep.c irred.c main.c "
        "map.c matrix.c mincov.c opo.c pair.c part.c primes.c reduce.c rows.c set.c setc.c sharp.c "
        "sminterf.c solution.c sparse.c unate.c utility.c verify.c").split()], opts=["-std=gnu89"], libs=["m"]),
    "barnes": dict(lang="C", sources=["barnes/" + s for s in "code.c code_io.c load.c grav.c getparam.c util.c".split()],
                   opts=["-std=gnu89"], libs=["m"]),
    "larson": dict(sources=["larson/larson.cpp"], defs=["CPP=1"], libs=["pthread"]),
    "larson-sized": dict(sources=["larson/larson.cpp"], defs=["CPP=1", "SIZED=1"], opts=["-fsized-deallocation"],
                         libs=["pthread"]),
    "alloc-test": dict(sources=["alloc-test/test_common.cpp", "alloc-test/allocator_tester.cpp"], defs=["BENCH=4"],
                       libs=["pthread"]),
    "cache-scratch": dict(sources=["cache-scratch/cache-scratch.cpp"], libs=["pthread"]),
    "cache-thrash": dict(sources=["cache-thrash/cache-thrash.cpp"], libs=["pthread"]),
    "xmalloc-test": dict(lang="C", sources=["xmalloc-test/xmalloc-test.c"], defs=["USE_MALLOC", "SYS_MULTI_THREAD=1"],
                         libs=["pthread"]),
    "malloc-large": dict(sources=["malloc-large/malloc-large.cpp"], libs=["pthread"]),
    "mstress": dict(lang="C", sources=["mstress/mstress.c"], libs=["pthread"]),
    "mleak": dict(lang="C", sources=["mleak/mleak.c"], libs=["pthread"]),
    "rptest": dict(lang="C", sources=["rptest/rptest.c", "rptest/thread.c", "rptest/timer.c"], libs=["pthread", "m"]),
    "glibc-simple": dict(lang="C", sources=["glibc-bench/bench-malloc-simple.c"], libs=["pthread"]),
    "glibc-thread": dict(lang="C", sources=["glibc-bench/bench-malloc-thread.c"], libs=["pthread"]),
}


def rows(procs):
    """(row name, program, arguments): the suite's bench.sh arguments; an
    argument "<FILE" is the program's standard input (else /dev/null)."""
    p = str(procs)
    out = [
        ("cfrac", "cfrac", ["17545186520507317056371138836327483792789528"]),
        ("espresso", "espresso", ["{suite}/bench/espresso/largest.espresso"]),
        ("barnes", "barnes", ["<{suite}/bench/barnes/input"]),
        ("alloc-test1T", "alloc-test", ["1"]),
        ("alloc-testNT", "alloc-test", [p]),
        ("larsonNT", "larson", "5 8 1000 5000 100 4141".split() + [p]),
        ("larsonNT-sized", "larson-sized", "5 8 1000 5000 100 4141".split() + [p]),
        ("xmalloc-test1T", "xmalloc-test", ["-w", "1", "-t", "5", "-s", "64"]),
        ("xmalloc-testNT", "xmalloc-test", ["-w", p, "-t", "5", "-s", "64"]),
        ("cache-thrash1T", "cache-thrash", ["1", "1000", "1", "2000000", p]),
        ("cache-thrashNT", "cache-thrash", [p, "1000", "1", "2000000", p]),
        ("cache-scratch1T", "cache-scratch", ["1", "1000", "1", "2000000", p]),
        ("cache-scratchNT", "cache-scratch", [p, "1000", "1", "2000000", p]),
        ("malloc-large", "malloc-large", []),
        ("mstress1T", "mstress", ["1", "50", "25"]),
        ("mstressNT", "mstress", [p, "50", "25"]),
        ("mleak10", "mleak", ["5"]),
        ("rptestNT", "rptest", [p, "0", "1", "2", "500", "1000", "100", "8", "16000"]),
        ("glibc-simple", "glibc-simple", []),
        ("glibc-thread1T", "glibc-thread", ["1"]),
        ("glibc-threadNT", "glibc-thread", [p]),
    ]
    return out


# Rows that run for a fixed time and report their own rate: their "time" is
# the suite's relative time (bench.sh's fixups), computed from the output.
def relative_time(row, out):
    def num(pattern):
        m = re.search(pattern, out, re.M)
        return float(m.group(1)) if m else None
    if row.startswith("larson"):
        return num(r" time: ([0-9.]+)")
    if row.startswith("rptest"):
        ops = num(r"\.\.\.([0-9]+) memory ops")
        return 2000000.0 / ops if ops else None
    if row.startswith("xmalloc"):
        return num(r"^rtime: ([0-9.]+)")
    if row.startswith("glibc-thread"):
        ops = num(r"^([0-9.]+)")
        return 1e9 / ops if ops else None
    return None


FIXED_TIME = ("larson", "rptest", "xmalloc", "glibc-thread")


def write_cmake(build):
    lines = ["cmake_minimum_required(VERSION 3.13)", "project(memcg_mimalloc_suite C CXX)",
             "set(CMAKE_CXX_STANDARD 17)", "set(CMAKE_BUILD_TYPE Release)",
             'string(APPEND CMAKE_C_FLAGS " -w")', 'string(APPEND CMAKE_CXX_FLAGS " -w")']
    for name, p in PROGRAMS.items():
        srcs = " ".join("${SUITE}/bench/" + s for s in p["sources"])
        lines.append("add_executable(%s %s)" % (name, srcs))
        dirs = sorted({os.path.dirname(s) for s in p["sources"]})
        lines.append("target_include_directories(%s PRIVATE %s)" % (name, " ".join("${SUITE}/bench/" + d for d in dirs)))
        if p.get("defs"):
            lines.append("target_compile_definitions(%s PRIVATE %s)" % (name, " ".join(p["defs"])))
        if p.get("opts"):
            lines.append("target_compile_options(%s PRIVATE %s)" % (name, " ".join(p["opts"])))
        if p.get("libs"):
            lines.append("target_link_libraries(%s %s)" % (name, " ".join(p["libs"])))
    src = os.path.join(build, "src")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return src


def build_suite(suite, build):
    src = write_cmake(build)
    out = os.path.join(build, "bin")
    subprocess.run(["cmake", "-S", src, "-B", out, "-G", "Ninja", "-DSUITE=" + os.path.abspath(suite)], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", out], check=True, stdout=subprocess.DEVNULL)
    return out


# memcg-run's modes: "memcg" is the default (the process tree's shared
# counters), "memcg-pp" each process on its own (--per-process); the second
# is never a peer, it measures what the tree costs (memcg/pp column).
MEMCG_MODES = {"memcg": [], "memcg-pp": ["--per-process"]}


def run_once(row, cmd, alloc, memcg_run, cwd):
    """(seconds, peak RSS KiB, failure text or None); the relative time for
    fixed-time rows."""
    stdin = "/dev/null"
    if cmd and cmd[-1].startswith("<"):
        stdin = cmd[-1][1:]
        cmd = cmd[:-1]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t, open(stdin) as inp:
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        full = ["/usr/bin/time", "-f", "%e %M", "-o", t.name]
        if alloc in MEMCG_MODES:
            full += [memcg_run] + MEMCG_MODES[alloc] + ["--"]
        elif PRELOADS[alloc]:
            env["LD_PRELOAD"] = PRELOADS[alloc]
        # Wall time from a monotonic clock around the run, not GNU time's %e
        # (10 ms resolution: mstress's 20 ms rows read 0.01 or 0.02).
        start = time.perf_counter()
        r = subprocess.run(full + cmd, cwd=cwd, env=env, stdin=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, errors="replace")
        seconds = time.perf_counter() - start
        fields = t.read().split()
        if r.returncode != 0 or len(fields) < 2:
            return None, None, "exit %d: %s" % (r.returncode, r.stderr[-2000:])
        if row.startswith(FIXED_TIME):
            seconds = relative_time(row, r.stdout + r.stderr)
            if seconds is None:
                return None, None, "no rate in the output: %s" % (r.stdout[-500:] + r.stderr[-500:])
        return seconds, int(fields[-1]), None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", required=True, help="a checkout of daanx/mimalloc-bench")
    ap.add_argument("--build", help="build directory (default SUITE/out/memcg-suite)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rows", help="comma-separated row names (default: all)")
    ap.add_argument("--allocators", default="glibc,mimalloc,jemalloc,tcmalloc,memcg")
    ap.add_argument("--memcg-run", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                        "../../build/release/tools/memcg-run/memcg-run"))
    ap.add_argument("--procs", type=int, default=os.cpu_count())
    ap.add_argument("--list", action="store_true", help="print the rows and their arguments, then exit")
    a = ap.parse_args()
    table = rows(a.procs)
    if a.rows:
        want = a.rows.split(",")
        unknown = [w for w in want if w not in [r[0] for r in table]]
        if unknown:
            sys.exit("unknown rows: %s (see --list)" % ",".join(unknown))
        table = [r for r in table if r[0] in want]
    if a.list:
        for name, prog, args in table:
            print("%-18s %s %s" % (name, prog, " ".join(args).replace("{suite}", "SUITE")))
        return 0
    allocs = a.allocators.split(",")
    for al in allocs:
        if al not in MEMCG_MODES and al not in PRELOADS:
            sys.exit("unknown allocator " + al)
        if al in PRELOADS and PRELOADS[al] and not os.path.exists(PRELOADS[al]):
            sys.exit("%s: %s not found (scripts/deps.sh installs it)" % (al, PRELOADS[al]))
    if any(al in MEMCG_MODES for al in allocs) and not os.access(a.memcg_run, os.X_OK):
        sys.exit("memcg-run not found at %s (--memcg-run)" % a.memcg_run)
    build = a.build or os.path.join(a.suite, "out", "memcg-suite")
    bindir = build_suite(a.suite, build)

    times = {}  # (row, alloc) -> [seconds]
    rss = {}
    failed = False
    rng = random.Random(1)
    for run in range(a.runs):
        for name, prog, args in table:
            order = allocs[:]
            rng.shuffle(order)
            for al in order:
                cmd = [os.path.join(bindir, prog)] + [x.format(suite=os.path.abspath(a.suite)) for x in args]
                s, kb, err = run_once(name, cmd, al, os.path.abspath(a.memcg_run), bindir)
                if err:
                    print("%s under %s failed: %s" % (name, al, err), file=sys.stderr)
                    failed = True
                    continue
                times.setdefault((name, al), []).append(s)
                rss.setdefault((name, al), []).append(kb)
        print("run %d of %d done" % (run + 1, a.runs), file=sys.stderr)

    med = {k: statistics.median(v) for k, v in times.items()}
    mrss = {k: statistics.median(v) for k, v in rss.items()}
    peers = [al for al in allocs if al not in MEMCG_MODES]
    both = "memcg" in allocs and "memcg-pp" in allocs
    hdr = "%-18s" % "row" + "".join("%10s" % al for al in allocs)
    if "memcg" in allocs:
        hdr += "  memcg/mi  memcg/best  best       rss memcg/glibc"
    if both:
        hdr += "  memcg/pp"
    print("mimalloc-bench, %d runs each, medians of wall seconds (the suite's relative time for %s rows); procs %d"
          % (a.runs, "/".join(FIXED_TIME), a.procs))
    print(hdr)
    r_mi, r_best, r_glibc, r_rss, r_pp = [], [], [], [], []
    for name, _, _ in table:
        line = "%-18s" % name
        for al in allocs:
            v = med.get((name, al))
            line += "%10s" % ("%.3f" % v if v is not None else "fail")
        m = med.get((name, "memcg"))
        if m is not None and peers:
            pv = {al: med[(name, al)] for al in peers if (name, al) in med}
            best = min(pv, key=pv.get) if pv else None
            mi = m / pv["mimalloc"] if "mimalloc" in pv and pv["mimalloc"] > 0 else None
            bb = m / pv[best] if best and pv[best] > 0 else None
            rg = mrss[(name, "memcg")] / mrss[(name, "glibc")] if (name, "glibc") in mrss else None
            if "glibc" in pv and pv["glibc"] > 0:
                r_glibc.append(m / pv["glibc"])
            r_mi.append(mi)
            r_best.append(bb)
            r_rss.append(rg)
            line += "  %8s  %10s  %-9s  %8s" % ("%.2f" % mi if mi else "-", "%.2f" % bb if bb else "-", best or "-",
                                                "%.2f" % rg if rg else "-")
        pp = med.get((name, "memcg-pp"))
        if both and m is not None and pp:
            r_pp.append(m / pp)
            line += "  %8.3f" % (m / pp)
        print(line)
    if "memcg" in allocs:
        print("geometric mean of memcg-run's cost: %.2fx mimalloc, %.2fx the best peer, %.2fx glibc; peak RSS %.2fx glibc"
              % (geomean(r_mi), geomean(r_best), geomean(r_glibc), geomean(r_rss)))
    if "glibc" in allocs:
        # Every allocator's peak RSS against glibc's, over the rows both ran:
        # what the peers themselves pay for their own metadata and code.
        parts = []
        for al in allocs:
            if al == "glibc":
                continue
            rs = [mrss[(n, al)] / mrss[(n, "glibc")] for n, _, _ in table
                  if (n, al) in mrss and (n, "glibc") in mrss and mrss[(n, "glibc")] > 0]
            if rs:
                parts.append("%s %.2fx" % (al, geomean(rs)))
        print("geometric mean of peak RSS against glibc's: " + ", ".join(parts))
    if both:
        print("geometric mean of the process tree's cost against --per-process (memcg/pp): %.3fx" % geomean(r_pp))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
