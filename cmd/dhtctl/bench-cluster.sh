#!/usr/bin/env bash
# Runs `dhtctl bench` against a fresh loopback cluster of this project's
# nodes, with the load shape of BENCHMARKS.md, and stops the cluster.
#
#   bash cmd/dhtctl/bench-cluster.sh [--nodes 16] [--base-port 7850] [dhtctl bench flags...]
#
# Before measuring it waits for the machine to be quiet (BENCH_QUIET_WAIT,
# BENCH_QUIET_PCT below): other work on the two cores changes the figures.
#
# Defaults: 16 nodes (replica count 4, write acks 2), every node a gateway,
# 64 clients, 1 kB values, 50/50 put/get, 30 s, XML-RPC. Extra flags go to
# `dhtctl bench` (e.g. --protocol sunrpc --duration 60s).
set -euo pipefail
cd "$(dirname "$0")/../.."

nodes=16
base=7850
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--nodes) nodes=$2; shift 2 ;;
	--base-port) base=$2; shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done

proto=xmlrpc
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[$i]}" in
	--protocol | -p) proto=${args[$((i + 1))]} ;;
	--protocol=*) proto=${args[$i]#--protocol=} ;;
	esac
done
off=1
[ "$proto" = sunrpc ] && off=2

# busy_pct prints how busy the machine was over 3 seconds, in percent
# (from /proc/stat: everything but idle and iowait).
busy_pct() {
	read -r _ u n s i w x y z _ </proc/stat
	local b0=$((u + n + s + x + y + z)) t0=$((u + n + s + i + w + x + y + z))
	sleep 3
	read -r _ u n s i w x y z _ </proc/stat
	local b1=$((u + n + s + x + y + z)) t1=$((u + n + s + i + w + x + y + z))
	echo $((100 * (b1 - b0) / (t1 - t0 + 1)))
}

# The figures mean something only on an otherwise idle machine: wait up to
# BENCH_QUIET_WAIT seconds (300; 0 skips) for it to be at most
# BENCH_QUIET_PCT percent busy (15).
wait_quiet() {
	local limit=${BENCH_QUIET_WAIT:-300} pct=${BENCH_QUIET_PCT:-15} waited=0 busy
	[ "$limit" = 0 ] && return
	while busy=$(busy_pct) && [ "$busy" -gt "$pct" ]; do
		waited=$((waited + 3))
		if [ "$waited" -ge "$limit" ]; then
			echo "bench-cluster: the machine is still ${busy}% busy after ${limit}s; measuring anyway" >&2
			return
		fi
	done
}

mkdir -p bin
go build -o bin/opendht ./cmd/opendht
go build -o bin/dhtctl ./cmd/dhtctl

data=$(mktemp -d)
log=$data/testbed.log
bin/opendht testbed -n "$nodes" --base-port "$base" --data "$data" >"$log" 2>&1 &
tb=$!
cleanup() {
	kill "$tb" 2>/dev/null || true
	wait "$tb" 2>/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT

gws=""
for ((i = 0; i < nodes; i++)); do
	gws+="${gws:+,}127.0.0.1:$((base + 10 * i + off))"
done

# Every gateway answers, and the ring has formed (a put is stored).
for attempt in $(seq 1 60); do
	if bin/dhtctl --protocol "$proto" --gateway "$gws" --timeout 5s ping >/dev/null 2>&1 &&
		bin/dhtctl --protocol "$proto" --gateway "$gws" --timeout 5s put bench-cluster-ready yes >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$tb" 2>/dev/null; then
		echo "bench-cluster: the testbed exited:" >&2
		cat "$log" >&2
		exit 1
	fi
	if [ "$attempt" = 60 ]; then
		echo "bench-cluster: the cluster did not answer within 60 s" >&2
		exit 1
	fi
	sleep 1
done
sleep 3 # leaf sets settle
wait_quiet

echo "cluster: $nodes nodes of this project on loopback (replicas 4, write acks 2), $(nproc) cores"
cpu() { awk '{print $14 + $15}' "/proc/$tb/stat"; } # the testbed's user+system ticks
c0=$(cpu)
out=$data/bench.txt
# --op cas reads before every cas: the put/get mix does not apply.
mix=(--get-ratio 0.5)
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[$i]}" in
	--op) [ "${args[$((i + 1))]}" = cas ] && mix=() ;;
	--op=cas) mix=() ;;
	esac
done
bin/dhtctl --gateway "$gws" bench --concurrency 64 --value-size 1024 "${mix[@]}" --duration 30s "${args[@]}" | tee "$out"
c1=$(cpu)
calls=$(sed -n 's/^\(put\|get\|cas\|read\) *ops=\([0-9]*\) .*/\2/p' "$out" | paste -sd+ | bc)
loaded=$(sed -n 's/^loaded \([0-9]*\) keys.*/\1/p' "$out")
echo "testbed CPU: $(((c1 - c0) / $(getconf CLK_TCK))) s for $((calls + ${loaded:-0})) calls (loading included):" \
	"$(echo "scale=3; 1000 * ($c1 - $c0) / $(getconf CLK_TCK) / ($calls + ${loaded:-0})" | bc) ms per call" >&2
