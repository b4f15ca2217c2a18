#!/usr/bin/env bash
# Benchmarks the peer: Debian's OpenDHT (C++, Savoir-faire Linux) on a loopback cluster of
# dhtnode processes, loaded by peer_bench.py (python3-opendht) with the load shape of
# `dhtctl bench`. Arguments after the script name go to peer_bench.py, e.g.
#   bash cmd/peerbench/run.sh --concurrency 64 --duration 30s --value-size 1024 --get-ratio 0.5
# Environment: PEERBENCH_NODES (16), PEERBENCH_BASE_PORT (4222), PEERBENCH_NETWORK (network id,
# 4222), PEERBENCH_KEEP_LOGS=1 keeps the dhtnode logs.
# Exit status: 0 ok, 1 a dhtnode failed to start, 2 usage, 3 the network never formed,
# 4 the driver failed.
set -euo pipefail

NODES=${PEERBENCH_NODES:-16}
BASE_PORT=${PEERBENCH_BASE_PORT:-4222}
NETWORK=${PEERBENCH_NETWORK:-4222}
PY=/usr/bin/python3 # Debian's interpreter: python3-opendht is built for it, not for pyenv's
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAST_PORT=$((BASE_PORT + NODES - 1))

say() { echo "peerbench: $*" >&2; }

if ! command -v dhtnode >/dev/null || ! "$PY" -c 'import opendht' 2>/dev/null; then
	say "installing dhtnode and python3-opendht from Debian"
	if [ "$(id -u)" -ne 0 ]; then
		say "not root: run 'sudo apt-get update && sudo apt-get install -y dhtnode python3-opendht' first"
		exit 1
	fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y dhtnode python3-opendht
fi
# The package ships a systemd unit that bootstraps to a public node; this benchmark never
# starts it, and stays on loopback.

WORK=$(mktemp -d /tmp/peerbench.XXXXXX)
PIDS=()
DRIVER=
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$DRIVER" ]; then
		kill -TERM "$DRIVER" 2>/dev/null || true
		wait "$DRIVER" 2>/dev/null || true
	fi
	if [ ${#PIDS[@]} -gt 0 ]; then
		kill -TERM "${PIDS[@]}" 2>/dev/null || true
		for _ in $(seq 1 30); do
			local alive=0
			for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
			[ "$alive" -eq 0 ] && break
			sleep 0.1
		done
		kill -KILL "${PIDS[@]}" 2>/dev/null || true
		wait "${PIDS[@]}" 2>/dev/null || true
	fi
	if [ "${PEERBENCH_KEEP_LOGS:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		say "dhtnode logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_bound() { ss -Hlun "sport = :$1" | grep -q .; }

for port in $(seq "$BASE_PORT" "$LAST_PORT"); do
	if port_bound "$port"; then
		say "UDP port $port is already in use; set PEERBENCH_BASE_PORT"
		exit 1
	fi
done

# -s: service mode (no interactive shell, no fork); -U: no rate limit (on loopback every node
# has the same IP address, and the default per-IP limit of 1024 requests/s would throttle the
# whole cluster; it also lifts the 64 MiB storage cap); -n: a private network id.
start_node() {
	local i=$1 port=$((BASE_PORT + $1))
	shift
	dhtnode -s -U -n "$NETWORK" -p "$port" "$@" >"$WORK/node$i.log" 2>&1 </dev/null &
	PIDS+=($!)
}

wait_bound() {
	local i=$1 port=$((BASE_PORT + $1)) pid=${PIDS[$1]}
	for _ in $(seq 1 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			say "dhtnode $i (port $port) exited at start:"
			tail -n 20 "$WORK/node$i.log" >&2
			exit 1
		fi
		port_bound "$port" && return 0
		sleep 0.1
	done
	say "dhtnode $i did not bind UDP port $port within 10s"
	exit 1
}

# A benchmark on a 2-core machine is only worth something when nothing else runs: wait (up to
# PEERBENCH_QUIET_WAIT seconds, 300 by default, 0 to skip) until the machine is at most
# PEERBENCH_QUIET_PCT percent busy (15 by default) over 3 seconds. The driver prints how much
# CPU everything else took during the measurement.
cpu_sample() { awk '/^cpu /{idle=$5+$6; t=0; for(i=2;i<=NF;i++) t+=$i; print t-idle, t; exit}' /proc/stat; }
wait_quiet() {
	local limit=${PEERBENCH_QUIET_WAIT:-300} pct=${PEERBENCH_QUIET_PCT:-15} waited=0 b0 t0 b1 t1 busy
	[ "$limit" -gt 0 ] || return 0
	while :; do
		read -r b0 t0 < <(cpu_sample)
		sleep 3
		read -r b1 t1 < <(cpu_sample)
		busy=$(( (b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1) ))
		if [ "$busy" -le "$pct" ]; then
			say "machine ${busy}% busy before the run"
			return 0
		fi
		waited=$((waited + 3))
		if [ "$waited" -ge "$limit" ]; then
			say "WARNING: machine still ${busy}% busy after ${waited}s; measuring anyway (figures are not comparable)"
			return 0
		fi
		[ $((waited % 30)) -eq 0 ] && say "machine ${busy}% busy; waiting for it to be quiet (${waited}s)"
	done
}
wait_quiet

say "starting $NODES dhtnode processes on UDP 127.0.0.1:$BASE_PORT..$LAST_PORT ($(dhtnode --version 2>&1 | head -n1))"
start_node 0
wait_bound 0
for i in $(seq 1 $((NODES - 1))); do
	start_node "$i" -b "127.0.0.1:$BASE_PORT"
done
for i in $(seq 1 $((NODES - 1))); do
	wait_bound "$i"
done
sleep 1
for i in $(seq 0 $((NODES - 1))); do
	if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
		say "dhtnode $i (port $((BASE_PORT + i))) died:"
		tail -n 20 "$WORK/node$i.log" >&2
		exit 1
	fi
done

# The driver waits until every dhtnode is in its routing table and a probe value reads back
# (exit 3 otherwise), then measures.
# It runs in the background so that a signal reaches the trap at once (bash runs traps only
# between foreground commands); cleanup stops it first.
set +e
"$PY" "$HERE/peer_bench.py" \
	--bootstrap "127.0.0.1:$BASE_PORT" \
	--expect-ports "$BASE_PORT-$LAST_PORT" \
	--network "$NETWORK" \
	--peer-pids "$(IFS=,; echo "${PIDS[*]}")" \
	"$@" &
DRIVER=$!
wait "$DRIVER"
rc=$?
DRIVER=
set -e
for i in $(seq 0 $((NODES - 1))); do
	if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
		say "dhtnode $i (port $((BASE_PORT + i))) died during the run"
		[ $rc -eq 0 ] && rc=1
	fi
done
exit $rc
