#!/usr/bin/env bash
# spec/run.sh: simulate the Quint spec of one node, spec/opendht.qnt.
# `make spec` runs it from the repository root; it takes one to two minutes on 2 cores.
#
# 1. Invariants. `invariants` (INV-1..INV-5 of spec/SPEC.md section 10, and ST-1/ST-2)
#    must hold on random runs drawn with fixed seeds. A violation fails the script.
# 2. Witnesses. Each witnessNo* in the spec is deliberately false ("no write ever gets
#    status 2", ...). Each must be violated within its budget: that shows the runs reach
#    over capacity, queue timeouts, full queues, tombstones, extensions, expiry,
#    placemarks and the reply cap. A witness that holds fails the script.
# 3. Traces. A few runs are exported as ITF to model/testdata/itf/, which
#    model/itf_test.go replays against the Go model (`go test ./model/ -run ITF`).
#    Their seed is fixed, so the files only change when the spec does.
#
# A failing run prints its command and the one that replays the failing trace. Longer
# runs, for example:
#   SEEDS="101 102 103 104" SAMPLES=2000 bash spec/run.sh
# Environment: SEEDS (seeds of the invariant runs), SAMPLES (runs per seed), STEPS (steps
# per run), JOBS (parallel quint processes), QUINT (the quint binary).
set -euo pipefail

cd "$(dirname "$0")/.."
QUINT=${QUINT:-spec/node_modules/.bin/quint}
SPEC=spec/opendht.qnt
SEEDS=${SEEDS:-"1 2"}
SAMPLES=${SAMPLES:-120}
STEPS=${STEPS:-40}
JOBS=${JOBS:-2}
# The exported traces: TRACE_SEED and TRACES are chosen so that the traces exercise every
# rule tag model/itf_test.go requires (itfRequired) and stay a few hundred KB.
TRACE_SEED=7
TRACES=8
TRACE_STEPS=35
TRACE_DIR=model/testdata/itf
# Witness budget: runs to find a violation in (each stops at the first one).
WITNESS_SAMPLES=300
WITNESS_SEED=100
WITNESSES=(
	witnessNoStatus1   # FST-6, FST-7: a write is refused at once
	witnessNoStatus2   # FST-8: a write times out in its queue
	witnessNoQueueFull # FST-6: a client's queue is full
	witnessNoCurveWait # FST-3, FST-4: admission waits for the commitment curve
	witnessNoTie       # FST-4: two heads with the same start tag wait, arrival order decides
	witnessNoPlacemark # GET-4: a get returns a non-empty placemark
	witnessNoFollow    # GET-1, GET-4: a get that follows a placemark returns values
	witnessNoReplyCap  # GET-3: the reply cap cuts a reply
	witnessNoPut4      # PUT-4: a live tombstone makes a put a no-op
	witnessNoPut6      # PUT-6: a put extends a live item
	witnessNoRemove    # RM-2, RM-3: an rm deletes a live item
	witnessNoExpiry    # TTL-3: an item expires
	witnessNoRestartLoss # DUR-3: a restart loses queued writes
)

if [ ! -x "$QUINT" ]; then
	echo "spec/run.sh: $QUINT not found: run \`cd spec && npm ci\` (or \`make spec\`)" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

# quint_cmd SEED SAMPLES STEPS INVARIANT [extra args]: the command line of one run.
quint_cmd() {
	local seed=$1 samples=$2 steps=$3 inv=$4
	shift 4
	echo "$QUINT" run --backend=typescript --main=opendht --seed="$seed" --max-samples="$samples" \
		--max-steps="$steps" --invariant="$inv" --verbosity=1 "$@" "$SPEC"
}

# job NAME SEED SAMPLES STEPS INVARIANT [extra args]: run quint in the background, at
# most JOBS at a time. The verdict ("ok", "violation" or "error") goes to
# $tmp/NAME.verdict, the command to $tmp/NAME.cmd, the output to $tmp/NAME.log.
job() {
	local name=$1 seed=$2 samples=$3 steps=$4 inv=$5
	shift 5
	local cmd
	cmd=$(quint_cmd "$seed" "$samples" "$steps" "$inv" "$@")
	echo "$steps $inv" >"$tmp/$name.args"
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
	(
		echo "$cmd" >"$tmp/$name.cmd"
		set +e
		$cmd >"$tmp/$name.log" 2>&1
		rc=$?
		set -e
		if grep -q '^\[violation\]' "$tmp/$name.log"; then got=violation
		elif [ $rc -eq 0 ] && grep -q '^\[ok\]' "$tmp/$name.log"; then got=ok
		else got=error; fi
		echo "$got" >"$tmp/$name.verdict"
	) &
}

# report NAME EXPECT: print the verdict of a finished job; return 1 if it is not EXPECT.
report() {
	local name=$1 expect=$2 got
	got=$(cat "$tmp/$name.verdict" 2>/dev/null || echo error)
	local cmd
	cmd=$(cat "$tmp/$name.cmd")
	local replay steps inv
	replay=$(grep -o 'seed=0x[0-9a-fA-F]*' "$tmp/$name.log" | tail -1 || true)
	read -r steps inv <"$tmp/$name.args"
	if [ "$got" = "$expect" ]; then
		case $got in
		ok) echo "ok        $name: $(grep '^\[ok\]' "$tmp/$name.log")" ;;
		violation) echo "reached   $name: violated as expected ($replay)" ;;
		esac
		return 0
	fi
	echo "FAIL      $name: expected $expect, got $got"
	echo "  command: $cmd"
	sed 's/^/  | /' "$tmp/$name.log" | tail -40
	if [ "$got" = violation ] && [ -z "$replay" ]; then
		echo "  replay: the command above with --verbosity=3 prints the violating trace"
	elif [ "$got" = violation ]; then
		echo "  replay the violating run (prints the trace):"
		echo "    $(quint_cmd "${replay#seed=}" 1 "$steps" "$inv" | sed 's/--verbosity=1/--verbosity=3/')"
	elif [ "$expect" = violation ]; then
		echo "  the simulation never reached this situation: raise WITNESS_SAMPLES or tune the spec's weights"
	fi
	return 1
}

echo "spec/run.sh: quint $("$QUINT" --version), $SPEC, invariant seeds: $SEEDS, $SAMPLES runs x $STEPS steps"

# 1. Invariants.
for seed in $SEEDS; do
	job "invariants-seed-$seed" "$seed" "$SAMPLES" "$STEPS" invariants
done
# 2. Witnesses.
for w in "${WITNESSES[@]}"; do
	job "$w" "$WITNESS_SEED" "$WITNESS_SAMPLES" "$STEPS" "$w"
done
# 3. Traces, into a scratch directory first: the committed ones are replaced only if
#    the export succeeds.
mkdir -p "$tmp/itf"
job traces "$TRACE_SEED" "$TRACES" "$TRACE_STEPS" invariants --n-traces="$TRACES" --out-itf="$tmp/itf/trace_{seq}.itf.json"
wait

failed=0
for seed in $SEEDS; do report "invariants-seed-$seed" ok || failed=1; done
for w in "${WITNESSES[@]}"; do report "$w" violation || failed=1; done
report traces ok || failed=1

if [ $failed -eq 0 ]; then
	n=$(find "$tmp/itf" -name 'trace_*.itf.json' | wc -l)
	if [ "$n" -ne "$TRACES" ]; then
		echo "FAIL      traces: quint wrote $n traces, expected $TRACES"
		failed=1
	else
		# Drop the creation time from the metadata so that regenerating is byte-stable.
		for f in "$tmp"/itf/trace_*.itf.json; do
			sed -i -E "s/\"description\":\"Created by Quint on [^\"]*\",\"timestamp\":[0-9]+/\"description\":\"Created by spec\/run.sh: quint run --seed=$TRACE_SEED --max-samples=$TRACES --n-traces=$TRACES --max-steps=$TRACE_STEPS\"/" "$f"
		done
		mkdir -p "$TRACE_DIR"
		rm -f "$TRACE_DIR"/*.itf.json
		cp "$tmp"/itf/trace_*.itf.json "$TRACE_DIR"/
		echo "exported  $TRACES traces to $TRACE_DIR ($(($(cat "$TRACE_DIR"/*.itf.json | wc -c) / 1024)) KiB): replay them with go test ./model/ -run ITF"
	fi
fi

echo "spec/run.sh: $(( $(date +%s) - start ))s"
if [ $failed -ne 0 ]; then
	echo "spec/run.sh: FAILED"
	exit 1
fi
echo "spec/run.sh: all invariants hold, all witnesses reached"
