#!/usr/bin/env bash
# Issue 12's cluster measurements (BENCHMARKS.md, "Cluster (issue 12)"), side by side in one run:
# every figure of a cluster node is measured in the same minutes as the same load on a plain
# `--role all` node, in pairs whose order alternates, and the table gives each pair and the
# medians.
#
#   scripts/cluster-bench.sh                      # cases 1-4, 3 pairs each (about 30 minutes)
#   scripts/cluster-bench.sh --cases 1,2 --pairs 5
#   scripts/cluster-bench.sh --quick              # short runs (about a minute): checks the script
#   scripts/cluster-bench.sh --summarize bench-results/cluster-20261123T040000Z
#
# Cases:
#   1 hop    latency the Redis hop adds: feed node + one edge vs one `--role all` node, the same
#            feed (10k ticks/s over 100 symbols, from tickcast-load's native TCP feeder) and the
#            same few firehose clients (10); end-to-end p50/p99 of the load tester (edge minus
#            all) and the edge's own `tickcast_cluster_hop_seconds` (feed node's receive time
#            to the edge holding the batch). Nothing pinned: feeder, feed node, Redis, edge and
#            clients share both CPUs, as on one machine they would. Goal: hop p99 <= 1 ms.
#            Every run also records the VM's steal time (meta.json `steal_ms`; a column of case
#            1's table, with each node's tickcast_conflated_total): on a throttled VM every
#            process freezes for 100 ms at a time, which decides the p99 (BENCHMARKS.md,
#            "Session 7").
#   2 feed   feed node CPU per tick: `--role feed` vs `--role all`, the same feed (10k and 40k
#            ticks/s), one client of one symbol (tickcast-load needs one; 1% of the ticks, the
#            same on both sides); utime+stime of the node over the load tester's window / ticks sent.
#            Server on CPU 0, load tester and Redis on CPU 1. Redis's own CPU per tick is given
#            apart (its /proc/PID/stat over the whole run).
#   3 edge   edge CPU per delivered event vs `--role all`: S2 (1,000 firehose clients x 100
#            ticks/s) and 1,000 x 1,000/s. The measured node (edge, or all) on CPU 0; load
#            tester, feed node and Redis on CPU 1. Goal: within 10%.
#   4 kill   3 edges x 1,000 firehose clients through nginx (deploy/nginx's settings: least_conn,
#            proxy_buffering off, ...; four variants of listen backlog and multi_accept),
#            100 ticks/s; the edge holding the most streams SIGKILLed at half time; the clients
#            reconnect like a browser (tickcast-load --reconnect-on-error: after the `retry:`
#            delay, with Last-Event-ID) through nginx to the other edges. Every client's ledger
#            must show no gap and no duplicate. Nothing pinned.
#
# Options: --cases LIST (1,2,3,4), --pairs N (3), --quick, --no-build (use the binaries in
# $CARGO_TARGET_DIR/release as they are; BENCH_COMMIT=... names what they were built from),
# --out DIR, --summarize DIR, --max-load L (before each pair, wait up to 2 minutes for the
# 1-minute load average to drop below L: other builds on a shared machine). Environment: CARGO_TARGET_DIR
# (default target/), C1_DURATION (20s), C2_RATES ("10000 40000"), C2_DURATION (20s), C3_POINTS
# ("1000x100 1000x1000"), C3_DURATION (10s), C4_CLIENTS (3000), C4_RATE (100), C4_DURATION
# (40s), C4_NGINX (nginx variants BACKLOG:MULTI_ACCEPT, "511:off 4096:off 511:on 4096:on":
# the listen backlog, 511 being nginx's default, and `multi_accept`, off by default), C4_RUNS
# (= pairs, per variant).
#
# What it starts (redis-server on a free port, fresh for every run; tickcast nodes on port 0;
# nginx from Debian with its own config, pid file and logs in the results folder) it stops by
# its own pid, on exit too. Every load run is wrapped in `timeout`. Traffic stays on 127.0.0.1.
# Results: bench-results/cluster-<UTC stamp>/ (per run: the report JSON, the command, uptime
# before and after, node logs, /metrics scrapes), summary.txt (the table printed at the end).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CASES=1,2,3,4
PAIRS=3
QUICK=0
BUILD=1
OUT=""
SUMMARIZE=""
MAX_LOAD=""
SERVER_CPU=0
LOAD_CPU=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) CASES=$2; shift 2 ;;
        --pairs) PAIRS=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --no-build) BUILD=0; shift ;;
        --out) OUT=$2; shift 2 ;;
        --summarize) SUMMARIZE=$2; shift 2 ;;
        --max-load) MAX_LOAD=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "cluster-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
has() { case ",$CASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# --- summary (also --summarize DIR) -----------------------------------------------------------
summarize() {
    python3 - "$1" <<'PY'
import glob, json, os, re, statistics, sys
out = sys.argv[1]
lines = []
def say(s=""):
    lines.append(s)
def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None
def runs(case):
    found = []
    for meta_path in sorted(glob.glob(os.path.join(out, case, "*", "meta.json"))):
        d = os.path.dirname(meta_path)
        meta = load(meta_path)
        found.append((d, meta, load(os.path.join(d, "report.json"))))
    return found
def metric(path, name, default=None):
    try:
        text = open(path).read()
    except OSError:
        return default
    m = re.search(r"^" + re.escape(name) + r" ([0-9.eE+-]+)$", text, re.M)
    return float(m.group(1)) if m else default
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
def f(v, digits=2):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return ("%%.%df" % digits) % v
def conflated(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    return sum(float(v) for v in re.findall(r"^tickcast_conflated_total\{[^}]*\} (\S+)$", text, re.M))
def fast_groups(rep):
    return [g for g in rep["groups"] if g["group"] in ("steady", "reconnecting")]
def latency(rep, q):
    gs = fast_groups(rep)
    return gs[0]["latency"][q] if gs else None
def clean(rep):
    return "yes" if rep and rep["verdict"]["fast_clients_clean"] and rep["verdict"]["all_connected"] else "NO"
def points_of(found, default=None):
    # The points measured, in the order first run (meta without one: `default`).
    points = []
    for _, meta, _ in found:
        if default is not None:
            meta.setdefault("point", default)
        if meta["point"] not in points:
            points.append(meta["point"])
    return points
def pairs_of(found, point=None):
    by = {}
    for d, meta, rep in found:
        if point is not None and meta.get("point") != point:
            continue
        by.setdefault(meta["pair"], {})[meta["side"]] = (d, meta, rep)
    return [by[k] for k in sorted(by)]
machine = os.path.join(out, "machine.txt")
if os.path.exists(machine):
    say(open(machine).read().rstrip())

# 1: hop latency
found = runs("1-hop")
if found:
    say("")
    say("== 1. latency the Redis hop adds (10k ticks/s, 100 symbols, firehose clients; ms)")
    say("%-5s %-17s %8s %8s %8s %8s %9s %9s %9s %9s %9s %6s %11s %13s" % ("pair", "date", "all p50", "all p99",
        "edge p50", "edge p99", "d p50", "d p99", "hop p50", "hop p99", "hop p99.9", "clean", "steal ms", "conflated"))
    d50s, d99s, h50s, h99s, h999s = [], [], [], [], []
    for i, p in enumerate(pairs_of(found), 1):
        if "all" not in p or "edge" not in p:
            continue
        a, e = p["all"][2], p["edge"][2]
        if not a or not e:
            continue
        m = os.path.join(p["edge"][0], "edge.metrics")
        hop = {q: metric(m, 'tickcast_cluster_hop_seconds{quantile="%s"}' % q) for q in ("0.5", "0.99", "0.999")}
        hop = {q: (v * 1e3 if v is not None else None) for q, v in hop.items()}
        d50 = latency(e, "p50_ms") - latency(a, "p50_ms")
        d99 = latency(e, "p99_ms") - latency(a, "p99_ms")
        d50s.append(d50); d99s.append(d99); h50s.append(hop["0.5"]); h99s.append(hop["0.99"]); h999s.append(hop["0.999"])
        say("%-5d %-17s %8s %8s %8s %8s %9s %9s %9s %9s %9s %6s %11s %13s" % (i, p["edge"][1]["date"][5:16], f(latency(a, "p50_ms"), 3),
            f(latency(a, "p99_ms"), 3), f(latency(e, "p50_ms"), 3), f(latency(e, "p99_ms"), 3), f(d50, 3), f(d99, 3),
            f(hop["0.5"], 3), f(hop["0.99"], 3), f(hop["0.999"], 3),
            clean(a) + "/" + clean(e),
            "/".join(f(p[s][1].get("steal_ms"), 0) for s in ("all", "edge")),
            "/".join(f(conflated(os.path.join(p[s][0], s + ".metrics")), 0) for s in ("all", "edge"))))
    say("%-5s %-17s %8s %8s %8s %8s %9s %9s %9s %9s %9s" % ("median", "", "", "", "", "", f(med(d50s), 3), f(med(d99s), 3),
        f(med(h50s), 3), f(med(h99s), 3), f(med(h999s), 3)))
    say("   d = edge minus all (end to end, tickcast-load); hop = the edge's tickcast_cluster_hop_seconds (goal p99 <= 1 ms)")
    say("   steal ms (all/edge run) = CPU time the hypervisor took from this VM during the run (/proc/stat): runs with")
    say("   steal had ~100 ms freezes of every process; conflated = tickcast_conflated_total: ticks a client stalled")
    say("   by such a freeze did not get (the newest price per symbol replaced them; clean = NO counts exactly those)")

# 2: feed node CPU per tick
found = runs("2-feed")
if found:
    say("")
    say("== 2. feed node CPU per tick (100 symbols, one client of one symbol; us/tick)")
    for point in points_of(found, "10000"):
        say("-- %s ticks/s" % point)
        say("%-5s %-17s %10s %10s %10s %8s %12s %14s" % ("pair", "date", "all", "feed", "feed-all", "ratio",
            "redis us/tick", "ticks/batch"))
        alls, feeds, diffs, ratios, redis = [], [], [], [], []
        for i, p in enumerate(pairs_of(found, point), 1):
            if "all" not in p or "feed" not in p or not p["all"][2] or not p["feed"][2]:
                continue
            def per_tick(side):
                rep = p[side][2]
                return rep["server"]["cpu_seconds"] / rep["feed"]["ticks_sent"] * 1e6
            a, fd = per_tick("all"), per_tick("feed")
            r = p["feed"][1].get("redis_cpu_seconds")
            r = r / p["feed"][2]["feed"]["ticks_sent"] * 1e6 if r is not None else None
            m = os.path.join(p["feed"][0], "feed.metrics")
            b, ev = metric(m, "tickcast_cluster_published_batches_total"), metric(m, "tickcast_cluster_published_events_total")
            alls.append(a); feeds.append(fd); diffs.append(fd - a); ratios.append(fd / a); redis.append(r)
            say("%-5d %-17s %10s %10s %10s %8s %12s %14s" % (i, p["feed"][1]["date"][5:16], f(a), f(fd), f(fd - a),
                f(fd / a) + "x", f(r), f(ev / b, 1) if b else "-"))
        say("%-5s %-17s %10s %10s %10s %8s %12s" % ("median", "", f(med(alls)), f(med(feeds)), f(med(diffs)),
            f(med(ratios)) + "x", f(med(redis))))

# 3: edge CPU per event
found = runs("3-edge")
if found:
    say("")
    say("== 3. edge CPU per delivered event vs --role all (firehose clients; goal within 10%)")
    for point in points_of(found):
        say("-- %s" % point)
        say("%-5s %-17s %10s %10s %8s %9s %9s %9s %9s %10s %10s %6s" % ("pair", "date", "all us/ev", "edge us/ev",
            "ratio", "all p50", "all p99", "edge p50", "edge p99", "all ev/s", "edge ev/s", "clean"))
        ratios, alls, edges = [], [], []
        for i, p in enumerate(pairs_of(found, point), 1):
            if "all" not in p or "edge" not in p or not p["all"][2] or not p["edge"][2]:
                continue
            a, e = p["all"][2], p["edge"][2]
            ca, ce = a["server"]["cpu_us_per_event"], e["server"]["cpu_us_per_event"]
            ratios.append(ce / ca); alls.append(ca); edges.append(ce)
            say("%-5d %-17s %10s %10s %8s %9s %9s %9s %9s %10.0f %10.0f %6s" % (i, p["edge"][1]["date"][5:16], f(ca, 3), f(ce, 3),
                f(ce / ca) + "x", f(latency(a, "p50_ms")), f(latency(a, "p99_ms")), f(latency(e, "p50_ms")),
                f(latency(e, "p99_ms")), a["delivery"]["events_per_second"], e["delivery"]["events_per_second"],
                clean(a) + "/" + clean(e)))
        say("%-5s %-17s %10s %10s %8s" % ("median", "", f(med(alls), 3), f(med(edges), 3), f(med(ratios)) + "x"))

# 4: an edge killed behind nginx
found = runs("4-kill")
if found:
    say("")
    say("== 4. 3 edges behind nginx, the busiest SIGKILLed at half time (firehose clients)")
    say("%-8s %-4s %-11s %9s %7s %7s %8s %4s %5s %5s %5s %6s %9s %9s %9s %9s %8s %6s" % ("nginx", "run", "date",
        "clients", "killed", "reconn", "ok/fail", "err", "gaps", "dups", "reord", "resets", "res1 p50", "live p50",
        "live p99", "live max", "overflow", "clean"))
    variant = lambda meta: "%s/%s" % (meta.get("backlog", "511"), meta.get("multi_accept", "off"))
    found.sort(key=lambda r: (r[1].get("multi_accept", "off"), int(r[1].get("backlog", 511)), r[1]["date"]))
    for d, meta, rep in found:
        i = meta.get("run")
        if not rep:
            say("%-8s %-4s no report (see %s)" % (variant(meta), i, d))
            continue
        ig = {}
        for g in fast_groups(rep):
            for k, v in g["integrity"].items():
                ig[k] = ig.get(k, 0) + v
        c = rep["connections"]
        rs = rep.get("resume") or {}
        first, live = rs.get("first_event_ms") or {}, rs.get("live_ms") or {}
        say("%-8s %-4s %-11s %9s %7s %7d %8s %4d %5d %5d %5d %6d %9s %9s %9s %9s %8s %6s" % (variant(meta), i,
            meta["date"][5:16].replace("T", " "), "%d/%d" % (c["ok"], c["requested"]), str(meta.get("killed_streams", "-")),
            c["reconnects"]["attempted"], "%d/%d" % (c["reconnects"]["ok"], c["reconnects"]["failed"]),
            c["reconnects"].get("after_error", 0), ig.get("gaps", 0) + ig.get("seq_gaps", 0), ig.get("duplicates", 0),
            ig.get("reorders", 0), ig.get("resets", 0), f(first.get("p50_ms"), 0), f(live.get("p50_ms"), 0),
            f(live.get("p99_ms"), 0), f(live.get("max_ms"), 0), str(meta.get("listen_overflows", "-")), clean(rep)))
        extra = []
        for k in ("missing", "tail_missing", "never_seen", "unreadable"):
            if ig.get(k):
                extra.append("%s %d" % (k, ig[k]))
        if meta.get("edge_counters"):
            extra.append("surviving edges' cluster counters: " + ", ".join("%s %s" % kv for kv in meta["edge_counters"].items()))
        notes = [n for n in rep["verdict"]["notes"] if not n.startswith("no server pid")]
        if notes:
            extra.append("notes: " + "; ".join(notes))
        for e in extra:
            say("       " + e)
    say("   nginx = listen backlog/multi_accept (511/off: nginx's defaults, as in deploy/nginx); killed = streams on the")
    say("   edge killed; reconn = automatic reconnects (ok/failed); err = those after a broken connection or failed")
    say("   reconnect (failure reasons in load.log); gaps/dups/reord/resets: summed")
    say("   over every client's ledger; res1 = drop to first event, live = drop to the first tick sent after the drop (ms,")
    say("   with the 2 s `retry:` delay the edges advertise); overflow = TcpExtListenOverflows during the run (SYNs dropped")
    say("   by full accept queues, whole machine)")
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
open(os.path.join(out, "summary.txt"), "w").write(text)
PY
}

if [ -n "$SUMMARIZE" ]; then
    summarize "$SUMMARIZE"
    exit 0
fi

# --- scale ------------------------------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
    : "${C1_DURATION:=5s}" "${C2_DURATION:=5s}" "${C3_POINTS:=200x100}" "${C3_DURATION:=5s}"
    : "${C4_CLIENTS:=300}" "${C4_RATE:=100}" "${C4_DURATION:=12s}" "${C4_NGINX:=4096:on}"
    PAIRS=1
else
    : "${C1_DURATION:=20s}" "${C2_DURATION:=20s}" "${C3_POINTS:=1000x100 1000x1000}" "${C3_DURATION:=10s}"
    : "${C4_CLIENTS:=3000}" "${C4_RATE:=100}" "${C4_DURATION:=40s}" "${C4_NGINX:=511:off 4096:off 511:on 4096:on}"
fi
: "${C4_RUNS:=$PAIRS}" "${C2_RATES:=10000 40000}"
seconds() {
    python3 -c 'import re,sys
m=re.fullmatch(r"([0-9.]+)(ms|s|m)?",sys.argv[1]); v=float(m.group(1))
print(int(v*{"ms":0.001,"s":1,"m":60}[m.group(2) or "s"]+0.999))' "$1"
}

# --- binaries ---------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
    echo "cluster-bench: building release binaries into $TARGET_DIR" >&2
    (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release --quiet --locked -p tickcast -p tickcast-load)
fi
for b in tickcast tickcast-load; do
    [ -x "$TARGET_DIR/release/$b" ] || { echo "cluster-bench: $TARGET_DIR/release/$b is missing (build first, or drop --no-build)" >&2; exit 1; }
done
for tool in redis-server redis-cli curl taskset python3; do
    command -v "$tool" >/dev/null || { echo "cluster-bench: $tool is missing (apt-get install redis-server curl util-linux python3)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if has 4 && [ ! -x "$NGINX" ]; then
    echo "cluster-bench: nginx is missing (apt-get install nginx-light)" >&2
    exit 1
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/bench-results/cluster-$STAMP}
mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
# Measure copies: a rebuild during the run must not change what is measured.
cp "$TARGET_DIR/release/tickcast" "$TARGET_DIR/release/tickcast-load" "$OUT/bin/"
TICKCAST=$OUT/bin/tickcast
LOAD=$OUT/bin/tickcast-load
if [ -n "${BENCH_COMMIT:-}" ]; then
    COMMIT=$BENCH_COMMIT   # binaries built elsewhere (e.g. from `git archive` of a commit)
else
    COMMIT=$(git -C "$ROOT" rev-parse --short=12 HEAD)
    if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- src loadtest Cargo.toml Cargo.lock)" ]; then
        COMMIT="$COMMIT+uncommitted"
    fi
fi
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    free -h | sed -n 2p | awk '{print "memory: " $2 " total, " $7 " available"}'
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "kernel: $(uname -r)"
    echo "tickcast and tickcast-load: $COMMIT"
    echo "redis: $(redis-server --version | sed 's/ sha=.*//')"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
    echo "uptime at start: $(uptime)"
} | tee "$OUT/machine.txt" >&2

# --- processes --------------------------------------------------------------------------------
STARTED=()   # every pid this script started and has not stopped yet
RUN=""       # folder of the current run

stop_pid() { # stop_pid PID [SIGNAL]: that pid only; SIGKILL after 10 s
    local pid=$1 sig=${2:-TERM} i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
forget() { # forget PID: stopped, no longer ours to stop
    local keep=() p
    for p in "${STARTED[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}
stop_all() {
    local i
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        stop_pid "${STARTED[$i]}"
    done
    STARTED=()
}
cleanup() {
    stop_all
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CPU CMD...: in the background, stdout/stderr to $RUN/NAME.out/.err; sets PID.
# CPU is a CPU list for taskset (which execs, so the pid is the program's) or "any".
start() {
    local name=$1 cpu=$2
    shift 2
    if [ "$cpu" = any ]; then
        "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" &
    else
        taskset -c "$cpu" "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" &
    fi
    PID=$!
    STARTED+=("$PID")
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# redis CPU: starts a fresh redis-server for the run; sets REDIS_PID, REDIS_URL.
redis_start() {
    local port i
    port=$(free_port)
    start redis "$1" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no
    REDIS_PID=$PID
    REDIS_URL=redis://127.0.0.1:$port
    for i in $(seq 100); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "cluster-bench: redis-server did not start (see $RUN/redis.out)" >&2
    return 1
}

# tickcast NAME CPU ARGS...: starts a node on port 0 and waits for its ready line; sets PID,
# HTTP (host:port) and FEED (the native feed's host:port, when it has one).
tickcast() {
    local name=$1 cpu=$2 i line
    shift 2
    start "$name" "$cpu" "$TICKCAST" --listen 127.0.0.1:0 "$@"
    for i in $(seq 300); do
        line=$(grep -m1 '"event":"listening"' "$RUN/$name.out" 2>/dev/null || true)
        [ -n "$line" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        echo "cluster-bench: $name did not get ready (see $RUN/$name.err)" >&2
        tail -5 "$RUN/$name.err" >&2 || true
        return 1
    fi
    HTTP=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["http"])' "$line")
    FEED=$(python3 -c 'import json,sys; f=json.loads(sys.argv[1]).get("feeds") or [""]; print(f[0].split("://")[-1])' "$line")
}

# prime FEED_ADDR HTTP [METRIC]: one tick of LT0001 (`qty` 0: the load tester's count for it
# starts at 1, so its ledger reads this tick as the state before the run, shown in the
# snapshot), then waits until the node's METRIC (default tickcast_ticks_ingested_total) is 1.
# Every node gets it, on both sides of a pair: the clients join a node (and an edge joins a
# cluster) that already holds history, the steady state. (Before 7c28830 it was also what kept
# an edge started on an empty Redis from ending its open streams at the cluster's first tick.)
prime() {
    local metric=${3:-tickcast_ticks_ingested_total} i n
    python3 -c 'import socket,sys,time
h,p=sys.argv[1].rsplit(":",1); s=socket.create_connection((h,int(p)))
s.sendall(b"{\"sym\":\"LT0001\",\"px\":100.0,\"qty\":0,\"ts\":%d}\n" % time.time_ns()); s.close()' "$1"
    for i in $(seq 100); do
        n=$(curl -s --max-time 1 "http://$2/metrics" | awk -v m="$metric" '$1 == m {print $2}')
        [ -n "$n" ] && [ "${n%.*}" -ge 1 ] && return 0
        sleep 0.1
    done
    echo "cluster-bench: the priming tick did not reach $metric on $2" >&2
    return 1
}

cpu_seconds() { # utime+stime of PID in seconds
    awk '{sub(/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / 100}' "/proc/$1/stat"
}
listen_overflows() { # the kernel's count of connections dropped by full accept queues (all sockets)
    awk '$1 == "TcpExt:" && !h {for (i = 2; i <= NF; i++) if ($i == "ListenOverflows") c = i; h = 1; next}
         $1 == "TcpExt:" && h {print $c; exit}' /proc/net/netstat
}
scrape() { # scrape HOST:PORT FILE
    curl -s --max-time 5 "http://$1/metrics" >"$2" || true
}

# load BOUND_SECONDS CPU ARGS...: runs tickcast-load into $RUN/report.json (table in load.log).
load() {
    local bound=$1 cpu=$2
    shift 2
    local cmd=("$LOAD" --json "$RUN/report.json" --no-progress "$@")
    [ "$cpu" = any ] || cmd=(taskset -c "$cpu" "${cmd[@]}" --threads 1)
    printf '%q ' "${cmd[@]}" >"$RUN/command.txt"
    echo >>"$RUN/command.txt"
    local rc=0
    timeout --kill-after=20 "$bound" "${cmd[@]}" >"$RUN/load.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        echo "cluster-bench: tickcast-load exited $rc in $RUN (see load.log)" >&2
        tail -5 "$RUN/load.log" >&2 || true
    fi
    return 0
}

# meta KEY=VALUE...: the run's meta.json (date, uptime before/after, the pair, the side...).
META_DATE="" META_UPTIME=""
# CPU time the hypervisor gave to other guests while this VM wanted it (the `steal` field of
# /proc/stat, in clock ticks), machine-wide. On the VMs measured the host takes a vCPU away in
# whole 100 ms slices: every run with steal has ~100 ms freezes of every process at once.
steal_ticks() { awk '/^cpu /{print $9}' /proc/stat; }

begin_run() { # begin_run DIR
    RUN=$1
    mkdir -p "$RUN"
    META_STEAL=$(steal_ticks)
    META_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    META_UPTIME=$(uptime)
    echo "cluster-bench: [$META_DATE] ${RUN#"$OUT"/} (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
}
end_run() { # end_run KEY=JSONVALUE...
    local steal_ms=$((($(steal_ticks) - META_STEAL) * 1000 / $(getconf CLK_TCK)))
    python3 - "$RUN/meta.json" "$META_DATE" "$META_UPTIME" "$(uptime)" "$COMMIT" steal_ms="$steal_ms" "$@" <<'PY'
import json, sys
path, date, before, after, commit, *kv = sys.argv[1:]
meta = {"date": date, "uptime_before": before.strip(), "uptime_after": after.strip(), "commit": commit}
for item in kv:
    k, v = item.split("=", 1)
    try:
        meta[k] = json.loads(v)
    except ValueError:
        meta[k] = v
try:
    meta["command"] = open(path.replace("meta.json", "command.txt")).read().strip()
except OSError:
    pass
json.dump(meta, open(path, "w"), indent=1)
PY
}

# all_side SERVER_CPU LOAD_CPU BOUND LOAD_ARGS...: the `--role all` side of a pair: a node fed
# by tickcast-load's feeder, measured by it, then its /metrics kept as all.metrics.
all_side() {
    local server_cpu=$1 load_cpu=$2 bound=$3
    shift 3
    tickcast all "$server_cpu" --feed tcp-listen://127.0.0.1:0
    prime "$FEED" "$HTTP"
    load "$bound" "$load_cpu" --target "http://$HTTP" --feed "$FEED" --server-pid "$PID" "$@"
    scrape "$HTTP" "$RUN/all.metrics"
}

wait_for_calm() {
    [ -n "$MAX_LOAD" ] || return 0
    local waited=0
    while [ "$waited" -lt 120 ] && python3 -c 'import sys; sys.exit(0 if float(open("/proc/loadavg").read().split()[0]) >= float(sys.argv[1]) else 1)' "$MAX_LOAD"; do
        sleep 5
        waited=$((waited + 5))
    done
}

order() { # order PAIR A B: the two sides, A first on odd pairs
    if [ $(($1 % 2)) = 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi
}

# --- 1: latency the hop adds ------------------------------------------------------------------
C1_LOAD=(--scenario custom -c 10 --symbols 100 --rate 10000 -d "$C1_DURATION")
if has 1; then
    bound=$(($(seconds "$C1_DURATION") + 60))
    for pair in $(seq "$PAIRS"); do
        wait_for_calm
        for side in $(order "$pair" all edge); do
            begin_run "$OUT/1-hop/pair$pair-$side"
            if [ "$side" = all ]; then
                all_side any any "$bound" "${C1_LOAD[@]}"
            else
                redis_start any
                tickcast feed any --role feed --redis "$REDIS_URL" --feed tcp-listen://127.0.0.1:0
                feed_http=$HTTP feed_addr=$FEED
                prime "$FEED" "$HTTP" tickcast_cluster_published_events_total
                tickcast edge any --role edge --redis "$REDIS_URL"
                load "$bound" any --target "http://$HTTP" --feed "$feed_addr" --server-pid "$PID" "${C1_LOAD[@]}"
                scrape "$HTTP" "$RUN/edge.metrics"
                scrape "$feed_http" "$RUN/feed.metrics"
            fi
            stop_all
            end_run case=1 pair="$pair" side="$side"
        done
    done
fi

# --- 2: feed node CPU per tick ----------------------------------------------------------------
if has 2; then
    bound=$(($(seconds "$C2_DURATION") + 60))
    for rate in $C2_RATES; do
        c2=(--scenario custom -c 1 --mix uniform -k 1 --symbols 100 --rate "$rate" -d "$C2_DURATION")
        for pair in $(seq "$PAIRS"); do
            wait_for_calm
            for side in $(order "$pair" all feed); do
                begin_run "$OUT/2-feed/$rate-pair$pair-$side"
                extra=()
                if [ "$side" = all ]; then
                    all_side "$SERVER_CPU" "$LOAD_CPU" "$bound" "${c2[@]}"
                else
                    redis_start "$LOAD_CPU"
                    tickcast feed "$SERVER_CPU" --role feed --redis "$REDIS_URL" --feed tcp-listen://127.0.0.1:0
                    prime "$FEED" "$HTTP" tickcast_cluster_published_events_total
                    r0=$(cpu_seconds "$REDIS_PID")
                    load "$bound" "$LOAD_CPU" --target "http://$HTTP" --feed "$FEED" --server-pid "$PID" "${c2[@]}"
                    r1=$(cpu_seconds "$REDIS_PID")
                    scrape "$HTTP" "$RUN/feed.metrics"
                    extra=(redis_cpu_seconds="$(python3 -c "print(round($r1 - $r0, 2))")")
                fi
                stop_all
                end_run case=2 point="$rate" pair="$pair" side="$side" "${extra[@]}"
            done
        done
    done
fi

# --- 3: edge CPU per delivered event ----------------------------------------------------------
if has 3; then
    bound=$(($(seconds "$C3_DURATION") + 90))
    for point in $C3_POINTS; do
        c=${point%x*} r=${point#*x}
        c3=(--scenario firehose -c "$c" --rate "$r" -d "$C3_DURATION")
        for pair in $(seq "$PAIRS"); do
            wait_for_calm
            for side in $(order "$pair" all edge); do
                begin_run "$OUT/3-edge/$point-pair$pair-$side"
                if [ "$side" = all ]; then
                    all_side "$SERVER_CPU" "$LOAD_CPU" "$bound" "${c3[@]}"
                else
                    redis_start "$LOAD_CPU"
                    tickcast feed "$LOAD_CPU" --role feed --redis "$REDIS_URL" --feed tcp-listen://127.0.0.1:0
                    feed_addr=$FEED
                    prime "$FEED" "$HTTP" tickcast_cluster_published_events_total
                    tickcast edge "$SERVER_CPU" --role edge --redis "$REDIS_URL"
                    load "$bound" "$LOAD_CPU" --target "http://$HTTP" --feed "$feed_addr" --server-pid "$PID" "${c3[@]}"
                    scrape "$HTTP" "$RUN/edge.metrics"
                fi
                stop_all
                end_run case=3 point="$point" pair="$pair" side="$side"
            done
        done
    done
fi

# --- 4: an edge killed behind nginx -----------------------------------------------------------
nginx_conf() { # nginx_conf DIR PORT BACKLOG MULTI_ACCEPT EDGE... : deploy/nginx's settings on 127.0.0.1
    local dir=$1 port=$2 backlog=$3 multi=$4
    shift 4
    local files
    files=$(ulimit -Hn)
    [ "$files" = unlimited ] && files=65536
    mkdir -p "$dir/logs" "$dir/tmp"
    {
        echo "worker_processes auto;"
        echo "worker_rlimit_nofile $files;"
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/logs/error.log warn;"
        echo "events { worker_connections $((files / 2)); multi_accept $multi; }"
        echo "http {"
        echo "  access_log off;"
        echo "  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;"
        echo "  fastcgi_temp_path $dir/tmp/fcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;"
        echo "  upstream tickcast_edges {"
        echo "    least_conn;"
        for e in "$@"; do echo "    server $e max_fails=1 fail_timeout=10s;"; done
        echo "    keepalive 32;"
        echo "  }"
        echo "  server {"
        echo "    listen 127.0.0.1:$port backlog=$backlog;"
        echo "    location / {"
        echo "      proxy_pass http://tickcast_edges;"
        echo "      proxy_http_version 1.1;"
        echo "      proxy_set_header Connection \"\";"
        echo "      proxy_set_header Host \$host;"
        echo "      proxy_set_header Last-Event-ID \$http_last_event_id;"
        echo "      proxy_buffering off;"
        echo "      proxy_cache off;"
        echo "      gzip off;"
        echo "      proxy_read_timeout 1h;"
        echo "      proxy_next_upstream error timeout;"
        echo "      proxy_next_upstream_timeout 10s;"
        echo "      proxy_connect_timeout 2s;"
        echo "    }"
        echo "  }"
        echo "}"
    } >"$dir/nginx.conf"
}

if has 4; then
    d4=$(seconds "$C4_DURATION")
    bound=$((d4 + 120))
    for run in $(seq "$C4_RUNS"); do
      # The variants alternate their order from one run to the next, like the pairs.
      variants=$C4_NGINX
      [ $((run % 2)) = 0 ] && variants=$(echo "$C4_NGINX" | tr ' ' '\n' | tac | tr '\n' ' ')
      for variant in $variants; do
        backlog=${variant%:*} multi=${variant#*:}
        wait_for_calm
        begin_run "$OUT/4-kill/nginx-$backlog-$multi-run$run"
        redis_start any
        tickcast feed any --role feed --redis "$REDIS_URL" --feed tcp-listen://127.0.0.1:0
        feed_http=$HTTP feed_addr=$FEED
        prime "$FEED" "$HTTP" tickcast_cluster_published_events_total
        edges=() edge_pids=()
        for e in 1 2 3; do
            tickcast "edge$e" any --role edge --redis "$REDIS_URL"
            edges+=("$HTTP")
            edge_pids+=("$PID")
        done
        port=$(free_port)
        nginx_conf "$RUN/nginx" "$port" "$backlog" "$multi" "${edges[@]}"
        "$NGINX" -t -q -c "$RUN/nginx/nginx.conf" -p "$RUN/nginx" -g 'daemon off;' 2>"$RUN/nginx-t.err" ||
            { echo "cluster-bench: nginx config refused (see $RUN/nginx-t.err)" >&2; cat "$RUN/nginx-t.err" >&2; exit 1; }
        start nginx any "$NGINX" -c "$RUN/nginx/nginx.conf" -p "$RUN/nginx" -g 'daemon off;'
        for i in $(seq 50); do
            curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" && break
            sleep 0.1
        done
        # The load tester in the background; the kill comes at half the feed's duration,
        # counted from the moment the feed node has taken its first tick.
        cmd=("$LOAD" --json "$RUN/report.json" --no-progress --target "http://127.0.0.1:$port"
            --feed "$feed_addr" --scenario firehose -c "$C4_CLIENTS" --rate "$C4_RATE" -d "$C4_DURATION"
            --connect-timeout 15s --drain-timeout 10s --reconnect-on-error)
        printf '%q ' "${cmd[@]}" >"$RUN/command.txt"
        echo >>"$RUN/command.txt"
        overflows0=$(listen_overflows)
        timeout --kill-after=20 "$bound" "${cmd[@]}" >"$RUN/load.log" 2>&1 &
        load_pid=$!
        STARTED+=("$load_pid")
        started=""
        for i in $(seq $((bound * 10))); do
            kill -0 "$load_pid" 2>/dev/null || break
            n=$(curl -s --max-time 1 "http://$feed_http/metrics" | awk '$1 == "tickcast_ticks_ingested_total" {print $2}')
            if [ -n "$n" ] && [ "${n%.*}" -gt 1 ]; then started=1; break; fi
            sleep 0.1
        done
        killed_streams=null killed=-1
        if [ -n "$started" ]; then
            sleep "$(python3 -c "print($d4 / 2)")"
            # The edge holding the most streams.
            best=-1
            for e in 0 1 2; do
                s=$(curl -s --max-time 1 "http://${edges[$e]}/metrics" | awk '$1 ~ /^tickcast_subscribers[{]/ {n += $2} END {print n + 0}')
                if [ -n "$s" ] && [ "${s%.*}" -gt "$best" ]; then best=${s%.*} killed=$e; fi
            done
            killed_streams=$best
            echo "cluster-bench: SIGKILL edge$((killed + 1)) (pid ${edge_pids[$killed]}, $best streams)" >&2
            kill -KILL "${edge_pids[$killed]}"
            wait "${edge_pids[$killed]}" 2>/dev/null || true
            forget "${edge_pids[$killed]}"
        fi
        wait "$load_pid" 2>/dev/null || echo "cluster-bench: tickcast-load exited non-zero (see $RUN/load.log)" >&2
        forget "$load_pid"
        overflows=$(($(listen_overflows) - overflows0))
        counters="{}"
        for e in 0 1 2; do
            [ "$e" = "$killed" ] && continue
            scrape "${edges[$e]}" "$RUN/edge$((e + 1)).metrics"
        done
        counters=$(cat "$RUN"/edge*.metrics 2>/dev/null | python3 -c '
import json, re, sys
total = {}
for line in sys.stdin:
    m = re.match(r"tickcast_cluster_(duplicates|gaps|epoch_changes|rejected_messages)_total (\d+)", line)
    if m:
        total[m.group(1)] = total.get(m.group(1), 0) + int(m.group(2))
print(json.dumps(total))')
        grep -c "upstream prematurely closed" "$RUN/nginx/logs/error.log" >"$RUN/nginx-premature.txt" 2>/dev/null || true
        stop_all
        end_run case=4 run="$run" backlog="$backlog" multi_accept="$multi" killed_edge="$((killed + 1))" \
            killed_streams="$killed_streams" edge_counters="$counters" clients="$C4_CLIENTS" \
            rate="$C4_RATE" listen_overflows="$overflows"
      done
    done
fi

summarize "$OUT"
echo "cluster-bench: results in $OUT" >&2
