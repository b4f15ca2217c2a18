#!/usr/bin/env bash
# Large values on a fresh loopback cluster: `dhtctl bench-large` for 64 KiB,
# 1 MiB and 16 MiB values (the layer in the client over XML-RPC, and the
# same bytes as plain 1 kB puts), then one 64 MiB value streamed through a
# gateway's HTTP API and one through the client, with the testbed's and the
# client's peak resident memory.
#
#   bash cmd/dhtctl/bench-large.sh [--nodes 16] [--base-port 7950]
#
# BENCH_NICE (default -5) is the niceness of the measuring commands, when
# this user may set it.
set -euo pipefail
cd "$(dirname "$0")/../.."

nodes=16
base=7950
while [ $# -gt 0 ]; do
	case "$1" in
	--nodes) nodes=$2; shift 2 ;;
	--base-port) base=$2; shift 2 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
run=()
if nice -n "${BENCH_NICE:--5}" true 2>/dev/null; then run=(nice -n "${BENCH_NICE:--5}"); fi

mkdir -p bin
go build -o bin/opendht ./cmd/opendht
go build -o bin/dhtctl ./cmd/dhtctl

data=$(mktemp -d)
"${run[@]}" bin/opendht testbed -n "$nodes" --base-port "$base" --data "$data" >"$data/testbed.log" 2>&1 &
tb=$!
cleanup() {
	kill "$tb" 2>/dev/null || true
	wait "$tb" 2>/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT
gws=""
for ((i = 0; i < nodes; i++)); do gws+="${gws:+,}127.0.0.1:$((base + 10 * i + 1))"; done
for attempt in $(seq 1 60); do
	if bin/dhtctl --gateway "$gws" --timeout 5s put bench-large-ready yes >/dev/null 2>&1; then break; fi
	[ "$attempt" = 60 ] && { echo "the cluster did not answer" >&2; exit 1; }
	sleep 1
done
sleep 3

mem() { grep -E "^$1:" "/proc/$tb/status" | awk '{print $2}'; }
echo "cluster: $nodes nodes on loopback (replicas 4, write acks 2), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for spec in "64KiB 64 4" "1MiB 16 2" "16MiB 2 1"; do
	read -r size values conc <<<"$spec"
	for via in client blocks; do
		"${run[@]}" bin/dhtctl --gateway "$gws" --timeout 60s bench-large --via "$via" --size "$size" --values "$values" --concurrency "$conc"
	done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "testbed before 64 MiB: VmRSS=$(mem VmRSS) kB VmHWM=$(mem VmHWM) kB"
peak=0
( while kill -0 "$tb" 2>/dev/null; do r=$(mem VmRSS); echo "$r"; sleep 0.5; done ) >"$data/rss" &
sampler=$!
"${run[@]}" bin/dhtctl --gateway "${gws%%,*}" --timeout 60s bench-large --via http --size 64MiB --values 1
kill "$sampler"
peak=$(sort -n "$data/rss" | tail -1)
echo "testbed while streaming 64 MiB through one gateway: max VmRSS=${peak} kB; after: VmHWM=$(mem VmHWM) kB"
"${run[@]}" bin/dhtctl --gateway "$gws" --timeout 60s bench-large --via client --size 64MiB --values 1
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
