#!/usr/bin/env bash
# Local single-node Apache Kafka broker (KRaft, loopback only) for development, tests and
# the demo.  Needs Java 17+ and, on first run only, Maven to fetch the broker jars.
#
#   kafka.sh start          start the broker in the background and wait until it is ready
#   kafka.sh stop           stop the broker this script started
#   kafka.sh status         exit 0 if it is running, 1 if not
#   kafka.sh logs [-f]      print the end of the broker log (-f: follow it)
#   kafka.sh run CMD...     run CMD with a broker on the port: start one first and stop it
#                           afterwards, unless something already listens there; CMD's exit code
#
# Environment:
#   KAFKA_PORT             client port (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT + 1)
#   KAFKA_DATA_DIR         data, logs and pid file (default var/kafka-$KAFKA_PORT in the repo)
#   KAFKA_CLEAN=1          start: stop this data dir's broker if running, wipe the dir, start fresh
#   KAFKA_HEAP_OPTS        JVM heap options (default -Xms128m -Xmx512m)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 60)
#   KAFKA_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL (default 20)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$SCRIPT_DIR/pom.xml")
LIBS_DIR="$REPO_ROOT/.cache/kafka/$KAFKA_VERSION/libs"

PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
DATA_DIR="${KAFKA_DATA_DIR:-$REPO_ROOT/var/kafka-$PORT}"
[[ "$DATA_DIR" == /* ]] || DATA_DIR="$PWD/$DATA_DIR"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"

PID_FILE="$DATA_DIR/kafka.pid"
PROPERTIES="$DATA_DIR/server.properties"
LOG_DIR="$DATA_DIR/logs"
SERVER_LOG="$LOG_DIR/server.log"
CONSOLE_LOG="$LOG_DIR/console.log"

# A closed terminal or pipe must not stop this script halfway (e.g. during a stop).
say() { printf 'kafka: %s\n' "$*" 2>/dev/null || true; }
die() { printf 'kafka: error: %s\n' "$*" >&2; exit 1; }

require() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH: $2"
}

# --- the broker jars -----------------------------------------------------------------------

fetch_jars() {
  [[ -d "$LIBS_DIR" ]] && return 0
  require mvn "install Apache Maven (e.g. apt-get install maven) to fetch the broker jars"
  mkdir -p "$(dirname "$LIBS_DIR")"
  # One fetch at a time: parallel starts on other ports share the cache.
  exec 9>"$(dirname "$LIBS_DIR")/.fetch.lock"
  flock 9
  if [[ ! -d "$LIBS_DIR" ]]; then
    say "fetching Apache Kafka $KAFKA_VERSION jars with Maven (first run only)"
    local staging="$LIBS_DIR.partial"
    local started=$SECONDS
    rm -rf "$staging"
    if ! mvn -q -B -f "$SCRIPT_DIR/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$staging" -DincludeScope=runtime >"$staging.mvn.log" 2>&1; then
      cat "$staging.mvn.log" >&2
      die "Maven could not fetch the broker jars (log above)"
    fi
    rm -f "$staging.mvn.log"
    mv "$staging" "$LIBS_DIR"
    say "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars into ${LIBS_DIR#"$REPO_ROOT"/} in $((SECONDS - started)) s"
  fi
  exec 9>&-
}

kafka_java() {
  java -cp "$LIBS_DIR/*" "$@"
}

# --- process and port checks -----------------------------------------------------------------

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The pid of the broker this script started for DATA_DIR, if it still runs; empty otherwise.
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid=$(<"$PID_FILE")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  local args
  args=$(ps -ww -o args= -p "$pid" 2>/dev/null) || return 0
  # A recycled pid belongs to another program: only a java kafka.Kafka on our properties counts.
  if [[ "$args" == *java*kafka.Kafka*"$PROPERTIES"* ]]; then
    echo "$pid"
  fi
}

tail_log() {
  local file
  for file in "$CONSOLE_LOG" "$SERVER_LOG"; do
    if [[ -s "$file" ]]; then
      printf -- '--- last lines of %s ---\n' "$file" >&2
      tail -n 40 "$file" >&2
    fi
  done
}

# --- start ---------------------------------------------------------------------------------

write_properties() {
  sed -e "s|@PORT@|$PORT|g" \
    -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@LOG_DIRS@|$DATA_DIR/data|g" \
    "$SCRIPT_DIR/server.properties.template" >"$PROPERTIES"
}

format_storage() {
  [[ -f "$DATA_DIR/data/meta.properties" ]] && return 0
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$CONSOLE_LOG")
  kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPERTIES" \
    >>"$CONSOLE_LOG" 2>&1 || { tail_log; die "formatting the storage in $DATA_DIR failed"; }
}

launch() {
  # Its own session, so that a Ctrl-C in the calling terminal does not reach the broker.
  # The inner shell records its own pid, then becomes java.  KAFKA_HEAP_OPTS holds several options.
  # shellcheck disable=SC2016,SC2086
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOG_DIR" \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.yaml" -Dlog4j2.shutdownHookEnabled=false \
    -cp "$LIBS_DIR/*" kafka.Kafka "$PROPERTIES" \
    >>"$CONSOLE_LOG" 2>&1 </dev/null &
}

# Ready means: the port accepts connections, the broker logged that it has started, and (when
# the project's virtualenv exists) a Kafka client sees the broker in the cluster metadata.
wait_ready() {
  local since_ms=$1 deadline=$((SECONDS + START_TIMEOUT)) pid=""
  while ((SECONDS < deadline)); do
    [[ -n "$pid" ]] || pid=$(broker_pid)
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      tail_log
      die "the broker exited during startup"
    fi
    if [[ -n "$pid" ]] && port_open "$PORT" && logged_started_since "$since_ms"; then
      client_sees_broker $((deadline - SECONDS)) && return 0
      break
    fi
    sleep 0.5
  done
  tail_log
  die "the broker was not ready on 127.0.0.1:$PORT within ${START_TIMEOUT} s"
}

# Whether a broker launched at or after SINCE_MS (epoch ms) logged "Kafka Server started".
# The log rolls over at 10 MB (log4j2.yaml), possibly during this very start, so a byte offset
# into server.log cannot tell this start's lines from earlier ones: instead, the epoch-ms
# start time the broker logs just before that line ("Kafka startTimeMs: ...") must be recent.
# Rolled files are read oldest first (server.log.1 .. .3, then server.log).  No pipe into
# `grep -q` here: under pipefail its early exit fails the pipeline with SIGPIPE.
logged_started_since() {
  local logs=()
  local file
  for file in "$SERVER_LOG".1 "$SERVER_LOG".2 "$SERVER_LOG".3 "$SERVER_LOG"; do
    [[ -f "$file" ]] && logs+=("$file")
  done
  ((${#logs[@]} > 0)) || return 1
  awk -v since="$1" '
    / Kafka startTimeMs: / {
      for (i = 1; i < NF; i++) if ($i == "startTimeMs:") fresh = ($(i + 1) + 0 >= since + 0)
    }
    / Kafka Server started/ && fresh { found = 1 }
    END { exit found ? 0 : 1 }
  ' "${logs[@]}"
}

client_sees_broker() {
  local python="$REPO_ROOT/.venv/bin/python"
  [[ -x "$python" ]] || return 0
  "$python" - "127.0.0.1:$PORT" "$1" <<'PY'
import asyncio
import sys

from aiokafka import AIOKafkaClient


async def sees_broker(bootstrap: str, seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await client.bootstrap()
            if (await client.fetch_all_metadata()).brokers():
                return True
        except Exception as error:  # the broker may still be settling: retry until the deadline
            print(f"kafka: not ready yet: {error!r}", file=sys.stderr)
        finally:
            await client.close()
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.5)


sys.exit(0 if asyncio.run(sees_broker(sys.argv[1], max(float(sys.argv[2]), 1.0))) else 1)
PY
}

cmd_start() {
  require java "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)"
  local pid
  pid=$(broker_pid)
  if [[ -n "$pid" && "${KAFKA_CLEAN:-0}" == 1 ]]; then
    cmd_stop
    pid=""
  fi
  if [[ -n "$pid" ]]; then
    say "already running on 127.0.0.1:$PORT (pid $pid)"
    return 0
  fi
  local port
  for port in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$port"; then
      die "port 127.0.0.1:$port is in use by a process this script did not start; stop it or choose another KAFKA_PORT / KAFKA_CONTROLLER_PORT"
    fi
  done
  if [[ "${KAFKA_CLEAN:-0}" == 1 && -d "$DATA_DIR" ]]; then
    # Wipe only what this script made: a broker data dir, or an empty dir.
    if [[ ! -f "$PROPERTIES" && -n "$(ls -A "$DATA_DIR")" ]]; then
      die "KAFKA_CLEAN=1: $DATA_DIR has no server.properties, so it is not a broker data dir; not wiping it"
    fi
    say "wiping $DATA_DIR (KAFKA_CLEAN=1)"
    rm -rf "$DATA_DIR"
  fi
  fetch_jars
  mkdir -p "$DATA_DIR/data" "$LOG_DIR"
  rm -f "$PID_FILE"
  write_properties
  format_storage
  local started=$SECONDS launched_ms
  launched_ms=$(date +%s%3N)
  launch
  wait_ready "$launched_ms"
  say "ready on 127.0.0.1:$PORT in $((SECONDS - started)) s (pid $(broker_pid), data $DATA_DIR)"
}

# --- stop, status, logs, run -----------------------------------------------------------------

cmd_stop() {
  local pid
  pid=$(broker_pid)
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    say "not running on 127.0.0.1:$PORT"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after ${STOP_TIMEOUT} s: sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  pid=$(broker_pid)
  if [[ -n "$pid" ]]; then
    say "running on 127.0.0.1:$PORT (pid $pid, data $DATA_DIR)"
    return 0
  fi
  if port_open "$PORT"; then
    say "not running (but port 127.0.0.1:$PORT is in use by a process this script did not start)"
  else
    say "not running on 127.0.0.1:$PORT"
  fi
  return 1
}

cmd_logs() {
  [[ -f "$SERVER_LOG" ]] || die "no broker log yet at $SERVER_LOG"
  if [[ "${1:-}" == -f ]]; then
    exec tail -n 50 -F "$SERVER_LOG"
  fi
  tail -n 200 "$SERVER_LOG"
}

cmd_run() {
  (($# > 0)) || die "usage: kafka.sh run CMD [ARGS...]"
  if port_open "$PORT"; then
    say "using the broker already listening on 127.0.0.1:$PORT"
    exec "$@"
  fi
  cmd_start
  trap cmd_stop EXIT
  local status=0
  "$@" || status=$?
  return "$status"
}

usage() {
  sed -n '2,/^set -euo pipefail/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
}

main() {
  local command="${1:-}"
  shift || true
  case "$command" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    run) cmd_run "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
