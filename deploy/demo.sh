#!/usr/bin/env bash
# The whole pipeline on one machine: a local Kafka broker, a `cxpulse worker`, the seeded
# simulator producing contact-center traffic, and `cxpulse tail` printing the alerts.
# Ctrl-C stops everything the demo started.  Unless a broker already listens on the port, the
# demo starts its own, fresh every run (data in var/demo/kafka), and stops it at the end.
#
# Environment:
#   DEMO_SECONDS=N   stop by itself after N seconds; exit 1 if no alert was shown by then
#   DEMO_RATE        simulated events per second (default 50)
#   DEMO_SEED        simulator seed (default 42)
#   KAFKA_PORT       broker port (default 9092); CXPULSE_* variables reach the worker as usual
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_ROOT"

BIN=.venv/bin
KAFKA=deploy/kafka/kafka.sh
RUN_DIR=var/demo
RATE="${DEMO_RATE:-50}"
SEED="${DEMO_SEED:-42}"
SECONDS_LIMIT="${DEMO_SECONDS:-}"
WORKER_READY_TIMEOUT=120
STOP_GRACE=8

export KAFKA_PORT="${KAFKA_PORT:-9092}"
export CXPULSE_KAFKA_BOOTSTRAP="${CXPULSE_KAFKA_BOOTSTRAP:-127.0.0.1:$KAFKA_PORT}"
export CXPULSE_DATA_DIR="${CXPULSE_DATA_DIR:-$RUN_DIR/worker-data}"
WEB_PORT="${CXPULSE_WEB_PORT:-6066}"

say() { printf '\ndemo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[[ -x "$BIN/cxpulse" ]] || die "no $BIN/cxpulse: run 'make install' first (or use 'make demo')"
[[ -z "$SECONDS_LIMIT" || "$SECONDS_LIMIT" =~ ^[1-9][0-9]*$ ]] ||
  die "DEMO_SECONDS must be a positive whole number of seconds"
[[ "$RATE" =~ ^[1-9][0-9]*$ ]] || die "DEMO_RATE must be a positive whole number of events/s"
mkdir -p "$RUN_DIR"

# --- background processes, each in its own process group -----------------------------------

# spawn NAME CMD...: run CMD in a new session, output to $RUN_DIR/NAME.log, group id in NAME.pid.
spawn() {
  local name=$1
  shift
  rm -f "$RUN_DIR/$name.pid"
  # shellcheck disable=SC2016 # the inner shell records its own pid, then becomes CMD
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$RUN_DIR/$name.pid" "$@" \
    >"$RUN_DIR/$name.log" 2>&1 </dev/null &
  disown  # stop_group reaps it; no job notices from this shell
  while [[ ! -s "$RUN_DIR/$name.pid" ]]; do sleep 0.1; done
}

group_alive() {
  [[ -s "$RUN_DIR/$1.pid" ]] && kill -0 -- "-$(<"$RUN_DIR/$1.pid")" 2>/dev/null
}

# SIGTERM to the whole group; SIGKILL if it is still there after STOP_GRACE seconds.
stop_group() {
  local name=$1 waited=0
  group_alive "$name" || { rm -f "$RUN_DIR/$name.pid"; return 0; }
  local pgid
  pgid=$(<"$RUN_DIR/$name.pid")
  kill -TERM -- "-$pgid" 2>/dev/null || true
  while group_alive "$name" && ((waited < STOP_GRACE * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if group_alive "$name"; then
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  rm -f "$RUN_DIR/$name.pid"
}

STARTED_KAFKA=0
TAIL_PID=""
# Runs to the end even if the terminal or a pipe reading our output is gone.
cleanup() {
  trap - EXIT
  trap '' INT TERM PIPE
  if [[ -n "$TAIL_PID" ]]; then
    kill -TERM "$TAIL_PID" 2>/dev/null || true
    say "$(alerts_shown) alerts shown (also in $RUN_DIR/alerts.log)" || true
  fi
  say "stopping the simulator and the worker" || true
  stop_group simulator
  stop_group worker
  if ((STARTED_KAFKA)); then
    KAFKA_DATA_DIR="$RUN_DIR/kafka" "$KAFKA" stop || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

alerts_shown() {
  grep -c . "$RUN_DIR/alerts.log" 2>/dev/null || true
}

worker_ready() {
  "$BIN/python" - "http://127.0.0.1:$WEB_PORT/readyz" <<'PY'
import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

# --- the demo ---------------------------------------------------------------------------------

if (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; then
  say "using the Kafka broker already listening on 127.0.0.1:$KAFKA_PORT; it keeps the state" \
    "of earlier runs, so the same DEMO_SEED replays events the pipeline has already seen"
else
  # A broker of its own, fresh every run: the same seed tells the same story.
  say "starting a fresh Kafka broker on 127.0.0.1:$KAFKA_PORT (data: $RUN_DIR/kafka)"
  rm -rf "$CXPULSE_DATA_DIR"
  KAFKA_DATA_DIR="$RUN_DIR/kafka" KAFKA_CLEAN=1 "$KAFKA" start
  STARTED_KAFKA=1
fi

say "starting the worker (log: $RUN_DIR/worker.log)"
spawn worker "$BIN/cxpulse" worker
deadline=$((SECONDS + WORKER_READY_TIMEOUT))
until worker_ready; do
  if ! group_alive worker || ((SECONDS > deadline)); then
    tail -n 30 "$RUN_DIR/worker.log" >&2
    die "the worker did not become ready (log above, full log in $RUN_DIR/worker.log)"
  fi
  sleep 0.5
done

say "simulating $RATE events/s (seed $SEED, log: $RUN_DIR/simulator.log); alerts follow"
# A short head start lets `cxpulse tail` subscribe before the first events arrive.
spawn simulator bash -c 'sleep 2; exec "$@"' simulator \
  "$BIN/cxpulse" simulate --rate "$RATE" --count 0 --seed "$SEED"

# `cxpulse tail` runs in the background so that this loop can also notice a worker that stops
# and the end of DEMO_SECONDS; Ctrl-C lands in the trap above.
"$BIN/cxpulse" tail > >(tee -i "$RUN_DIR/alerts.log") &
TAIL_PID=$!
deadline=$((SECONDS + ${SECONDS_LIMIT:-0}))
while kill -0 "$TAIL_PID" 2>/dev/null; do
  if ! group_alive worker; then
    tail -n 30 "$RUN_DIR/worker.log" >&2
    die "the worker stopped (log above, full log in $RUN_DIR/worker.log)"
  fi
  if [[ -n "$SECONDS_LIMIT" ]] && ((SECONDS >= deadline)); then
    (($(alerts_shown) > 0)) ||
      die "no alert within $SECONDS_LIMIT s; see $RUN_DIR/worker.log"
    exit 0
  fi
  sleep 1
done
tail_status=0
wait "$TAIL_PID" || tail_status=$?
((tail_status == 0)) || die "cxpulse tail stopped (exit $tail_status)"
