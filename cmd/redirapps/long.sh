#!/usr/bin/env bash
# The long runs of the ReDiR applications (make redir-long): a fresh 8-node
# loopback testbed, then each application for DURATION with churn, printing
# its summary line (multicast at 10, 100 and 500 members). Exit 1 if a run
# missed its check. BASE_PORT, DURATION and CHURN may be set.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE_PORT=${BASE_PORT:-18850}
DURATION=${DURATION:-60s}
CHURN=${CHURN:-2s}
mkdir -p bin
go build -o bin/opendht ./cmd/opendht
go build -o bin/redirapps ./cmd/redirapps
DATA=$(mktemp -d)
bin/opendht testbed -n 8 --base-port "$BASE_PORT" --data "$DATA" >"$DATA/testbed.log" 2>&1 &
TB=$!
trap 'kill $TB 2>/dev/null; wait $TB 2>/dev/null; rm -rf "$DATA"' EXIT
G=127.0.0.1:$((BASE_PORT+1)),127.0.0.1:$((BASE_PORT+11)),127.0.0.1:$((BASE_PORT+21)),127.0.0.1:$((BASE_PORT+31))
for i in $(seq 1 60); do bin/redirapps placelab --gateway "$G" --servers 1 --clients 1 --duration 1s >/dev/null 2>&1 && break; sleep 1; done
rc=0
bin/redirapps rendezvous --gateway "$G" --servers 8 --duration "$DURATION" --churn "$CHURN" || rc=1
for m in 10 100 500; do
	bin/redirapps multicast --gateway "$G" --members "$m" --ttl 60s --interval 2s --duration "$DURATION" --churn "$CHURN" || rc=1
done
bin/redirapps placelab --gateway "$G" --servers 16 --clients 8 --duration "$DURATION" --churn "$CHURN" || rc=1
exit $rc
