#!/usr/bin/env bash
# A tickcast cluster on this machine (issue 12): redis-server, one feed node, N edge nodes and
# nginx in front of the edges, all on 127.0.0.1, all stopped by PID when the script exits.
#
#   scripts/cluster-demo.sh                       # runs until Ctrl-C (or SIGTERM)
#   scripts/cluster-demo.sh --duration 60         # ... or for 60 s
#   scripts/cluster-demo.sh --check               # start, smoke-test through nginx, stop
#   scripts/cluster-demo.sh --check-failover      # also kill an edge under a live stream
#   TICKCAST_BIN=target/debug/tickcast scripts/cluster-demo.sh --duration 20 --check
#
# What it does:
# - installs Debian's redis-server and nginx (apt-get, as root or with passwordless sudo) when
#   they are missing; nothing is installed when they are present. The demo never uses the
#   packages' own services or /etc/nginx: every config, log and pid file is in a temp dir
#   (printed; kept when something fails or with --keep, removed otherwise);
# - builds tickcast (`cargo build --release --locked`) unless TICKCAST_BIN names a binary;
# - starts redis-server (no persistence), the feed node (`--role feed`, synthetic market, or a
#   TCP feed listener with --tcp-feed), the edges (`--role edge`, each on a free port it picks
#   itself and prints in its JSON ready line), and nginx (least_conn over the edges, no
#   buffering: the settings of deploy/nginx/tickcast.conf);
# - prints the stream and dashboard URLs, every PID and where the logs are, then waits.
#
# On exit (Ctrl-C, SIGTERM, --duration elapsed, a failed check) a trap stops exactly the
# processes this script started, by the PIDs it recorded, and nothing else. Every process is
# started in its own session (setsid), so a Ctrl-C in the terminal reaches only this script:
# tickcast treats a second signal as "exit at once", and we want each node to get one SIGTERM
# and drain its streams (every stream gets a final `retry:`) instead.
#
# Options:
#   --edges N          edge nodes (default 3)
#   --duration S       stop after S seconds (counted from the moment everything is up)
#   --port P           nginx's port on 127.0.0.1 (default: a free one)
#   --tcp-feed         the feed node reads `--feed tcp-listen://127.0.0.1:0` instead of the
#                      synthetic market (the port is printed; --check then feeds it itself)
#   --standby          also start a second feed node: it waits as a standby on the Redis lease
#                      and takes over (new epoch) if the first one is stopped
#   --shards N         --shards of every node (default 1: four nodes share this machine)
#   --check            after start-up, read a stream through nginx for 2 s and fail unless
#                      events arrive; resume with Last-Event-ID on every edge directly and fail
#                      unless all edges give the same events with the same ids (no reset).
#                      Without --duration the script then stops (exit 0 when all passed)
#   --check-failover   --check, then kill -KILL the edge under a stream read through nginx and
#                      resume it through nginx with Last-Event-ID: it must land on another edge
#                      and, compared with reference streams read from every other edge, have
#                      no gap and no duplicate; requests through nginx must skip the dead edge.
#                      Needs --edges 3 or more. The killed edge stays down
#   --keep             keep the temp dir (logs, configs) after a successful run too
#
# Environment: TICKCAST_BIN (a tickcast built with issue 12), REDIS_SERVER and NGINX (binaries,
# default: from PATH or Debian's paths). Traffic goes to 127.0.0.1 only.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
    echo "cluster-demo: error: $*" >&2
    exit 1
}

say() {
    echo "cluster-demo: $*" >&2
}

EDGES=3
DURATION=""
NGINX_PORT=""
TCP_FEED=0
STANDBY=0
SHARDS=1
CHECK=0
FAILOVER=0
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --edges) EDGES=${2:?--edges needs a number}; shift ;;
        --duration) DURATION=${2:?--duration needs seconds}; shift ;;
        --port) NGINX_PORT=${2:?--port needs a port}; shift ;;
        --tcp-feed) TCP_FEED=1 ;;
        --standby) STANDBY=1 ;;
        --shards) SHARDS=${2:?--shards needs a number}; shift ;;
        --check) CHECK=1 ;;
        --check-failover) CHECK=1; FAILOVER=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "cluster-demo: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
if ! is_uint "$EDGES" || [ "$EDGES" -lt 1 ]; then
    echo "cluster-demo: --edges must be >= 1" >&2
    exit 2
fi
if ! is_uint "$SHARDS" || [ "$SHARDS" -lt 1 ]; then
    echo "cluster-demo: --shards must be >= 1" >&2
    exit 2
fi
[ -z "$DURATION" ] || is_uint "$DURATION" || { echo "cluster-demo: --duration takes whole seconds" >&2; exit 2; }
[ -z "$NGINX_PORT" ] || { is_uint "$NGINX_PORT" && [ "$NGINX_PORT" -ge 1 ] && [ "$NGINX_PORT" -le 65535 ]; } ||
    { echo "cluster-demo: --port must be 1-65535" >&2; exit 2; }
if [ "$FAILOVER" = 1 ] && [ "$EDGES" -lt 3 ]; then
    # One edge to kill, one to resume on, and at least one more: then one reference stream
    # comes from an edge that served neither half of the resumed stream.
    echo "cluster-demo: --check-failover needs --edges 3 or more" >&2
    exit 2
fi

# A relative TICKCAST_BIN means relative to where the script was called from, not to the repo.
if [ -n "${TICKCAST_BIN:-}" ]; then
    case "$TICKCAST_BIN" in
        /*) ;;
        *) TICKCAST_BIN="$PWD/$TICKCAST_BIN" ;;
    esac
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SYMBOLS=SYN0001,SYN0002
# Plain logs (tracing-subscriber honours NO_COLOR): they go to files, not to a terminal.
export NO_COLOR=1

# --- packages ---------------------------------------------------------------------------------
# Debian puts nginx in /usr/sbin, which is not on a normal user's PATH.
find_bin() { # find_bin NAME DEBIAN_PATH: prints the path, or nothing
    command -v "$1" 2>/dev/null || { [ -x "$2" ] && echo "$2"; } || true
}
REDIS_SERVER=${REDIS_SERVER:-$(find_bin redis-server /usr/bin/redis-server)}
NGINX=${NGINX:-$(find_bin nginx /usr/sbin/nginx)}
CURL=$(find_bin curl /usr/bin/curl)
missing=()
[ -n "$REDIS_SERVER" ] || missing+=(redis-server)
[ -n "$NGINX" ] || missing+=(nginx)
[ -n "$CURL" ] || [ "$CHECK" = 0 ] || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found; install ${missing[*]} by hand (or set REDIS_SERVER / NGINX)"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "must run as root (or with sudo) to install ${missing[*]}"
        SUDO=(sudo -n)
    fi
    say "installing ${missing[*]} from Debian's packages (apt-get)..."
    # Debian's packages may enable their own services (redis on 6379, nginx on 80) where
    # systemd runs; this demo does not use them (`systemctl disable --now redis-server nginx`).
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    REDIS_SERVER=$(find_bin redis-server /usr/bin/redis-server)
    NGINX=$(find_bin nginx /usr/sbin/nginx)
    CURL=$(find_bin curl /usr/bin/curl)
    if [ -z "$REDIS_SERVER" ] || [ -z "$NGINX" ]; then
        die "redis-server or nginx still missing after apt-get"
    fi
fi

# --- tickcast ---------------------------------------------------------------------------------
if [ -z "${TICKCAST_BIN:-}" ]; then
    say "building tickcast (cargo build --release --locked)..."
    cargo build --release --locked --bin tickcast >&2
    TICKCAST_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/tickcast
fi
[ -x "$TICKCAST_BIN" ] || die "$TICKCAST_BIN is not an executable"
# Fail early and clearly on a build from before issue 12 (it would refuse --role, exit 2).
"$TICKCAST_BIN" --help 2>/dev/null | grep -q -- '--role' ||
    die "$TICKCAST_BIN has no --role flag (a build from before issue 12?)"

# --- bookkeeping: what we started, and the trap that stops it --------------------------------
TMP=$(mktemp -d -t tickcast-cluster.XXXXXX)
# nginx's workers drop to `nobody` when the master runs as root: let them traverse to their
# temp paths (they cannot list the dir, and nothing in it is secret).
chmod 0711 "$TMP"
NAMES=()      # NAMES[i] / PIDS[i]: one entry per process this script started
PIDS=()
GONE=()       # 1 once we saw (and said) that PIDS[i] exited
FAILED=0
EDGE_ADDRS=() # 127.0.0.1:PORT of edge 1..N (index 0..N-1)
EDGE_PIDS=()

track() { # track NAME PID
    NAMES+=("$1")
    PIDS+=("$2")
    GONE+=(0)
}

# alive PID: PID is running and is a child of this shell. bash reaps its children as they exit,
# after which the kernel may give their PID to an unrelated process: checking the parent
# (field 4 of /proc/PID/stat, after the command name in parentheses) means a PID we recorded
# is never signalled once it belongs to someone else. A zombie (state Z) counts as gone.
alive() {
    local stat state ppid
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r state ppid _ <<<"${stat##*) }"
    [ "$ppid" = "$$" ] && [ "$state" != Z ]
}

# Only ever signals a PID recorded by track() that is still our child (alive above).
stop_pids() { # stop_pids SIGNAL GRACE_SECONDS PID...
    local sig=$1 grace=$2 pid alive deadline
    shift 2
    for pid in "$@"; do
        if alive "$pid"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
    done
    deadline=$((SECONDS + grace))
    while :; do
        alive=()
        for pid in "$@"; do
            if alive "$pid"; then alive+=("$pid"); fi
        done
        [ ${#alive[@]} -eq 0 ] && break
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "pid(s) ${alive[*]} still running after ${grace}s; sending KILL"
            for pid in "${alive[@]}"; do
                if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
            done
            break
        fi
        sleep 0.1
    done
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

pids_named() { # pids_named PREFIX: the recorded PIDs whose name starts with PREFIX
    local i found=()
    for i in "${!PIDS[@]}"; do
        case "${NAMES[$i]}" in "$1"*) found+=("${PIDS[$i]}") ;; esac
    done
    echo "${found[@]}"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Ctrl-C (130) and SIGTERM (143) are how a demo normally ends: not failures.
    case "$rc" in 0 | 130 | 143) ;; *) FAILED=1 ;; esac
    if [ ${#PIDS[@]} -gt 0 ]; then
        say "stopping what it started: ${PIDS[*]}"
        # Order: helpers (curl readers, the check's feeder, sleep) first; then nginx, so no new
        # request reaches an edge that is going away; then the tickcast nodes together (each
        # drains its streams, bounded by its --drain-timeout, 5 s); Redis last, so they can
        # still talk to it while they drain.
        # shellcheck disable=SC2046 # lists of PIDs, split on purpose
        stop_pids TERM 3 $(pids_named helper)
        # shellcheck disable=SC2046
        stop_pids TERM 5 $(pids_named nginx)
        # shellcheck disable=SC2046
        stop_pids TERM 10 $(pids_named edge) $(pids_named feed)
        # shellcheck disable=SC2046
        stop_pids TERM 5 $(pids_named redis)
    fi
    if [ "$FAILED" = 1 ] || [ "$KEEP" = 1 ]; then
        say "logs and configs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
# Never a silent exit: name the command that stopped the script (set -e).
trap 'say "error: exit $? at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME OUT ERR CMD...: starts CMD in its own session with stdout to OUT and stderr to
# ERR, records it; its PID is in $LAST_PID. (Not via $(...): the process must be a child of
# this shell for `wait` to reap it.) setsid does not fork here (a background job is not a
# process-group leader), so $! is the program's own PID.
start_bg() {
    local name=$1 out=$2 err=$3
    shift 3
    setsid "$@" >"$out" 2>"$err" </dev/null &
    LAST_PID=$!
    track "$name" "$LAST_PID"
}

# A free TCP port on 127.0.0.1, from the kernel (bind to port 0). Another process could take
# it before we use it: the callers retry with a new one when their bind fails.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    # Without python3: a random port of the dynamic range that nothing answers on.
    local port i
    for i in $(seq 1 50); do
        port=$((49152 + RANDOM % 16000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "found no free port"
}

# Connect to 127.0.0.1:PORT (bash's /dev/tcp): succeeds once something listens there.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PING Redis over /dev/tcp (no redis-cli needed): succeeds on +PONG.
redis_ping() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [[ $reply == +PONG* ]]
    ) 2>/dev/null
}

show_log() { # show_log FILE: the end of a log, to say why something did not start
    echo "---- last lines of $1:" >&2
    tail -n 15 "$1" >&2 || true
    echo "----" >&2
}

# wait_ready NAME PID OUT TIMEOUT: waits for tickcast's JSON ready line on OUT; prints it.
wait_ready() {
    local name=$1 pid=$2 out=$3 timeout=$4 line deadline
    deadline=$((SECONDS + timeout))
    while :; do
        line=$(grep -m1 '"event": *"listening"' "$out" 2>/dev/null || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        if ! alive "$pid"; then
            wait "$pid" 2>/dev/null || true
            show_log "${out%.out}.log"
            die "$name (pid $pid) exited before it was ready"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log "${out%.out}.log"
            die "$name (pid $pid) printed no ready line within ${timeout}s"
        fi
        sleep 0.1
    done
}

json_http() { # the "http" address of a ready line
    sed -n 's/.*"http": *"\([^"]*\)".*/\1/p' <<<"$1"
}

# --- redis ------------------------------------------------------------------------------------
mkdir -p "$TMP/redis"
REDIS_PORT=""
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    : >"$TMP/redis.log"
    # No persistence (--save "", --appendonly no): a demo's history lives as long as the demo.
    start_bg redis "$TMP/redis.out" "$TMP/redis.err" "$REDIS_SERVER" \
        --bind 127.0.0.1 --port "$port" --protected-mode yes \
        --save "" --appendonly no --dir "$TMP/redis" --logfile "$TMP/redis.log" --daemonize no
    pid=$LAST_PID
    for _ in $(seq 1 100); do
        redis_ping "$port" && { REDIS_PORT=$port; break; }
        alive "$pid" || break
        sleep 0.1
    done
    [ -n "$REDIS_PORT" ] && break
    stop_pids TERM 2 "$pid"
    if grep -qi 'address already in use' "$TMP/redis.log" "$TMP/redis.err"; then
        say "port $port was taken before redis-server bound it; trying another (attempt $attempt)"
        continue
    fi
    show_log "$TMP/redis.log"
    die "redis-server did not start"
done
[ -n "$REDIS_PORT" ] || die "redis-server could not bind a free port in 5 attempts"
REDIS_PID=$pid
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# --- the feed node(s) -------------------------------------------------------------------------
feed_args=(--role feed --redis "$REDIS_URL" --listen 127.0.0.1:0 --shards "$SHARDS")
if [ "$TCP_FEED" = 1 ]; then
    feed_args+=(--feed tcp-listen://127.0.0.1:0)
else
    feed_args+=(--feed synthetic)
fi
start_bg feed "$TMP/feed.out" "$TMP/feed.log" "$TICKCAST_BIN" "${feed_args[@]}"
FEED_PID=$LAST_PID
feed_ready=$(wait_ready feed "$FEED_PID" "$TMP/feed.out" 30)
FEED_HTTP=$(json_http "$feed_ready")
FEED_TCP=""
if [ "$TCP_FEED" = 1 ]; then
    FEED_TCP=$(sed -n 's|.*"feeds": *\[ *"tcp-listen://\([^"]*\)".*|\1|p' <<<"$feed_ready")
    [ -n "$FEED_TCP" ] || die "no tcp-listen address in the feed's ready line: $feed_ready"
fi
STANDBY_PID=""
if [ "$STANDBY" = 1 ]; then
    # It prints its ready line only once it holds the lease: do not wait for one.
    start_bg feed-standby "$TMP/feed-standby.out" "$TMP/feed-standby.log" "$TICKCAST_BIN" "${feed_args[@]}"
    STANDBY_PID=$LAST_PID
fi

# --- the edges --------------------------------------------------------------------------------
# All start at once; each prints its ready line after its first backfill from Redis.
for i in $(seq 1 "$EDGES"); do
    start_bg "edge$i" "$TMP/edge$i.out" "$TMP/edge$i.log" "$TICKCAST_BIN" \
        --role edge --redis "$REDIS_URL" --listen 127.0.0.1:0 --shards "$SHARDS"
    EDGE_PIDS+=("$LAST_PID")
done
for i in $(seq 1 "$EDGES"); do
    line=$(wait_ready "edge$i" "${EDGE_PIDS[$((i - 1))]}" "$TMP/edge$i.out" 30)
    addr=$(json_http "$line")
    [ -n "$addr" ] || die "no http address in edge$i's ready line: $line"
    grep -q '"role": *"edge"' <<<"$line" || die "edge$i's ready line does not say \"role\":\"edge\": $line"
    EDGE_ADDRS+=("$addr")
done

# --- nginx ------------------------------------------------------------------------------------
mkdir -p "$TMP/nginx"
write_nginx_conf() { # write_nginx_conf PORT
    local servers="" a
    for a in "${EDGE_ADDRS[@]}"; do
        # max_fails=1 fail_timeout=10s: one refused connection takes the edge out of the
        # rotation for 10 s, so the reconnect storm of a dead edge's clients skips it at once.
        servers+="        server $a max_fails=1 fail_timeout=10s;"$'\n'
    done
    # Relative paths resolve against the prefix (-p "$TMP/nginx/"); /etc/nginx is not read.
    cat >"$TMP/nginx/nginx.conf" <<EOF
# Written by scripts/cluster-demo.sh; the production version is deploy/nginx/tickcast.conf.
worker_processes 1;
pid nginx.pid;
error_log error.log notice;

events {
    worker_connections 4096;   # each SSE client holds two: client side and edge side
    # Accept every pending connection per wake-up: when an edge dies its clients all come back
    # at once; with one accept per wake-up, resumes took 4-19 s and hundreds timed out
    # (BENCHMARKS.md, "Cluster", case 4) instead of 2.3-2.6 s.
    multi_accept on;
}

http {
    access_log access.log;
    client_body_temp_path body;
    proxy_temp_path       proxy;
    fastcgi_temp_path     fastcgi;
    uwsgi_temp_path       uwsgi;
    scgi_temp_path        scgi;

    upstream tickcast_edges {
        # New streams go to the edge with the fewest open connections: SSE connections are
        # long-lived, so round-robin would leave the edges uneven after restarts.
        least_conn;
${servers}        keepalive 16;              # idle connections to the edges, for short requests
    }

    server {
        listen 127.0.0.1:$1;

        location / {
            proxy_pass http://tickcast_edges;
            # HTTP/1.1 to the edges, "Connection:" cleared: needed for chunked streaming
            # responses and for the keepalive pool above.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            # Every event goes to the client as soon as the edge writes it (tickcast also sends
            # X-Accel-Buffering: no); never store a stream.
            proxy_buffering off;
            proxy_cache off;
            gzip off;
            # An idle stream gets a ": hb" comment every --heartbeat (15 s): a timeout far
            # above that never cuts a live stream, and still reaps a dead one.
            proxy_read_timeout 1h;
            # nginx passes request headers on by default, Last-Event-ID included; said here so
            # no later "proxy_set_header" edit drops the header resuming depends on.
            proxy_set_header Last-Event-ID \$http_last_event_id;
            # A refused or timed-out connection to an edge (a dead edge) is retried on the next
            # one before anything was sent to the client (nginx's default, spelled out).
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            # Demo only: which edge served the request (--check reads it).
            add_header X-Tickcast-Upstream \$upstream_addr always;
        }
    }
}
EOF
}

NGINX_PID=""
for attempt in 1 2 3 4 5; do
    port=${NGINX_PORT:-$(free_port)}
    # Something already answering there would also pass the readiness test below.
    if port_open "$port"; then
        [ -z "$NGINX_PORT" ] || die "127.0.0.1:$port (--port) is already in use"
        continue
    fi
    write_nginx_conf "$port"
    nginx_cmd=("$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf")
    "${nginx_cmd[@]}" -t -q -g 'daemon off;' || die "nginx refused its config ($TMP/nginx/nginx.conf)"
    # In the foreground (daemon off) so $! is the master's PID; its workers are its children.
    start_bg nginx "$TMP/nginx/stdout.log" "$TMP/nginx/stderr.log" "${nginx_cmd[@]}" -g 'daemon off;'
    pid=$LAST_PID
    ok=0
    for _ in $(seq 1 50); do
        alive "$pid" || break
        # The master starts its workers only after it bound the port (a failed bind exits).
        if grep -q 'start worker process' "$TMP/nginx/error.log" 2>/dev/null && port_open "$port"; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if [ "$ok" = 1 ]; then
        NGINX_PID=$pid
        NGINX_PORT=$port
        break
    fi
    stop_pids TERM 2 "$pid"
    if [ -z "$NGINX_PORT" ] && grep -qi 'address already in use' "$TMP/nginx/error.log" "$TMP/nginx/stderr.log"; then
        say "port $port was taken before nginx bound it; trying another (attempt $attempt)"
        continue
    fi
    show_log "$TMP/nginx/error.log"
    die "nginx did not start on 127.0.0.1:$port"
done
[ -n "$NGINX_PID" ] || die "nginx could not bind a free port in 5 attempts"

BASE="http://127.0.0.1:$NGINX_PORT"
STREAM_URL="$BASE/v1/stream?symbols=$SYMBOLS"
UP_AT=$SECONDS

{
    echo
    echo "tickcast cluster up (temp dir $TMP):"
    echo "  stream     curl -N '$STREAM_URL'"
    echo "  dashboard  $BASE/?symbols=$SYMBOLS"
    printf '  %-10s pid %-7s %s\n' redis "$REDIS_PID" "$REDIS_URL (log $TMP/redis.log)"
    if [ "$TCP_FEED" = 1 ]; then
        printf '  %-10s pid %-7s %s\n' feed "$FEED_PID" "http://$FEED_HTTP, ticks to tcp://$FEED_TCP (log $TMP/feed.log)"
    else
        printf '  %-10s pid %-7s %s\n' feed "$FEED_PID" "http://$FEED_HTTP, synthetic market (log $TMP/feed.log)"
    fi
    [ -z "$STANDBY_PID" ] ||
        printf '  %-10s pid %-7s %s\n' standby "$STANDBY_PID" "waits on the lease (log $TMP/feed-standby.log)"
    for i in $(seq 1 "$EDGES"); do
        printf '  %-10s pid %-7s %s\n' "edge$i" "${EDGE_PIDS[$((i - 1))]}" \
            "http://${EDGE_ADDRS[$((i - 1))]} (/healthz, /metrics; log $TMP/edge$i.log)"
    done
    printf '  %-10s pid %-7s %s\n' nginx "$NGINX_PID" "$BASE -> least_conn over the edges (config $TMP/nginx/nginx.conf)"
    if [ "$TCP_FEED" = 1 ]; then
        echo "  feed a tick (bash):  echo '{\"sym\":\"SYN0001\",\"px\":101.25,\"qty\":300,\"ts\":'\$(date +%s%N)'}' > /dev/tcp/${FEED_TCP%:*}/${FEED_TCP##*:}"
    fi
    if [ "$EDGES" -ge 2 ]; then
        echo "  failover:  kill ${EDGE_PIDS[0]}  (edge1), then resume: curl -N -H 'Last-Event-ID: <last id>' '$STREAM_URL'"
    fi
    if [ -n "$STANDBY_PID" ]; then
        echo "  take-over: kill $FEED_PID  (the feed): the standby takes the lease within --leader-lease (5 s)"
    fi
    echo
}

# --- checks -----------------------------------------------------------------------------------
# With --tcp-feed nothing produces ticks by itself: a helper writes two ticks every 50 ms to the
# feed port while the checks run.
start_feeder() {
    [ "$TCP_FEED" = 1 ] || return 0
    # shellcheck disable=SC2016 # expanded by the inner bash
    start_bg helper-feeder /dev/null "$TMP/feeder.log" bash -c '
        exec 3<>"/dev/tcp/$1/$2"
        px=100
        while :; do
            px=$(( px % 900 + 1 ))
            now=$(date +%s%N)
            printf "{\"sym\":\"SYN0001\",\"px\":%d.25,\"qty\":100,\"ts\":%s}\n{\"sym\":\"SYN0002\",\"bid\":%d.10,\"ask\":%d.20,\"ts\":%s}\n" \
                "$px" "$now" "$px" "$px" "$now" >&3
            sleep 0.05
        done' feeder "${FEED_TCP%:*}" "${FEED_TCP##*:}"
}

# events FILE: the complete SSE events of a captured stream, one per line: "ID<TAB>TYPE<TAB>DATA".
# An event is complete once its blank line arrived (what EventSource dispatches); a stream cut
# mid-event leaves a partial block at the end, which is dropped here as a browser would.
events() {
    [ -f "$1" ] || return 0   # curl writes no file when no byte of body arrived
    awk '
        /^$/ { if (id != "") print id "\t" (type == "" ? "message" : type) "\t" data; id = type = data = ""; next }
        /^id: /    { id = substr($0, 5); next }
        /^event: / { type = substr($0, 8); next }
        /^data: /  { data = substr($0, 7); next }
    ' "$1"
}

# ids_increase FILE: the ids of FILE's events strictly increase.
ids_increase() {
    events "$1" | awk -F'\t' 'NR > 1 && $1 + 0 <= prev + 0 { bad = 1 } { prev = $1 } END { exit bad }'
}

upstream_of() { # upstream_of HEADERS_FILE: the edge nginx picked (X-Tickcast-Upstream)
    [ -f "$1" ] || return 0
    tr -d '\r' <"$1" | sed -n 's/^[Xx]-[Tt]ickcast-[Uu]pstream: *//p' | tail -n 1
}

edge_index_of() { # edge_index_of ADDR: 0-based index in EDGE_ADDRS, or -1
    local i
    for i in "${!EDGE_ADDRS[@]}"; do
        [ "${EDGE_ADDRS[$i]}" = "$1" ] && { echo "$i"; return; }
    done
    echo -1
}

check_fail() {
    say "CHECK FAILED: $*"
    FAILED=1
    exit 1
}

run_check() {
    local out=$TMP/check-stream.txt hdr=$TMP/check-stream.headers n_ev n_tick last up health
    start_feeder
    say "check: reading $STREAM_URL through nginx for 2 s"
    "$CURL" -sS -N --max-time 2 -D "$hdr" -o "$out" "$STREAM_URL" 2>"$TMP/check-curl.err" || true
    n_ev=$(events "$out" | wc -l)
    n_tick=$(events "$out" | awk -F'\t' '$2 == "tick"' | wc -l)
    up=$(upstream_of "$hdr")
    [ "$n_tick" -gt 0 ] || check_fail "no tick arrived through nginx in 2 s ($n_ev events; $(head -n 1 "$hdr" | tr -d '\r'): $(head -c 300 "$out"))"
    ids_increase "$out" || check_fail "ids do not strictly increase on one stream ($out)"
    if events "$out" | awk -F'\t' '$2 == "reset"' | grep -q .; then
        check_fail "a fresh stream got a reset ($out)"
    fi
    last=$(events "$out" | tail -n 1 | cut -f1)
    say "check: ok, $n_ev events ($n_tick ticks) through nginx from edge $up, last id $last"

    health=$("$CURL" -sS --max-time 2 "$BASE/healthz" || true)
    case "$health" in
        *'"status":"ok"'*) say "check: ok, /healthz through nginx: $health" ;;
        *) check_fail "/healthz through nginx: $health" ;;
    esac

    # The same resume on every edge directly: each must serve it from its ring (no reset) with
    # the same events, ids and bytes (the edges are compared over the events all of them got).
    local i pids=() files=() f k ref
    say "check: resuming Last-Event-ID $last on each of the $EDGES edges directly for 2 s"
    for i in "${!EDGE_ADDRS[@]}"; do
        f=$TMP/check-resume-edge$((i + 1)).txt
        files+=("$f")
        "$CURL" -sS -N --max-time 2 -H "Last-Event-ID: $last" -o "$f" \
            "http://${EDGE_ADDRS[$i]}/v1/stream?symbols=$SYMBOLS" 2>/dev/null &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || true; done
    k=""
    for f in "${files[@]}"; do
        if events "$f" | awk -F'\t' '$2 != "tick"' | grep -q .; then
            check_fail "resume on one edge gave more than ticks (a reset?): $(events "$f" | awk -F'\t' '$2 != "tick"' | head -n 1) ($f)"
        fi
        events "$f" | awk -F'\t' -v last="$last" '$1 + 0 <= last + 0 { bad = 1 } END { exit bad }' ||
            check_fail "resume after $last replayed an id <= $last ($f)"
        n_ev=$(events "$f" | wc -l)
        [ "$n_ev" -gt 0 ] || check_fail "resume on an edge gave no tick in 2 s ($f)"
        if [ -z "$k" ] || [ "$n_ev" -lt "$k" ]; then k=$n_ev; fi
    done
    ref=$(events "${files[0]}" | head -n "$k")
    for f in "${files[@]:1}"; do
        [ "$(events "$f" | head -n "$k")" = "$ref" ] ||
            check_fail "edges disagree on the events after $last: compare ${files[0]} and $f"
    done
    say "check: ok, all $EDGES edges resumed after $last from their rings with the same $k first events (ids, bytes)"
}

run_failover_check() {
    local a=$TMP/failover-a.txt ah=$TMP/failover-a.headers b=$TMP/failover-b.txt bh=$TMP/failover-b.headers
    local a_pid up k_idx m n up_b n_a n_b n_r i r codes
    local ref_pids=() ref_idx=()
    say "failover: a stream through nginx (A); reference streams on the other edges (R); kill A's edge"
    "$CURL" -sS -N --max-time 60 -D "$ah" -o "$a" "$STREAM_URL" 2>"$TMP/failover-a.err" &
    a_pid=$!
    track helper-curl-a "$a_pid"
    sleep 1.5
    up=$(upstream_of "$ah")
    k_idx=$(edge_index_of "$up")
    [ "$k_idx" -ge 0 ] || check_fail "cannot tell which edge serves stream A (X-Tickcast-Upstream: '$up')"
    m=$(events "$a" | tail -n 1 | cut -f1)
    [ -n "$m" ] || check_fail "stream A got no event in 1.5 s ($a)"
    # Each R resumes from A's last id at this moment, on every edge but A's: from here on, A
    # then B (the resumed stream) must carry exactly the events of every R, whichever edge
    # nginx gives B.
    for i in "${!EDGE_ADDRS[@]}"; do
        [ "$i" != "$k_idx" ] || continue
        "$CURL" -sS -N --max-time 60 -H "Last-Event-ID: $m" -o "$TMP/failover-ref-edge$((i + 1)).txt" \
            "http://${EDGE_ADDRS[$i]}/v1/stream?symbols=$SYMBOLS" 2>/dev/null &
        ref_pids+=($!)
        ref_idx+=("$i")
        track helper-curl-ref "$!"
    done
    sleep 1.5
    say "failover: kill -KILL ${EDGE_PIDS[$k_idx]} (edge$((k_idx + 1)), $up, serving stream A)"
    if alive "${EDGE_PIDS[$k_idx]}"; then
        # (the group's 2>/dev/null keeps bash's "Killed" job notice out of the output)
        { kill -KILL "${EDGE_PIDS[$k_idx]}" && wait "${EDGE_PIDS[$k_idx]}"; } 2>/dev/null || true
    fi
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[$i]}" != "${EDGE_PIDS[$k_idx]}" ] || GONE[i]=1
    done
    for i in $(seq 1 50); do alive "$a_pid" || break; sleep 0.1; done
    alive "$a_pid" && check_fail "stream A did not end within 5 s of its edge being killed"
    wait "$a_pid" 2>/dev/null || true
    n=$(events "$a" | tail -n 1 | cut -f1)
    say "failover: stream A ended ($(tr '\n' ' ' <"$TMP/failover-a.err")); last complete event id $n"
    # The resume, through nginx: least_conn may well pick the dead edge first (it has no
    # connections left); proxy_next_upstream must move it to a live one.
    "$CURL" -sS -N --max-time 2 -D "$bh" -H "Last-Event-ID: $n" -o "$b" "$STREAM_URL" 2>/dev/null || true
    sleep 0.5
    stop_pids TERM 2 "${ref_pids[@]}"
    up_b=$(upstream_of "$bh")
    case "$up_b" in
        "$up" | "") check_fail "stream B was not served by another edge (X-Tickcast-Upstream: '$up_b')" ;;
        *"$up"*) say "failover: resumed stream B went to $up_b (nginx tried the dead edge first, then the next)" ;;
        *) say "failover: resumed stream B went to $up_b" ;;
    esac
    if events "$b" | awk -F'\t' '$2 != "tick"' | grep -q .; then
        check_fail "the resumed stream got more than ticks: $(events "$b" | awk -F'\t' '$2 != "tick"' | head -n 1)"
    fi
    # A's events after m, then B's, against each R from its start (R ran longer than both).
    { events "$a" | awk -F'\t' -v m="$m" '$1 + 0 > m + 0'; events "$b"; } >"$TMP/failover-ab.events"
    n_a=$(events "$a" | awk -F'\t' -v m="$m" '$1 + 0 > m + 0' | wc -l)
    n_b=$(events "$b" | wc -l)
    [ "$n_b" -gt 0 ] || check_fail "the resumed stream got no tick in 2 s ($b)"
    for i in "${ref_idx[@]}"; do
        r=$TMP/failover-ref-edge$((i + 1))
        events "$r.txt" >"$r.events"
        n_r=$(wc -l <"$r.events")
        [ $((n_a + n_b)) -le "$n_r" ] ||
            check_fail "A+B has more events ($((n_a + n_b))) than the reference from edge$((i + 1)) ($n_r): duplicates?"
        head -n $((n_a + n_b)) "$r.events" | cmp -s - "$TMP/failover-ab.events" ||
            check_fail "A then B differs from the reference from edge$((i + 1)) (gap or duplicate): diff $TMP/failover-ab.events $r.events"
    done
    say "failover: ok, $n_a events on A after $m, then $n_b on B after $n: identical to the reference streams of the $((EDGES - 1)) other edges, no gap, no duplicate"
    codes=""
    for i in 1 2 3 4; do
        # %header{} (curl 7.84+): which edge(s) nginx tried for this request.
        r=$("$CURL" -sS --max-time 2 -o /dev/null -w '%{http_code} (%header{x-tickcast-upstream})' "$BASE/healthz") ||
            check_fail "/healthz through nginx failed with an edge down"
        case "$r" in 200*) ;; *) check_fail "/healthz through nginx with an edge down: $r" ;; esac
        codes+=" $r"
    done
    say "failover: ok, /healthz through nginx with edge$((k_idx + 1)) down:$codes"
}

if [ "$CHECK" = 1 ]; then
    run_check
    [ "$FAILOVER" = 0 ] || run_failover_check
    # shellcheck disable=SC2046
    stop_pids TERM 3 $(pids_named helper)
    say "all checks passed"
    [ -n "$DURATION" ] || exit 0
fi

# --- wait -------------------------------------------------------------------------------------
if [ -n "$DURATION" ]; then
    say "running until $DURATION s after start-up (Ctrl-C stops it earlier)"
else
    say "running; Ctrl-C (or SIGTERM to pid $$) stops everything it started"
fi
while [ -z "$DURATION" ] || [ $((SECONDS - UP_AT)) -lt "$DURATION" ]; do
    # `wait` on a background sleep, not a foreground one: bash runs the INT/TERM trap as soon
    # as a signal arrives during `wait`, but only after a foreground command ends.
    sleep 1 &
    wait $! || true
    for i in "${!PIDS[@]}"; do
        case "${NAMES[$i]}" in helper*) continue ;; esac
        if [ "${GONE[$i]}" = 0 ] && ! alive "${PIDS[$i]}"; then
            GONE[i]=1
            say "${NAMES[$i]} (pid ${PIDS[$i]}) has exited; the others keep running"
        fi
    done
done
say "--duration $DURATION s elapsed"
