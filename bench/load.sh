#!/usr/bin/env bash
# bench/load.sh: loopback load test of the authenticated request path.
#
# It builds and starts bench/loadserver, then runs wrk against each variant
# in alternating rounds, so that a noisy neighbour hurts all variants
# alike. It prints the median requests/s of each variant and its ratio to
# the bare handler measured in the same run. Bounded: ROUNDS x variants x
# DURATION of load in all.
#
# Usage: bench/load.sh
# Environment: ROUNDS (default 3), DURATION (default 10s), THREADS (default 2),
# CONNECTIONS (default 32), LATCH_REDIS_URL (adds the Redis session store).
# Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
duration=${DURATION:-10s}
threads=${THREADS:-2}
connections=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "bench/load.sh: wrk not found: apt-get install wrk" >&2; exit 1; }

tmp=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/loadserver" ./bench/loadserver
"$tmp/loadserver" >"$tmp/variants" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 1 100); do grep -q '^READY' "$tmp/variants" && break; sleep 0.1; done
grep -q '^READY' "$tmp/variants" || { cat "$tmp/server.log" >&2; exit 1; }
grep -v '^READY' "$tmp/variants" >"$tmp/list"

echo "wrk -t$threads -c$connections -d$duration, $rounds rounds, $(nproc) CPUs, $(go version | cut -d' ' -f3)"
for round in $(seq 1 "$rounds"); do
  # Rotate the order each round.
  tail -n +"$(( (round - 1) % $(wc -l <"$tmp/list") + 1 ))" "$tmp/list" >"$tmp/order"
  head -n "$(( (round - 1) % $(wc -l <"$tmp/list") ))" "$tmp/list" >>"$tmp/order"
  while read -r name url cookie; do
    args=(-t"$threads" -c"$connections" -d"$duration" "$url")
    [ -n "$cookie" ] && args=(-H "Cookie: $cookie" "${args[@]}")
    out=$(wrk "${args[@]}")
    if grep -q 'Non-2xx or 3xx' <<<"$out"; then
      echo "bench/load.sh: $name responded with errors:" >&2
      echo "$out" >&2
      exit 1
    fi
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    echo "$name $rps" >>"$tmp/results"
    printf '  round %d  %-14s %10.0f req/s\n' "$round" "$name" "$rps"
  done <"$tmp/order"
done

echo
printf '%-14s %12s %8s\n' variant "median req/s" ratio
awk '
  { v[$1] = v[$1] " " $2; n[$1]++ }
  END {
    for (name in v) {
      split(substr(v[name], 2), xs, " ")
      m = n[name]
      # insertion sort, then the median
      for (i = 2; i <= m; i++) { x = xs[i]; j = i - 1; while (j > 0 && xs[j] > x) { xs[j+1] = xs[j]; j-- } xs[j+1] = x }
      med[name] = (m % 2) ? xs[(m+1)/2] : (xs[m/2] + xs[m/2+1]) / 2
    }
    order[1] = "bare"; order[2] = "bare-cookie"; order[3] = "latch-memory"; order[4] = "latch-redis"; order[5] = "scs-floor"; order[6] = "scs-gob"
    for (i = 1; i <= 6; i++) if (order[i] in med) printf "%-14s %12.0f %7.2fx\n", order[i], med[order[i]], med[order[i]] / med["bare"]
  }' "$tmp/results"
