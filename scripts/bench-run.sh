# Sourced by scripts/bench-reference, scripts/bench-ab and scripts/bench-per-chat: a scratch folder,
# the build to measure, and one bench against a fresh broker.

# Makes the scratch folder $dir; on exit it is removed, and the broker of a run still going ($pid) killed.
bench_scratch() {
  dir="$(mktemp -d)"
  pid=""
  trap 'bench_cleanup' EXIT
}
bench_cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }

# Sets $build to the chatmesh executable to measure: $CHATMESH when set (it must be one; nothing is
# built then), otherwise the release build (Native AOT), published now.
#   bench_build SCRIPT_NAME
bench_build() {
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  build="${CHATMESH:-}"
  if [ -n "$build" ]; then
    [ -x "$build" ] || { echo "$1: CHATMESH=$build is not an executable" >&2; exit 2; }
  else
    build="$here/LocalChatMesh.Cli/bin/Release/net10.0/linux-x64/publish/chatmesh"
    "$here/scripts/ensure-aot-toolchain" >&2
    dotnet publish -c Release -r linux-x64 "$here/LocalChatMesh.Cli" >&2
  fi
}

# One bench against a fresh broker. The caller has called bench_scratch and sets the array
# bench_args. Prints "ROUND NAME cpuM=... p50=... p99=... lost=... peakRss=..." and appends
# "ROUND NAME CPUM P99" to $dir/figures. A run that lost messages is reported, not fatal.
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
