#!/usr/bin/env bash
# Runs `dhtctl bench` against a fresh loopback cluster of this project's
# nodes, with the load shape of BENCHMARKS.md, and stops the cluster.
#
#   bash cmd/dhtctl/bench-cluster.sh [--nodes 16] [--base-port 7850] [dhtctl bench flags...]
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

echo "cluster: $nodes nodes of this project on loopback (replicas 4, write acks 2), $(nproc) cores"
bin/dhtctl --gateway "$gws" bench --concurrency 64 --value-size 1024 --get-ratio 0.5 --duration 30s "${args[@]}"
