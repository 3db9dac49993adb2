#!/usr/bin/python3
"""run_bench.py - polyws next to its peers, side by side in one run, as ratios.

    /usr/bin/python3 bench/run_bench.py --build DIR [--events N] [--reps R]
                                        [--parse-events N] [--json FILE] [--only parse,e2e,replay]

Three tables, each measured on one corpus, on this machine, in this run:

  parse    one corpus of Polygon stocks frames (written once by parse_bench
           --write-corpus), parsed by polyws (pws_parse_frame), simdjson
           on-demand (bench/simdjson_peer, built -O3 -DNDEBUG when Debian's
           libsimdjson-dev is present), cJSON and Node's JSON.parse; each program
           makes an untimed warm pass, then reports best/median/worst of R passes
           on its RESULT line.
  e2e      `polyws mock --rate max --batch 500 --limit N` (the user-facing mock)
           streaming to: a non-parsing socket sink (the mock's capacity),
           libpolyws (e2e_bench's connector client), Node `ws` + JSON.parse and
           Python `websockets` + json.loads (bench/peers/).  Each client is its
           own process: events/s is what it measured (first data message to the
           N-th event), CPU per event and peak RSS come from wait4(), the mock's
           CPU from /proc.  One untimed warm run per client, then R rounds, the
           clients taking turns within a round.
  replay   replay_bench's `polyws replay --speed max` rate into libpolyws.

A peer missing on the machine (no simdjson, no node, no python3-websockets) is
reported as missing, not skipped silently.  The tables print on stdout and go
to --json (default DIR/bench/results.json).  No threshold is asserted: these
machines are shared and noisy; ratios within one run are what to read.
Exit status: 0, or 1 if a polyws program itself failed.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHANNELS = "T.*,Q.*,A.*,AM.*"
KEY = "bench-key"  # the mock accepts any non-empty key
RESULT_RE = re.compile(r"^RESULT (\{.*\})\s*$", re.M)


def results(text):
    """The RESULT {...} lines of a program's output, as dicts."""
    return [json.loads(m.group(1)) for m in RESULT_RE.finditer(text)]


def run_measured(argv, env=None, timeout=300):
    """Runs argv; returns (exit status, stdout, stderr, cpu seconds, peak RSS KiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.01)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                ru.ru_utime + ru.ru_stime, ru.ru_maxrss)


def proc_cpu_s(pid):
    """CPU seconds (user + system) of a live process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spread(values):
    return "%.2f-%.2f" % (min(values) / 1e6, max(values) / 1e6)


def node_env():
    env = dict(os.environ)
    paths = [p for p in ("/usr/share/nodejs", "/usr/lib/nodejs") if os.path.isdir(p)]
    if env.get("NODE_PATH"):
        paths.insert(0, env["NODE_PATH"])
    env["NODE_PATH"] = ":".join(paths)
    return env


def have_node_module(mod):
    node = shutil.which("node")
    if not node:
        return False
    r = subprocess.run([node, "-e", "require(%s)" % json.dumps(mod)], env=node_env(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def have_python_module(mod):
    if not os.path.exists("/usr/bin/python3"):
        return False
    r = subprocess.run(["/usr/bin/python3", "-c", "import " + mod], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


# ---------------------------------------------------------------- parse

def bench_parse(build, events, reps):
    parse_bench = os.path.join(build, "bench", "parse_bench")
    corpus = os.path.join(build, "bench", "corpus-%d.jsonl" % events)
    rc, out, err, _, _ = run_measured([parse_bench, "--write-corpus", corpus, "--events", str(events)])
    if rc != 0:
        raise RuntimeError("parse_bench --write-corpus: %s" % (err.strip() or out.strip()))
    size = os.path.getsize(corpus)
    peers = [
        ("polyws", [parse_bench, "--corpus", corpus, "--reps", str(reps), "--only", "polyws"], None, None),
        ("simdjson", [os.path.join(build, "bench", "simdjson_peer"), "--corpus", corpus, "--reps", str(reps)],
         None, "Debian libsimdjson-dev (bench/simdjson_peer not built)"),
        ("cJSON", [parse_bench, "--corpus", corpus, "--reps", str(reps), "--only", "cjson"], None, None),
        ("Node JSON.parse", ["node", os.path.join(HERE, "json_parse_peer.js"), "--corpus", corpus, "--reps",
                             str(reps)], node_env(), "node"),
    ]
    rows = []
    for name, argv, env, need in peers:
        if (argv[0] == "node" and not shutil.which("node")) or (argv[0] != "node" and not os.path.exists(argv[0])):
            rows.append({"parser": name, "missing": need})
            continue
        rc, out, err, _, _ = run_measured(argv, env=env)
        res = results(out)
        if rc != 0 or not res:
            if name == "polyws" or name == "cJSON":
                raise RuntimeError("%s: exit %d: %s" % (name, rc, err.strip()[-500:]))
            rows.append({"parser": name, "missing": "failed: " + (err.strip()[-200:] or "no RESULT line")})
            continue
        r = res[-1]
        r["parser"] = name
        r["events_per_s"] = r["events"] / r["best_s"]
        r["mb_per_s"] = r["bytes"] / r["best_s"] / 1e6
        r["events_per_s_worst"] = r["events"] / r["worst_s"]
        rows.append(r)
    base = next(r for r in rows if r["parser"] == "polyws")
    print("\nparse: %d events in %d frames' corpus, %.0f MB (%s), best of %d after a warm pass"
          % (events, sum(1 for _ in open(corpus)), size / 1e6, os.path.basename(corpus), reps))
    print("| parser | events/s (best) | spread (M/s) | MB/s | polyws is | checksum |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "missing" in r:
            print("| %s | missing: %s | | | | |" % (r["parser"], r["missing"]))
            continue
        r["polyws_ratio"] = base["events_per_s"] / r["events_per_s"]
        print("| %s | %.2fM | %.2f-%.2f | %.0f | %.2fx | %s |"
              % (r["parser"], r["events_per_s"] / 1e6, r["events_per_s_worst"] / 1e6, r["events_per_s"] / 1e6,
                 r["mb_per_s"], r["polyws_ratio"], r.get("checksum", "")))
    os.unlink(corpus)
    return {"events": events, "bytes": size, "reps": reps, "rows": rows}


# ---------------------------------------------------------------- end to end

def start_mock(polyws, events):
    p = subprocess.Popen([polyws, "mock", "--rate", "max", "--batch", "500", "--limit", str(events)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    if len(line) != 2 or line[0] != "listening":
        p.kill()
        raise RuntimeError("polyws mock did not start: %s" % p.stderr.read()[-500:])
    return p, line[1] + "/stocks"


def e2e_clients(build):
    e2e = os.path.join(build, "bench", "e2e_bench")
    node_ok = have_node_module("ws")
    py_ok = have_python_module("websockets")
    return [
        ("sink (no parsing)", lambda url, mp, n: [e2e, "--url", url, "--mock-pid", str(mp), "--only", "socket",
                                                 "--reps", "1", "--result", "--events", str(n)], None, None),
        ("libpolyws", lambda url, mp, n: [e2e, "--url", url, "--mock-pid", str(mp), "--only", "connector",
                                         "--reps", "1", "--result", "--events", str(n)], None, None),
        ("Node ws + JSON.parse", lambda url, mp, n: ["node", os.path.join(HERE, "peers", "node_ws_client.js"), url,
                                                     KEY, CHANNELS, str(n)], node_env(),
         None if node_ok else "node or Debian node-ws"),
        ("Python websockets", lambda url, mp, n: ["/usr/bin/python3",
                                                  os.path.join(HERE, "peers", "python_ws_client.py"), url, KEY,
                                                  CHANNELS, str(n)], None,
         None if py_ok else "Debian python3-websockets"),
    ]


def e2e_run(polyws, argv_of, env, events):
    mock, url = start_mock(polyws, events)
    try:
        m0 = proc_cpu_s(mock.pid)
        rc, out, err, cpu, rss = run_measured(argv_of(url, mock.pid, events), env=env)
        m1 = proc_cpu_s(mock.pid)
    finally:
        mock.terminate()
        try:
            mock.wait(10)
        except subprocess.TimeoutExpired:
            mock.kill()
            mock.wait()
    res = results(out)
    if rc != 0 or not res:
        return None, (err.strip() or out.strip())[-300:]
    return {"events_per_s": float(res[-1]["events_per_s"]), "client_cpu_s": cpu, "rss_kib": rss,
            "mock_cpu_s": m1 - m0}, None


def bench_e2e(build, events, reps):
    polyws = os.path.join(build, "cli", "polyws")
    clients = e2e_clients(build)
    runs = {name: [] for name, _, _, _ in clients}
    failed = {}
    for rnd in range(reps + 1):  # round 0: the untimed warm pass
        for name, argv_of, env, missing in clients:
            if missing or name in failed:
                continue
            r, why = e2e_run(polyws, argv_of, env, events)
            if r is None:
                failed[name] = why
            elif rnd > 0:
                runs[name].append(r)
    print("\ne2e: `polyws mock --rate max --batch 500`, %d events per run, channels %s; "
          "warm run + %d rounds, clients in turn" % (events, CHANNELS, reps))
    print("| client | events/s (best) | spread (M/s) | client CPU us/event | mock CPU us/event | peak RSS MB |"
          " CPU vs Node |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    node_cpu = None
    for name, _, _, missing in clients:
        rs = runs[name]
        if rs:
            cpu = statistics.median(r["client_cpu_s"] for r in rs) * 1e6 / events
            if name.startswith("Node"):
                node_cpu = cpu
    for name, _, _, missing in clients:
        rs = runs[name]
        if missing or name in failed or not rs:
            why = "missing: " + missing if missing else "failed: " + failed.get(name, "no runs")
            print("| %s | %s | | | | | |" % (name, why))
            rows.append({"client": name, "missing" if missing else "failed": why})
            continue
        rates = [r["events_per_s"] for r in rs]
        cpu = statistics.median(r["client_cpu_s"] for r in rs) * 1e6 / events
        mock = statistics.median(r["mock_cpu_s"] for r in rs) * 1e6 / events
        rss = max(r["rss_kib"] for r in rs) / 1024
        ratio = "%.2fx" % (cpu / node_cpu) if node_cpu else ""
        print("| %s | %.2fM | %s | %.2f | %.2f | %.1f | %s |"
              % (name, max(rates) / 1e6, spread(rates), cpu, mock, rss, ratio))
        rows.append({"client": name, "events_per_s_best": max(rates), "events_per_s_median": statistics.median(rates),
                     "events_per_s_min": min(rates), "client_cpu_us_per_event": cpu,
                     "mock_cpu_us_per_event": mock, "peak_rss_mb": rss, "runs": rs})
    if any(n in failed for n in ("sink (no parsing)", "libpolyws")):
        raise RuntimeError("e2e: " + "; ".join("%s: %s" % kv for kv in failed.items()))
    return {"events": events, "reps": reps, "rows": rows}


# ---------------------------------------------------------------- replay

def bench_replay(build, events, reps):
    rc, out, err, _, _ = run_measured([os.path.join(build, "bench", "replay_bench"), "--events", str(events),
                                       "--reps", str(reps)], timeout=600)
    m = re.search(r"^replay: (\d+) events/s", out, re.M)
    if rc != 0 or not m:
        raise RuntimeError("replay_bench: exit %d: %s" % (rc, err.strip()[-300:]))
    print("\nreplay: `polyws replay --speed max` into libpolyws, %d events, best of %d: %.2fM events/s"
          % (events, reps, int(m.group(1)) / 1e6))
    return {"events": events, "reps": reps, "events_per_s_best": int(m.group(1))}


# ---------------------------------------------------------------- main

def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("node") else "missing"
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(), "node": node,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="a Release build directory")
    ap.add_argument("--events", type=int, default=1000000, help="events per end-to-end run (default 1M)")
    ap.add_argument("--parse-events", type=int, default=1000000, help="events in the parse corpus (default 1M)")
    ap.add_argument("--reps", type=int, default=3, help="timed passes or rounds (default 3)")
    ap.add_argument("--json", help="where the results go (default BUILD/bench/results.json)")
    ap.add_argument("--only", default="parse,e2e,replay", help="comma-separated: parse, e2e, replay")
    a = ap.parse_args()
    if a.events <= 0 or a.parse_events <= 0 or a.reps <= 0:
        ap.error("--events, --parse-events and --reps must be positive")
    only = set(a.only.split(","))
    if not only <= {"parse", "e2e", "replay"}:
        ap.error("--only takes parse, e2e, replay")
    m = machine()
    print("polyws bench: %s, %d CPUs, Linux %s, node %s, %s" % (m["cpu"], m["cpus"], m["kernel"], m["node"],
                                                               m["date"]))
    out = {"machine": m}
    try:
        if "parse" in only:
            out["parse"] = bench_parse(a.build, a.parse_events, a.reps)
        if "e2e" in only:
            out["e2e"] = bench_e2e(a.build, a.events, a.reps)
        if "replay" in only:
            out["replay"] = bench_replay(a.build, a.events, a.reps)
    except RuntimeError as e:
        print("run_bench: %s" % e, file=sys.stderr)
        return 1
    path = a.json or os.path.join(a.build, "bench", "results.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print("\nresults: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
