#!/usr/bin/env bash
# API hot-path bench (issue 4, item 7). One command, from the repository root:
#
#     bench/api.sh                  # BENCH_DURATION=10s BENCH_CONNECTIONS=16 by default
#
# Installs wrk (Debian package, as root) if missing, checks PostgreSQL and Redis, creates a fresh
# database (bench_portal), migrates and seeds it (bench/seed.py), starts gunicorn (sync, 2 workers,
# production settings: DEBUG=false) with bench/settings.py (the product plus two bench-only
# reference endpoints, bench/urls.py), drives each case with wrk from a second process and prints
# req/s, p50 and p99 per case and the ratios of the issue's targets. Stops gunicorn and drops the
# database at the end, whatever happens. Server, database and load generator share the machine:
# compare ratios measured in one run, not absolute numbers across runs. LOG_LEVEL (default INFO)
# is the app's; the app's log goes to $BENCH_LOG (default /tmp/bench-gunicorn.log).
# BENCH_PYSPY=/path/to/py-spy samples one worker during cases $BENCH_PROFILE_CASES (default "c e")
# into /tmp/bench-profile-<case>.txt (collapsed stacks).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${BENCH_PORT:-8877}
DB=${BENCH_DB:-bench_portal}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379/3}
DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
BASE="http://127.0.0.1:$PORT"
PY=.venv/bin/python

if ! command -v wrk >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "wrk is missing: apt-get install -y wrk (as root)" >&2; exit 1; }
    apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
pg_isready -q -h 127.0.0.1 || service postgresql start
redis-cli -u "$REDIS" ping >/dev/null 2>&1 || service redis-server start

export DJANGO_SETTINGS_MODULE=bench.settings DEBUG=false SECRET_KEY="bench-$(date +%s)-not-a-real-secret-key-0123456789"
export ALLOWED_HOSTS=127.0.0.1 SECURE_SSL_REDIRECT=false DATABASE_URL="$PG/$DB" REDIS_URL="$REDIS"
export CELERY_BROKER_URL="$REDIS" CELERY_TASK_ALWAYS_EAGER=false  # tasks just queue: no worker

GUNICORN_PID=""
cleanup() {
    if [ -n "$GUNICORN_PID" ]; then kill -TERM "$GUNICORN_PID" 2>/dev/null || true; wait "$GUNICORN_PID" 2>/dev/null || true; fi
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    redis-cli -u "$REDIS" flushdb >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null
psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
redis-cli -u "$REDIS" flushdb >/dev/null
$PY manage.py migrate -v0
eval "$($PY bench/seed.py)"

LOG=${BENCH_LOG:-/tmp/bench-gunicorn.log}  # the app's log (Django logs every 4xx reply at WARNING)
.venv/bin/gunicorn portal.wsgi -w "${BENCH_WORKERS:-2}" -b "127.0.0.1:$PORT" --log-level warning >"$LOG" 2>&1 &
GUNICORN_PID=$!
for _ in $(seq 50); do curl -fs "$BASE/bench/bare" >/dev/null && break; sleep 0.2; done

SEND="/api/sendhttp.php?mobiles=919876543210&sender=BENCHX&route=4&message=Hello"
declare -A RPS P50 P99 ALL
run() {  # case letter, label, path [, lua script]
    local name=$1 label=$2 path=$3 script=${4:-} out
    # BENCH_CASES="b c" runs only those cases (the ratios then print for the pairs that ran).
    [[ " ${BENCH_CASES:-a b c e f} " == *" $name "* ]] || return 0
    local args=(-t2 "-c$CONNECTIONS" "-d$DURATION" --latency)
    [ -n "$script" ] && args+=(-s "$script")
    wrk -t2 "-c$CONNECTIONS" -d2s ${script:+-s "$script"} "$BASE$path" >/dev/null  # warm-up
    if [ -n "${BENCH_PYSPY:-}" ] && [[ " ${BENCH_PROFILE_CASES:-c e} " == *" $name "* ]]; then
        # Optional: sample one worker during this case (py-spy from a throw-away venv).
        "$BENCH_PYSPY" record -p "$(pgrep -P "$GUNICORN_PID" | head -1)" -d "${DURATION%s}" -r 200 \
            -f raw -o "/tmp/bench-profile-$name.txt" >/dev/null 2>&1 &
    fi
    out=$(wrk "${args[@]}" "$BASE$path")
    RPS[$name]=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    ALL[$name]="${ALL[$name]:-} ${RPS[$name]}"
    P50[$name]=$(awk '$1 == "50%" {print $2}' <<<"$out")
    P99[$name]=$(awk '$1 == "99%" {print $2}' <<<"$out")
    local errors; errors=$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr -s ' ' || true)
    printf '(%s) %-30s %9s req/s  p50 %8s  p99 %8s  %s\n' "$name" "$label" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" "$errors"
}

ROUNDS=${BENCH_ROUNDS:-1}
echo "== wrk -t2 -c$CONNECTIONS -d$DURATION --latency, gunicorn sync x${BENCH_WORKERS:-2}, PostgreSQL, Redis ($(nproc) cores), $ROUNDS round(s)"
# With BENCH_ROUNDS=N the cases run N times, interleaved (a b c e f, a b c e f, ...), and the
# ratios use each case's median: on a shared 2-core machine single runs drift by a third.
for round in $(seq "$ROUNDS"); do
    [ "$ROUNDS" -gt 1 ] && echo "-- round $round"
    run a "bare view" /bench/bare
    run b "minimal lookup + insert" "/bench/minimal?authkey=$GOOD_KEY"
    BENCH_KEY=$GOOD_KEY run c "send, 1 recipient" /api/sendhttp.php bench/send.lua
    run e "418 refusal" "$SEND&authkey=$BAD_IP_KEY"
    run f "unknown key" "$SEND&authkey=$UNKNOWN_KEY"
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for name in "${!ALL[@]}"; do RPS[$name]=$(median "${ALL[$name]}"); done
[ "$ROUNDS" -gt 1 ] && for name in a b c e f; do
    [ -n "${ALL[$name]:-}" ] && echo "($name) median ${RPS[$name]} req/s of:${ALL[$name]}"
done

[[ " ${BENCH_CASES:-d} " == *" d "* ]] && echo "== (d) send to 1,000 recipients (curl, 5 requests)"
MOBILES=$(seq -s, 919800000000 919800000999)
for i in 1 2 3 4 5; do
    [[ " ${BENCH_CASES:-d} " == *" d "* ]] || break
    curl -s -o /tmp/bench-d.out -w "%{http_code} %{time_total}s\n" --data-urlencode "authkey=$GOOD_KEY" \
        --data-urlencode "mobiles=$MOBILES" --data-urlencode "message=Bulk $i $(date +%s%N)" \
        --data "sender=BENCHX&route=4" "$BASE/api/sendhttp.php"
done

ratio() { awk -v x="${1:-0}" -v y="${2:-0}" 'BEGIN { if (y == 0) print "n/a"; else printf "%.2f", x / y }'; }
echo "== ratios (targets: c/b >= 0.80, e/a >= 0.60, f/a >= 0.60)"
echo "(c)/(b) = $(ratio "${RPS[c]}" "${RPS[b]}")"
echo "(e)/(a) = $(ratio "${RPS[e]}" "${RPS[a]}")"
echo "(f)/(a) = $(ratio "${RPS[f]}" "${RPS[a]}")"

kill -TERM "$GUNICORN_PID"; wait "$GUNICORN_PID" || true; GUNICORN_PID=""  # workers flush at exit
echo "== rows written: $(psql -qtA "$PG/$DB" -c "SELECT code, count(*) FROM messaging_failedrequest GROUP BY code ORDER BY code" | tr '\n' ' ')"
