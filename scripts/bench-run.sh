# Sourced by scripts/bench-reference and scripts/bench-ab: one bench against a fresh broker.
# The caller sets $dir (a scratch folder) and the array bench_args, and kills $pid in its cleanup
# (set while the broker runs). Prints "ROUND NAME cpuM=... p50=... p99=... lost=... peakRss=..."
# and appends "ROUND NAME CPUM P99" to $dir/figures. A run that lost messages is reported, not fatal.
#   bench_run ROUND NAME LOAD_GENERATOR BROKER_COMMAND...
bench_run() {
  local round="$1" name="$2" loadgen="$3"; shift 3
  "$@" > "$dir/broker.out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q "127.0.0.1:" "$dir/broker.out" && break; sleep 0.1; done
  local server
  server="$(grep -o '127.0.0.1:[0-9]*' "$dir/broker.out" | head -1)"
  "$loadgen" bench --server "$server" --broker-pid "$pid" --json "${bench_args[@]}" > "$dir/report.json" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$round" "$name" "$dir/report.json" "$dir/figures" <<'PY'
import json, sys
r = json.load(open(sys.argv[3]))
print("%s %s cpuM=%.3f p50=%.2f p99=%.2f lost=%d peakRss=%s" % (sys.argv[1], sys.argv[2],
      r["brokerCpuPerMillionDeliveries"], r["latencyP50Ms"], r["latencyP99Ms"], r["lost"], r.get("brokerPeakRssBytes")), flush=True)
with open(sys.argv[4], "a") as f:
    f.write("%s %s %f %f\n" % (sys.argv[1], sys.argv[2], r["brokerCpuPerMillionDeliveries"], r["latencyP99Ms"]))
PY
}
