#!/usr/bin/env bash
# Issue 4's standard load scenarios S1-S6 against tickcast and nginx+nchan (and, for S2, the
# plain tokio-broadcast baseline `tickcast-baseline`) in ONE run, server pinned to one CPU and
# load generator to the other, then a side-by-side table with the ratios. Some S2 points also run
# unpinned, as a user runs them (issue 13): no taskset anywhere, every server at its defaults.
#
#   scripts/bench.sh                    # everything, full scale (about 40 minutes)
#   scripts/bench.sh --quick            # small scale, 2-3 minutes: checks the script itself
#   scripts/bench.sh --scenarios S2,S6 --servers tickcast,nchan
#   scripts/bench.sh --tickcast-src /work/main --scenarios S1,S2,S6 --s1 19000
#   scripts/bench.sh --scenarios S2 --s2 none --s2-unpinned 1000x100 --servers tickcast,nchan
#   scripts/bench.sh --summarize bench-results/20261122T133000Z   # table of an earlier run
#
# What it does:
# - builds the release binaries (tickcast, tickcast-load, tickcast-baseline) unless --no-build;
#   --tickcast-src DIR builds tickcast from another checkout (e.g. the latest main) into its
#   own target directory and measures that one;
# - installs nginx-light + libnginx-mod-nchan from Debian if nginx or the module is missing,
#   copies ../shared/peers/nchan (read-only) to the results folder and starts/stops it with the
#   peer's own start.sh/stop.sh, once per nchan run (fresh memory for every RSS figure);
# - runs every scenario point with `tickcast-load`, pinned with taskset (server: --server-cpu,
#   default 0; load generator: --load-cpu, default 1, one client thread), writing
#   <point>.<server>.json (the report), .meta.json (command, date, load average before, commit
#   of the server measured, exit code, the VM's steal time during the run), .log (the table) and the server's stderr;
# - runs the --s2-unpinned points (default 1000x100 and 5000x200) a second time as a user would
#   run them, as points named S2-firehose-<C>x<R>-unpinned next to the pinned ones: no taskset
#   on the server (tickcast with its defaults, so --shards = cores and --coalesce auto; nchan
#   with its own config) nor on the load generator (its default, one client thread per CPU);
# - with --metrics-every S, samples tickcast's per-shard coalescing window and busy fraction
#   (/metrics) every S seconds during each tickcast run into <point>.tickcast.metrics.txt;
# - prints the side-by-side table and the ratios, also saved as summary.txt.
#
# Bounds: every run is wrapped in `timeout` (its planned duration plus a margin); a server
# started here is stopped by its own pid only (spawned tickcast/baseline: the load tester stops
# it; if a run was cut short, this script ends the pid the wrapper recorded; nchan: stop.sh by
# its pid file). Traffic goes to 127.0.0.1 only. The results folder (default
# bench-results/<UTC time>) is gitignored.
set -euo pipefail
# The whole script is read before it runs (everything is inside main, called on the last line),
# so editing this file during a long run cannot change the run.
main() {
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEER_DIR=${NCHAN_PEER_DIR:-$ROOT/../shared/peers/nchan}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

usage() {
    cat <<'EOF'
usage: scripts/bench.sh [options]
  --quick                 small scale (2-3 minutes), to check the script and the setup
  --scenarios LIST        S1,S2,S3,S4,S5,S6 (default: all)
  --servers LIST          tickcast,nchan,baseline (default: all; baseline runs S2 only)
  --out DIR               results folder (default: bench-results/<UTC time>)
  --no-build              use the binaries already in the target directory
  --tickcast BIN          measure this tickcast binary (commit: --tickcast-commit, else unknown)
  --tickcast-commit TEXT  what to record as the measured tickcast's commit
  --tickcast-src DIR      build tickcast from the checkout DIR (e.g. a worktree of main) and
                          measure it (target dir: $BENCH_SRC_TARGET, else <target>/tickcast-src)
  --s1 "N..."             S1 connection counts        (default "1000 10000 19000")
  --s2 "CxR..."           S2 connections x rate       (default "1000x100 2000x250 5000x200 5000x400";
                          "none": no pinned S2 point)
  --s2-unpinned "CxR..."  S2 points run again unpinned: no taskset on server or load generator,
                          the load generator with its default threads (default "1000x100 5000x200";
                          "none": skip). --tickcast-args and --load-args apply to them too
  --s3-conns N            S3 clients                  (default 10000)
  --s4 "SPEED..."         S4 replay speeds; a speed given twice is run twice, to compare the
                          event sequences             (default "1 10 100 100 max max")
  --s5-duration D         S5 slow-client run          (default 10m)
  --s5-ref-duration D     S5 runs without slow clients and with paused ones (default 2m; nchan runs all three
                          at this duration)
  --s6-conns N            S6 clients, half drop       (default 10000); S6 also runs once
                          without the storm, as the steady state its p99 is compared with
  --s4-duration D         duration of every S4 run    (default: 30s at 1x, 40s at 10x, else 10s)
  --tickcast-args "ARGS"  extra tickcast flags for every tickcast run (e.g. --ring-capacity N)
  --load-args "ARGS"      extra tickcast-load flags for every run (e.g. --stream-query
                          access_token=TOKEN with --tickcast-args "--auth jwt --jwt-key FILE")
  --duration D            duration of the S2 runs     (default: the preset's, 10s)
  --recording FILE        S4 recording                (default ../shared/feeds/binance-...gz)
  --metrics-every S       sample tickcast's tickcast_coalesce_window_seconds and
                          tickcast_shard_busy_ratio every S seconds (default: do not sample)
  --server-cpu N          CPU of the server           (default 0)
  --load-cpu N            CPU of the load generator   (default 1)
  --max-load L --max-wait S   before each run, wait up to S seconds (default 60) for the
                          1-minute load average to fall below L (default: do not wait)
  --summarize DIR         print the table of an earlier results folder and exit
  --markdown DIR          the same runs as one Markdown table (for BENCHMARKS.md) and exit
EOF
}

QUICK=0
SCENARIOS="S1,S2,S3,S4,S5,S6"
SERVERS="tickcast,nchan,baseline"
OUT=""
BUILD=1
TICKCAST_BIN=""
TICKCAST_COMMIT=""
TICKCAST_SRC=""
S1_POINTS=""
S2_POINTS=""
S2_UNPINNED=""
METRICS_EVERY=""
S3_CONNS=""
S4_SPEEDS=""
S5_DURATION=""
S5_REF_DURATION=""
S6_CONNS=""
S4_DURATION=""
TICKCAST_ARGS=""
S2_DURATION=""
LOAD_ARGS=""
RECORDING=""
SERVER_CPU=0
LOAD_CPU=1
MAX_LOAD=""
MAX_WAIT=60
SUMMARIZE=""
MARKDOWN=""

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --scenarios) SCENARIOS=$2; shift ;;
        --servers) SERVERS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --no-build) BUILD=0 ;;
        --tickcast) TICKCAST_BIN=$2; shift ;;
        --tickcast-commit) TICKCAST_COMMIT=$2; shift ;;
        --tickcast-src) TICKCAST_SRC=$2; shift ;;
        --s1) S1_POINTS=$2; shift ;;
        --s2) S2_POINTS=$2; shift ;;
        --s2-unpinned) S2_UNPINNED=$2; shift ;;
        --metrics-every) METRICS_EVERY=$2; shift ;;
        --load-args) LOAD_ARGS=$2; shift ;;
        --s3-conns) S3_CONNS=$2; shift ;;
        --s4) S4_SPEEDS=$2; shift ;;
        --s5-duration) S5_DURATION=$2; shift ;;
        --s5-ref-duration) S5_REF_DURATION=$2; shift ;;
        --s6-conns) S6_CONNS=$2; shift ;;
        --s4-duration) S4_DURATION=$2; shift ;;
        --tickcast-args) TICKCAST_ARGS=$2; shift ;;
        --duration) S2_DURATION=$2; shift ;;
        --recording) RECORDING=$2; shift ;;
        --server-cpu) SERVER_CPU=$2; shift ;;
        --load-cpu) LOAD_CPU=$2; shift ;;
        --max-load) MAX_LOAD=$2; shift ;;
        --max-wait) MAX_WAIT=$2; shift ;;
        --summarize) SUMMARIZE=$2; shift ;;
        --markdown) MARKDOWN=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# --- the table (Python: the reports are JSON) ------------------------------------------------
summarize() {
    python3 - "$1" "${2:-text}" <<'PY'
import json, os, sys
from collections import OrderedDict

out, style = sys.argv[1], sys.argv[2]
runs = OrderedDict()
for name in sorted(os.listdir(out)):
    if not name.endswith(".meta.json"):
        continue
    meta = json.load(open(os.path.join(out, name)))
    report_path = os.path.join(out, meta["report"])
    report = json.load(open(report_path)) if os.path.exists(report_path) else None
    runs.setdefault(meta["point"], OrderedDict())[meta["server"]] = (meta, report)

def steady(report):
    for g in report.get("groups", []):
        if g["group"] == "steady":
            return g
    return None

def group(report, name):
    for g in report.get("groups", []):
        if g["group"] == name:
            return g
    return None

def lat(g, key="latency"):
    if g is None or g.get(key) is None or not g[key]["count"]:
        return None
    return g[key]

def median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else None

def coalescing(meta, m):
    # --metrics-every samples: "<unix time> <gauge>{shard="N"} <value>", kept while the feed
    # ran (some shard over 5% busy).
    path = os.path.join(out, meta["report"][:-len(".json")] + ".metrics.txt")
    if not os.path.exists(path):
        return
    samples = OrderedDict()
    for line in open(path):
        parts = line.split()
        if len(parts) != 3:
            continue
        name, shard = parts[1].split("{")
        samples.setdefault(parts[0], {}).setdefault(shard, {})[name] = float(parts[2])
    busy, window, shards = [], [], set()
    for sample in samples.values():
        if not any(v.get("tickcast_shard_busy_ratio", 0) >= 0.05 for v in sample.values()):
            continue
        for shard, v in sample.items():
            shards.add(shard)
            busy.append(v.get("tickcast_shard_busy_ratio", 0.0))
            window.append(1000.0 * v.get("tickcast_coalesce_window_seconds", 0.0))
    if busy:
        m["shards"] = len(shards)
        m["shard busy p50"] = median(busy)
        m["window ms p50/max"] = "%.0f/%.0f" % (median(window), max(window))
        m["window open %"] = 100.0 * sum(1 for w in window if w > 0) / len(window)

def metrics(meta, r):
    m = OrderedDict()
    m["load avg before"] = meta["loadavg"].split()[0]
    if "steal_ms" in meta:
        m["VM steal ms"] = meta["steal_ms"]
    coalescing(meta, m)
    if r is None:
        m["result"] = "no report (exit %s)" % meta["rc"]
        return m
    c = r["connections"]
    m["connected"] = "%d/%d" % (c["ok"], c["requested"])
    m["connects/s"] = c["connects_per_second"]
    d = r["delivery"]
    m["deliveries/s"] = d["events_per_second"]
    feed = r.get("feed")
    if feed:
        m["feed sent/planned"] = "%d/%d" % (feed["ticks_sent"], feed["ticks_planned"])
        m["feed behind max ms"] = feed["behind_max_ms"]
    s = r.get("server") or {}
    m["server cpu us/event"] = s.get("cpu_us_per_event")
    m["server cpu s"] = s.get("cpu_seconds")
    if s.get("cpu_seconds") is not None and d["window_seconds"]:
        # Share of one core the server got over the window (pinned to one CPU: at most 100).
        m["server cpu %"] = 100.0 * s["cpu_seconds"] / d["window_seconds"]
    if s.get("rss_per_connection_bytes") is not None:
        m["rss/conn KiB"] = s["rss_per_connection_bytes"] / 1024.0
    if s.get("rss_max") is not None:
        m["rss max MiB"] = s["rss_max"] / 1048576.0
        samples = s.get("samples") or []
        if len(samples) >= 4:
            q = len(samples) // 4
            m["rss at 1/4, end MiB"] = "%.1f / %.1f" % (
                samples[q]["rss_bytes"] / 1048576.0, samples[-1]["rss_bytes"] / 1048576.0)
    g = steady(r)
    if g is not None:
        l = lat(g)
        if l:
            m["p50 ms"], m["p99 ms"], m["p99.9 ms"], m["max ms"] = (
                l["p50_ms"], l["p99_ms"], l["p999_ms"], l["max_ms"])
        lc, lb = lat(g, "latency_calm"), lat(g, "latency_burst")
        if lc:
            m["p99 calm ms"] = lc["p99_ms"]
        if lb:
            m["p99 burst ms"] = lb["p99_ms"]
        i = g["integrity"]
        m["fast lost"] = i["missing"] + i["tail_missing"]
        m["fast dup/reord"] = "%d/%d" % (i["duplicates"], i["reorders"])
        seqs = g.get("sequences")
        if seqs:
            m["sequence digest"] = "%s (%d)" % (seqs["digest"][:8], seqs["distinct"])
    for name in ("slow", "paused"):
        sg = group(r, name)
        if sg is not None:
            m["%s conns" % name] = "%d/%d" % (sg["connected"], sg["connections"])
    rg = group(r, "reconnecting")
    if rg is not None:
        i = rg["integrity"]
        m["reconnecting lost/dup/reord"] = "%d/%d/%d" % (
            i["missing"] + i["tail_missing"], i["duplicates"], i["reorders"])
    res = r.get("resume")
    if res and res.get("live_ms") and res["live_ms"]["count"]:
        m["resume live p99/max ms"] = "%.0f / %.0f" % (res["live_ms"]["p99_ms"], res["live_ms"]["max_ms"])
    lg = r.get("load_generator") or {}
    m["loadgen cpu s"] = lg.get("cpu_seconds")
    if lg.get("cpu_seconds") is not None and r["delivery"]["window_seconds"]:
        m["loadgen cpu %"] = 100.0 * lg["cpu_seconds"] / r["delivery"]["window_seconds"]
    m["clean"] = r["verdict"]["fast_clients_clean"] and r["verdict"]["all_connected"]
    return m

def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return "{:,.0f}".format(v)
        if abs(v) >= 10:
            return "%.1f" % v
        return "%.3g" % v
    return str(v)

def markdown():
    cols = ["load avg before", "connected", "connects/s", "deliveries/s", "server cpu us/event",
            "server cpu %", "loadgen cpu %", "p50 ms", "p99 ms", "p99.9 ms", "fast lost",
            "rss/conn KiB", "clean"]
    head = ["point", "server"] + cols + ["other"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point, servers in runs.items():
        for server in [s for s in ("tickcast", "nchan", "baseline") if s in servers]:
            meta, report = servers[server]
            m = metrics(meta, report)
            other = []
            for k in ("shards", "shard busy p50", "window ms p50/max", "window open %",
                      "p99 calm ms", "p99 burst ms", "rss at 1/4, end MiB", "rss max MiB",
                      "reconnecting lost/dup/reord", "resume live p99/max ms", "sequence digest",
                      "feed sent/planned", "result"):
                if k in m and not (k == "rss max MiB" and not point.startswith(("S3", "S5"))):
                    if k == "feed sent/planned":
                        a, b = m[k].split("/")
                        if a == b:
                            continue
                    other.append("%s %s" % (k, fmt(m[k])))
            rows.append("| " + " | ".join([point, server] + [fmt(m.get(c)) for c in cols]
                                          + ["; ".join(other)]) + " |")
    sys.stdout.write("\n".join(rows) + "\n")

if style == "markdown":
    markdown()
    sys.exit(0)

RATIO_KEYS = ["server cpu us/event", "p50 ms", "p99 ms", "deliveries/s", "rss/conn KiB", "connects/s"]
lines = []
for point, servers in runs.items():
    order = [s for s in ("tickcast", "nchan", "baseline") if s in servers]
    order += [s for s in servers if s not in order]
    table = OrderedDict((s, metrics(*servers[s])) for s in order)
    keys = []
    for s in order:
        for k in table[s]:
            if k not in keys:
                keys.append(k)
    commits = sorted({servers[s][0]["commit"] for s in order if s == "tickcast"})
    lines.append("")
    lines.append("== %s  (%s)%s" % (point, servers[order[0]][0]["date"],
                                   "  tickcast " + commits[0] if commits else ""))
    width = max(len(k) for k in keys) + 2
    header = "%-*s" % (width, "") + "".join("%18s" % s for s in order)
    ratios = [o for o in ("nchan", "baseline") if o in table and "tickcast" in table]
    header += "".join("%18s" % ("tickcast/" + o) for o in ratios)
    lines.append(header)
    for k in keys:
        row = "%-*s" % (width, k) + "".join("%18s" % fmt(table[s].get(k)) for s in order)
        for o in ratios:
            a, b = table["tickcast"].get(k), table[o].get(k)
            if k in RATIO_KEYS and isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
                row += "%18s" % ("%.2fx" % (a / b))
            else:
                row += "%18s" % ""
        lines.append(row)
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
open(os.path.join(out, "summary.txt"), "w").write(text)
PY
}

if [ -n "$SUMMARIZE" ]; then
    summarize "$SUMMARIZE"
    exit 0
fi
if [ -n "$MARKDOWN" ]; then
    summarize "$MARKDOWN" markdown
    exit 0
fi

# --- scale ------------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    : "${S1_POINTS:=300}" "${S2_POINTS:=200x50}" "${S2_UNPINNED:=200x50}" "${S3_CONNS:=300}"
    : "${S4_SPEEDS:=100 100}"
    : "${S5_DURATION:=5s}" "${S5_REF_DURATION:=5s}" "${S6_CONNS:=300}" "${S2_DURATION:=3s}"
else
    : "${S1_POINTS:=1000 10000 19000}" "${S2_POINTS:=1000x100 2000x250 5000x200 5000x400}"
    : "${S2_UNPINNED:=1000x100 5000x200}"
    : "${S3_CONNS:=10000}" "${S4_SPEEDS:=1 10 100 100 max max}"
    : "${S5_DURATION:=10m}" "${S5_REF_DURATION:=2m}" "${S6_CONNS:=10000}"
fi
if [ -z "$RECORDING" ]; then
    RECORDING=$ROOT/../shared/feeds/binance-spot-btcusdt-20240808.hftbacktest.gz
    [ -f "$RECORDING" ] || RECORDING=$ROOT/feeds/binance-spot-btcusdt-20240808.sample.gz
fi
has() { case ",$1," in *",$2,"*) return 0 ;; *) return 1 ;; esac; }

# Seconds in a duration the load tester accepts (10s, 3m, 1.5); for the timeouts only.
seconds() {
    python3 -c 'import re,sys
t=sys.argv[1]; m=re.fullmatch(r"([0-9.]+)(ms|s|m|h)?",t)
v=float(m.group(1)); u=m.group(2) or "s"
print(int(v*{"ms":0.001,"s":1,"m":60,"h":3600}[u])+1)' "$1"
}

# --- binaries ---------------------------------------------------------------------------------
BIN=$TARGET_DIR/release
if [ "$BUILD" = 1 ]; then
    echo "bench: building release binaries into $TARGET_DIR" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet -p tickcast -p tickcast-load)
fi
LOAD=$BIN/tickcast-load
BASELINE=$BIN/tickcast-baseline
if [ -n "$TICKCAST_SRC" ]; then
    SRC_TARGET=${BENCH_SRC_TARGET:-$TARGET_DIR/tickcast-src}
    echo "bench: building tickcast from $TICKCAST_SRC into $SRC_TARGET" >&2
    CARGO_TARGET_DIR=$SRC_TARGET cargo build --release --quiet --locked \
        --manifest-path "$TICKCAST_SRC/Cargo.toml" -p tickcast
    TICKCAST_BIN=$SRC_TARGET/release/tickcast
    SRC_DIR=$TICKCAST_SRC
elif [ -z "$TICKCAST_BIN" ]; then
    TICKCAST_BIN=$BIN/tickcast
    SRC_DIR=$ROOT
else
    SRC_DIR=""
fi
if [ -z "$TICKCAST_COMMIT" ]; then
    if [ -n "$SRC_DIR" ]; then
        TICKCAST_COMMIT=$(git -C "$SRC_DIR" rev-parse --short=12 HEAD)
        if [ -n "$(git -C "$SRC_DIR" status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock)" ]; then
            TICKCAST_COMMIT="$TICKCAST_COMMIT+uncommitted"
        fi
    else
        TICKCAST_COMMIT="unknown ($TICKCAST_BIN)"
    fi
fi
for b in "$TICKCAST_BIN" "$LOAD" "$BASELINE"; do
    [ -x "$b" ] || { echo "bench: $b is missing (build first, or drop --no-build)" >&2; exit 1; }
done
LOAD_COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD)

# --- nchan ------------------------------------------------------------------------------------
NCHAN_DIR=""
NCHAN_PID=""
if has "$SERVERS" nchan; then
    if ! command -v nginx >/dev/null || [ ! -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
        echo "bench: installing nginx-light and libnginx-mod-nchan (Debian)" >&2
        apt-get update -qq && apt-get install -y -qq nginx-light libnginx-mod-nchan >/dev/null
    fi
fi

# --- results folder ---------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/bench-results/$STAMP}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Measure copies: a rebuild during a long run must not change what is measured.
mkdir -p "$OUT/bin"
cp "$TICKCAST_BIN" "$OUT/bin/tickcast"
cp "$LOAD" "$OUT/bin/tickcast-load"
cp "$BASELINE" "$OUT/bin/tickcast-baseline"
TICKCAST_PATH=$TICKCAST_BIN
TICKCAST_BIN=$OUT/bin/tickcast LOAD=$OUT/bin/tickcast-load BASELINE=$OUT/bin/tickcast-baseline
if has "$SERVERS" nchan; then
    NCHAN_DIR=$OUT/nchan-peer
    mkdir -p "$NCHAN_DIR"
    cp "$PEER_DIR/start.sh" "$PEER_DIR/stop.sh" "$PEER_DIR/nchan.conf" "$NCHAN_DIR/"
    chmod u+w "$NCHAN_DIR"/*
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    free -h | sed -n 2p | awk '{print "memory: " $2 " total, " $7 " available"}'
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "kernel: $(uname -r)"
    echo "tickcast: $TICKCAST_PATH ($TICKCAST_COMMIT)"
    echo "load tester and baseline: $LOAD_COMMIT"
    echo "nginx: $(nginx -v 2>&1 || echo none)"
    echo "server cpu: $SERVER_CPU, load generator cpu: $LOAD_CPU (points named *-unpinned: neither pinned)"
} | tee "$OUT/machine.txt" >&2

RUNNER="" RUNNER_PIDFILE=""
cleanup() {
    if [ -n "$RUNNER" ]; then
        kill -TERM "$RUNNER" 2>/dev/null || true
        wait "$RUNNER" 2>/dev/null || true
        # The server it spawned, if the load tester did not get to stop it.
        if [ -s "$RUNNER_PIDFILE" ]; then
            kill -TERM "$(cat "$RUNNER_PIDFILE")" 2>/dev/null || true
        fi
    fi
    if [ -n "$NCHAN_DIR" ] && [ -s "$NCHAN_DIR/run/nginx.pid" ]; then
        "$NCHAN_DIR/stop.sh" >&2 || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nchan_start() { # nchan_start pinned|unpinned
    # The workers inherit the master's CPU affinity.
    local line
    if [ "$1" = pinned ]; then
        line=$(taskset -c "$SERVER_CPU" "$NCHAN_DIR/start.sh")
    else
        line=$("$NCHAN_DIR/start.sh")
    fi
    NCHAN_PID=$(cat "$NCHAN_DIR/run/nginx.pid")
    echo "bench: $line" >&2
}
nchan_stop() {
    "$NCHAN_DIR/stop.sh" >/dev/null || true
    NCHAN_PID=""
}

wait_for_calm() {
    [ -n "$MAX_LOAD" ] || return 0
    local waited=0
    while [ "$waited" -lt "$MAX_WAIT" ] &&
        python3 -c 'import sys; sys.exit(0 if float(open("/proc/loadavg").read().split()[0]) >= float(sys.argv[1]) else 1)' "$MAX_LOAD"; do
        sleep 5
        waited=$((waited + 5))
    done
}

# sample_metrics PORT PID OUT: appends tickcast's per-shard window and busy gauges to OUT every
# METRICS_EVERY seconds while PID lives (a bash /dev/tcp request: no process forked per sample).
sample_metrics() {
    local port=$1 pid=$2 out=$3 now
    while kill -0 "$pid" 2>/dev/null; do
        now=$(date +%s.%N)
        { exec 3<>"/dev/tcp/127.0.0.1/$port" &&
            printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 &&
            grep -E '^tickcast_(coalesce_window_seconds|shard_busy_ratio)\{' <&3 |
            sed "s/^/${now%???????} /"; exec 3<&-; } >>"$out" 2>/dev/null || true
        sleep "$METRICS_EVERY"
    done
}

# run_case POINT SERVER BOUND_SECONDS [load args...] [-- server args...]
# Runs one scenario point against one server, pinned (a point named *-unpinned: nothing pinned,
# the load generator with its default threads); writes the report and its meta.
run_case() {
    local point=$1 server=$2 bound=$3
    shift 3
    local placement=pinned
    case "$point" in *-unpinned) placement=unpinned ;; esac
    local load_args=() server_args=() seen_sep=0
    for a in "$@"; do
        if [ "$seen_sep" = 0 ] && [ "$a" = "--" ]; then seen_sep=1; continue; fi
        if [ "$seen_sep" = 0 ]; then load_args+=("$a"); else server_args+=("$a"); fi
    done
    local base=$OUT/$point.$server
    local cmd=(taskset -c "$LOAD_CPU" "$LOAD" --json "$base.json" --no-progress --threads 1)
    [ "$placement" = unpinned ] && cmd=("$LOAD" --json "$base.json" --no-progress)
    # shellcheck disable=SC2206 # words of --load-args, split on purpose
    cmd+=("${load_args[@]}" $LOAD_ARGS)
    local commit pidfile=$base.pid metrics_port=""
    case "$server" in
        tickcast|baseline)
            local bin=$TICKCAST_BIN
            commit=$TICKCAST_COMMIT
            if [ "$server" = baseline ]; then
                bin=$BASELINE
                commit="baseline@$LOAD_COMMIT"
            else
                # shellcheck disable=SC2206 # words of --tickcast-args, split on purpose
                server_args+=($TICKCAST_ARGS)
            fi
            if [ "$server" = tickcast ] && [ -n "$METRICS_EVERY" ]; then
                # A known port to sample /metrics on (the load tester then adds only --feed).
                metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
                server_args+=(--listen "127.0.0.1:$metrics_port")
            fi
            # sh records the pid and execs the server under it, pinned or not (the load tester
            # appends --listen/--feed, which reach the server through "$@").
            local cpus=$SERVER_CPU
            [ "$placement" = unpinned ] && cpus=all
            cmd+=(--server-log "$base.server.log" --spawn-tickcast /bin/sh --
                -c 'echo $$ >"$0"; cpu=$1 bin=$2; shift 2
                    if [ "$cpu" = all ]; then exec "$bin" "$@"; fi
                    exec taskset -c "$cpu" "$bin" "$@"'
                "$pidfile" "$cpus" "$bin" "${server_args[@]}")
            ;;
        nchan)
            nchan_start "$placement"
            commit="nginx+nchan $(dpkg-query -W -f '${Version}' libnginx-mod-nchan 2>/dev/null || echo '?')"
            cmd+=(--server nchan --target http://127.0.0.1:8090 --server-pid "$NCHAN_PID")
            ;;
    esac
    wait_for_calm
    local loadavg date
    loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
    date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    echo "bench: [$date] $point on $server (load $loadavg)" >&2
    local rc=0 sampler="" steal0
    steal0=$(steal_ticks)
    rm -f "$pidfile"
    # In the background (so the sampler can run beside it), where SIGINT does not reach it:
    # cleanup ends it by this pid if the script is stopped.
    timeout --kill-after=20 "$bound" "${cmd[@]}" >"$base.log" 2>&1 &
    local runner=$!
    RUNNER=$runner RUNNER_PIDFILE=$pidfile
    if [ -n "$metrics_port" ]; then
        local waited=0
        while [ ! -s "$pidfile" ] && [ "$waited" -lt 100 ] && kill -0 "$runner" 2>/dev/null; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if [ -s "$pidfile" ]; then
            sample_metrics "$metrics_port" "$(cat "$pidfile")" "$base.metrics.txt" &
            sampler=$!
        fi
    fi
    wait "$runner" || rc=$?
    RUNNER=""
    if [ -s "$pidfile" ]; then
        # A spawned server the load tester could not stop (run cut short): end that pid only.
        local pid
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            sleep 2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    fi
    # The sampler ends with the server; bounded anyway.
    [ -n "$sampler" ] && { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; }
    [ "$server" = nchan ] && nchan_stop
    if [ "$rc" != 0 ]; then
        echo "bench: $point on $server exited $rc; see $base.log" >&2
        tail -5 "$base.log" >&2 || true
    fi
    local steal_ms=$((($(steal_ticks) - steal0) * 1000 / $(getconf CLK_TCK)))
    python3 - "$base.meta.json" "$point" "$server" "$date" "$loadavg" "$commit" "$rc" \
        "$(basename "$base.json")" "$placement" "$steal_ms" "${cmd[@]}" <<'PY'
import json, shlex, sys
path, point, server, date, loadavg, commit, rc, report, placement, steal_ms, *cmd = sys.argv[1:]
json.dump({"point": point, "server": server, "date": date, "loadavg": loadavg,
           "commit": commit, "rc": int(rc), "report": report, "placement": placement,
           "steal_ms": int(steal_ms),
           "command": " ".join(shlex.quote(c) for c in cmd)}, open(path, "w"), indent=1)
PY
}

# CPU time the hypervisor gave to other guests while this VM wanted it (`steal` in /proc/stat,
# clock ticks, machine-wide): on the VMs measured the host takes a vCPU away in whole 100 ms
# slices, which freeze server and load generator alike (BENCHMARKS.md, "Session 7").
steal_ticks() { awk '/^cpu /{print $9}' /proc/stat; }

servers_for() { # servers_for SCENARIO: the requested servers that run it
    local s out=()
    for s in tickcast nchan baseline; do
        has "$SERVERS" "$s" || continue
        if [ "$s" = baseline ] && [ "$1" != S2 ]; then continue; fi
        if [ "$s" = nchan ] && [ "$1" = S4 ]; then continue; fi   # nchan cannot replay
        out+=("$s")
    done
    echo "${out[@]}"
}

MARGIN=90
if has "$SCENARIOS" S1; then
    for c in $S1_POINTS; do
        for s in $(servers_for S1); do
            run_case "S1-idle-$c" "$s" $((10 + MARGIN + c / 500)) --scenario idle -c "$c"
        done
    done
fi
if has "$SCENARIOS" S2; then
    # Each point pinned, then (if listed in --s2-unpinned) the same point unpinned.
    pinned_points=$(echo "$S2_POINTS" | tr -s ' ' ,)
    unpinned_points=$(echo "$S2_UNPINNED" | tr -s ' ' ,)
    s2_order=""
    for p in $S2_POINTS $S2_UNPINNED; do
        case "$p  $s2_order " in none*|*" $p "*) ;; *) s2_order="$s2_order $p" ;; esac
    done
    for p in $s2_order; do
        c=${p%x*}; r=${p#*x}
        d=()
        [ -n "$S2_DURATION" ] && d=(-d "$S2_DURATION")
        for placement in pinned unpinned; do
            suffix=""
            if [ "$placement" = pinned ]; then
                has "$pinned_points" "$p" || continue
            else
                has "$unpinned_points" "$p" || continue
                suffix=-unpinned
            fi
            for s in $(servers_for S2); do
                run_case "S2-firehose-${c}x$r$suffix" "$s" \
                    $(($(seconds "${S2_DURATION:-10s}") + MARGIN)) \
                    --scenario firehose -c "$c" --rate "$r" "${d[@]}"
            done
        done
    done
fi
if has "$SCENARIOS" S3; then
    s3=(--scenario market -c "$S3_CONNS")
    [ "$QUICK" = 1 ] && s3+=(-d 12s -r 2000 --burst 10,5s,1s)
    for s in $(servers_for S3); do
        run_case "S3-market-$S3_CONNS" "$s" $((65 + MARGIN + S3_CONNS / 500)) "${s3[@]}"
    done
fi
if has "$SCENARIOS" S4; then
    declare -A s4_seen=()
    for speed in $S4_SPEEDS; do
        n=$(( ${s4_seen[$speed]:-0} + 1 )); s4_seen[$speed]=$n
        case "$speed" in
            1) d=30s ;;
            10) d=40s ;;
            *) d=10s ;;
        esac
        c=1000
        [ "$QUICK" = 1 ] && d=5s c=100
        [ -n "$S4_DURATION" ] && d=$S4_DURATION
        # complete=1: the stream mode tickcast documents for replays (a client that falls
        # behind reads the ring at its own pace instead of being conflated).
        # --wait-subscribers: the replay starts once all clients are connected, so every one
        # gets it live and its latency is delivery, not the time it took to connect.
        for s in $(servers_for S4); do
            run_case "S4-replay-${speed}x-run$n" "$s" $(($(seconds $d) + MARGIN)) \
                --scenario replay -c "$c" -d "$d" --stream-query complete=1 \
                -- replay "$RECORDING" --speed "$speed" --wait-subscribers "$c"
        done
    done
fi
if has "$SCENARIOS" S5; then
    c=1100
    [ "$QUICK" = 1 ] && c=220
    for s in $(servers_for S5); do
        # The long run is tickcast's (flat RSS over S5_DURATION); nchan runs S5_REF_DURATION.
        long=$S5_DURATION
        [ "$s" = tickcast ] || long=$S5_REF_DURATION
        run_case "S5-slow-a-none" "$s" $(($(seconds "$S5_REF_DURATION") + MARGIN)) \
            --scenario slow --slow 0 -c $((c * 10 / 11)) -d "$S5_REF_DURATION"
        run_case "S5-slow-b-slow" "$s" $(($(seconds "$long") + MARGIN)) \
            --scenario slow -c "$c" -d "$long"
        run_case "S5-slow-c-paused" "$s" $(($(seconds "$S5_REF_DURATION") + MARGIN)) \
            --scenario slow -c "$c" --slow 0 --paused 0.0909 -d "$S5_REF_DURATION"
    done
fi
if has "$SCENARIOS" S6; then
    s6=(--scenario reconnect -c "$S6_CONNS")
    [ "$QUICK" = 1 ] && s6+=(-d 6s --reconnect-at 3s)
    for s in $(servers_for S6); do
        run_case "S6-reconnect-$S6_CONNS-a-steady" "$s" $((20 + MARGIN + S6_CONNS / 500)) \
            "${s6[@]}" --reconnect 0
        run_case "S6-reconnect-$S6_CONNS-b-storm" "$s" $((20 + MARGIN + S6_CONNS / 500)) "${s6[@]}"
    done
fi

summarize "$OUT"
echo "bench: results in $OUT" >&2
}

main "$@"
exit $?
