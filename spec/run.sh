#!/usr/bin/env bash
# spec/run.sh: simulate the Quint specs: spec/opendht.qnt (one node: put/get/rm, TTLs, FST
# admission), spec/cas.qnt (the versioned registers of spec/SPEC.md section 11) and
# spec/replicated.qnt (the replicated DHT of section 13: quorum writes and reads, item-order
# paging, anti-entropy, under loss, duplication, reordering, crashes and cut links).
# `make spec` runs it from the repository root; it takes two to three minutes on 2 cores.
#
# 1. Invariants. `invariants` (INV-1..INV-5 of spec/SPEC.md section 10, and ST-1/ST-2;
#    INV-6..INV-8 in cas.qnt; in replicated.qnt one per rule RD-2, RD-5..RD-9) must hold
#    on random runs drawn with fixed seeds. A violation fails the script.
# 2. Witnesses. Each witnessNo* in opendht.qnt is deliberately false ("no write ever gets
#    status 2", ...). Each must be violated within its budget: that shows the runs reach
#    over capacity, queue timeouts, full queues, tombstones, extensions, expiry,
#    placemarks and the reply cap; those of replicated.qnt show second pages, pages
#    answered without the root, acknowledged and timed-out writes, anti-entropy copying
#    items and tombstones, expiry and writes taken by a node outside the replica set. A
#    witness that holds fails the script. The witness* of cas.qnt are counted by the
#    invariant runs (quint run --witnesses) and each must hold in at least one run.
# 3. Traces. A few runs are exported as ITF to model/testdata/itf/, which
#    model/itf_test.go replays against the Go model (`go test ./model/ -run ITF`); the
#    traces of cas.qnt go to model/testdata/itf/cas/ (model/cas_itf_test.go), those of
#    replicated.qnt to model/testdata/itf/replicated/: model/replicated_itf_test.go applies
#    each write to the model of the replicated DHT (model/replicated.go) at the step a node
#    first applied it, and judges each get's answer by what the model says it must and may
#    return (`go test ./model/ -run ReplicatedITF`). Their seed is fixed, so the files
#    only change when the spec does; the seed of the replicated traces is one whose traces
#    exercise what that test requires (repITFRequired), so re-pick it if the spec changes.
#
# A failing run prints its command and the one that replays the failing trace. Longer
# runs, for example:
#   SEEDS="101 102 103 104" SAMPLES=2000 bash spec/run.sh
# Environment: SEEDS (seeds of the invariant runs), SAMPLES (runs per seed), STEPS (steps
# per run), JOBS (parallel quint processes), QUINT (the quint binary); CAS_SEEDS,
# CAS_SAMPLES and CAS_STEPS are the same for cas.qnt, REP_SEEDS, REP_SAMPLES and REP_STEPS
# for replicated.qnt.
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
# The registers (spec/cas.qnt): a small state, so many more runs in little time.
CAS_SPEC=spec/cas.qnt
CAS_SEEDS=${CAS_SEEDS:-"1"}
CAS_SAMPLES=${CAS_SAMPLES:-200}
CAS_STEPS=${CAS_STEPS:-40}
CAS_TRACE_SEED=7
CAS_TRACES=6
CAS_TRACE_STEPS=40
CAS_TRACE_DIR=model/testdata/itf/cas
# Its witnesses are checked in the invariant runs themselves (quint run --witnesses counts
# the runs in which each holds somewhere): each must hold in at least one run. One quint
# process instead of one per witness, since starting quint costs more than these runs.
CAS_WITNESSES=(
	witnessConflict   # CAS-3: a cas fails on a live register
	witnessFailAbsent # CAS-4: a cas fails on an expired register and shows version 0
	witnessRecreate   # CAS-4: a register is created again after it expired
	witnessABA        # CAS-5: a cas succeeds with a version of an earlier lifetime
	witnessTombstone  # CAS-6: a read shows a tombstone (version >= 1, empty value)
	witnessSameValue  # CAS-5: a cas writes back the value the register holds
	witnessRefused    # CAS-8: a request is refused
)
# The replicated DHT (spec/replicated.qnt): runs are longer (a write takes a few messages,
# a settle time takes rounds of anti-entropy), so fewer of them.
REP_SPEC=spec/replicated.qnt
REP_SEEDS=${REP_SEEDS:-"1 2"}
REP_SAMPLES=${REP_SAMPLES:-120}
REP_STEPS=${REP_STEPS:-80}
# Its traces are about 1.5 MB: the history is in every state (git compresses them some 60
# times). REP_TRACE_SEED is one whose traces exercise what model/replicated_itf_test.go
# requires (repITFRequired, and items required by RD-7 and RD-8).
REP_TRACE_SEED=15
REP_TRACES=5
REP_TRACE_STEPS=80
REP_TRACE_DIR=model/testdata/itf/replicated
REP_WITNESSES=(
	witnessNoSecondPage      # RD-9: a get follows a placemark to a second page
	witnessNoPageWithoutRoot # RD-7: a page is answered by members other than the root
	witnessNoWriteAck        # RD-2: a write is acknowledged
	witnessNoWriteTimeout    # RD-3: a write times out for want of acks after its root stored it
	witnessNoAntiEntropyCopy # RD-8: anti-entropy copies an item a member missed
	witnessNoTombstoneCopy   # RD-8: a tombstone reaches a member that missed the rm
	witnessNoExpiry          # RD-6, TTL-3: an item expires
	witnessNoNonMemberRoot   # RD-2: a node outside the replica set takes a write, W+1 acks
)

if [ ! -x "$QUINT" ]; then
	echo "spec/run.sh: $QUINT not found: run \`cd spec && npm ci\` (or \`make spec\`)" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)

# quint_cmd SPECFILE SEED SAMPLES STEPS INVARIANT [extra args]: the command line of one
# run; the main module is the file's name (opendht, cas). The extra args come before
# --verbosity, which ends a list such as --witnesses' (else it would take the file).
quint_cmd() {
	local spec=$1 seed=$2 samples=$3 steps=$4 inv=$5
	shift 5
	echo "$QUINT" run --backend=typescript --main="$(basename "$spec" .qnt)" --seed="$seed" --max-samples="$samples" \
		--max-steps="$steps" --invariant="$inv" "$@" --verbosity=1 "$spec"
}

# job NAME SPECFILE SEED SAMPLES STEPS INVARIANT [extra args]: run quint in the
# background, at most JOBS at a time. The verdict ("ok", "violation" or "error") goes to
# $tmp/NAME.verdict, the command to $tmp/NAME.cmd, the output to $tmp/NAME.log.
job() {
	local name=$1 spec=$2 seed=$3 samples=$4 steps=$5 inv=$6
	shift 6
	local cmd
	cmd=$(quint_cmd "$spec" "$seed" "$samples" "$steps" "$inv" "$@")
	echo "$spec $steps $inv" >"$tmp/$name.args"
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
	local replay spec steps inv
	replay=$(grep -o 'seed=0x[0-9a-fA-F]*' "$tmp/$name.log" | tail -1 || true)
	read -r spec steps inv <"$tmp/$name.args"
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
		echo "    $(quint_cmd "$spec" "${replay#seed=}" 1 "$steps" "$inv" | sed 's/--verbosity=1/--verbosity=3/')"
	elif [ "$expect" = violation ]; then
		echo "  the simulation never reached this situation: raise WITNESS_SAMPLES or tune the spec's weights"
	fi
	return 1
}

# report_witnesses NAME WITNESS...: each witness must have been seen in at least one run
# of the finished job NAME (quint prints "W was witnessed in N trace(s) out of M ...").
report_witnesses() {
	local name=$1 w line n bad=0
	shift
	for w in "$@"; do
		line=$(grep "^$w was witnessed in " "$tmp/$name.log" || true)
		n=$(echo "$line" | sed -E 's/.* witnessed in ([0-9]+) trace.*/\1/')
		if [ -n "$line" ] && [ "$n" -gt 0 ]; then
			echo "reached   $w: ${line#"$w was "}"
		else
			echo "FAIL      $w: witnessed in no run of $name: raise CAS_SAMPLES or tune the spec's weights"
			echo "  command: $(cat "$tmp/$name.cmd")"
			bad=1
		fi
	done
	return $bad
}

echo "spec/run.sh: quint $("$QUINT" --version), $SPEC, invariant seeds: $SEEDS, $SAMPLES runs x $STEPS steps;" \
	"$CAS_SPEC, invariant seeds: $CAS_SEEDS, $CAS_SAMPLES runs x $CAS_STEPS steps;" \
	"$REP_SPEC, invariant seeds: $REP_SEEDS, $REP_SAMPLES runs x $REP_STEPS steps"

# 1. Invariants. The long runs start first, so that the short ones fill the gaps.
for seed in $SEEDS; do
	job "invariants-seed-$seed" "$SPEC" "$seed" "$SAMPLES" "$STEPS" invariants
done
for seed in $REP_SEEDS; do
	job "rep-invariants-seed-$seed" "$REP_SPEC" "$seed" "$REP_SAMPLES" "$REP_STEPS" invariants
done
for seed in $CAS_SEEDS; do
	job "cas-invariants-seed-$seed" "$CAS_SPEC" "$seed" "$CAS_SAMPLES" "$CAS_STEPS" invariants --witnesses "${CAS_WITNESSES[@]}"
done
# 2. Witnesses.
for w in "${WITNESSES[@]}"; do
	job "$w" "$SPEC" "$WITNESS_SEED" "$WITNESS_SAMPLES" "$STEPS" "$w"
done
for w in "${REP_WITNESSES[@]}"; do
	job "rep-$w" "$REP_SPEC" "$WITNESS_SEED" "$WITNESS_SAMPLES" "$REP_STEPS" "$w"
done
# 3. Traces, into a scratch directory first: the committed ones are replaced only if
#    the export succeeds.
mkdir -p "$tmp/itf" "$tmp/itf-cas" "$tmp/itf-rep"
job traces "$SPEC" "$TRACE_SEED" "$TRACES" "$TRACE_STEPS" invariants --n-traces="$TRACES" --out-itf="$tmp/itf/trace_{seq}.itf.json"
job cas-traces "$CAS_SPEC" "$CAS_TRACE_SEED" "$CAS_TRACES" "$CAS_TRACE_STEPS" invariants --n-traces="$CAS_TRACES" --out-itf="$tmp/itf-cas/trace_{seq}.itf.json"
job rep-traces "$REP_SPEC" "$REP_TRACE_SEED" "$REP_TRACES" "$REP_TRACE_STEPS" invariants --n-traces="$REP_TRACES" --out-itf="$tmp/itf-rep/trace_{seq}.itf.json"
wait

failed=0
for seed in $SEEDS; do report "invariants-seed-$seed" ok || failed=1; done
for seed in $REP_SEEDS; do report "rep-invariants-seed-$seed" ok || failed=1; done
for seed in $CAS_SEEDS; do
	report "cas-invariants-seed-$seed" ok || failed=1
	report_witnesses "cas-invariants-seed-$seed" "${CAS_WITNESSES[@]}" || failed=1
done
for w in "${WITNESSES[@]}"; do report "$w" violation || failed=1; done
for w in "${REP_WITNESSES[@]}"; do report "rep-$w" violation || failed=1; done
report traces ok || failed=1
report cas-traces ok || failed=1
report rep-traces ok || failed=1

# export NAME SCRATCH COUNT SEED STEPS DIR: replace the committed traces in DIR with the
# COUNT traces quint wrote to SCRATCH. Returns 1 if quint wrote another number.
export_traces() {
	local name=$1 scratch=$2 count=$3 seed=$4 steps=$5 dir=$6 n f
	n=$(find "$scratch" -name 'trace_*.itf.json' | wc -l)
	if [ "$n" -ne "$count" ]; then
		echo "FAIL      $name: quint wrote $n traces, expected $count"
		return 1
	fi
	# Drop the creation time from the metadata so that regenerating is byte-stable.
	for f in "$scratch"/trace_*.itf.json; do
		sed -i -E "s/\"description\":\"Created by Quint on [^\"]*\",\"timestamp\":[0-9]+/\"description\":\"Created by spec\/run.sh: quint run --seed=$seed --max-samples=$count --n-traces=$count --max-steps=$steps\"/" "$f"
	done
	mkdir -p "$dir"
	rm -f "$dir"/*.itf.json
	cp "$scratch"/trace_*.itf.json "$dir"/
	echo "exported  $count traces to $dir ($(($(cat "$dir"/*.itf.json | wc -c) / 1024)) KiB): replay them with go test ./model/ -run ITF"
}

if [ $failed -eq 0 ]; then
	export_traces traces "$tmp/itf" "$TRACES" "$TRACE_SEED" "$TRACE_STEPS" "$TRACE_DIR" || failed=1
	export_traces cas-traces "$tmp/itf-cas" "$CAS_TRACES" "$CAS_TRACE_SEED" "$CAS_TRACE_STEPS" "$CAS_TRACE_DIR" || failed=1
	export_traces rep-traces "$tmp/itf-rep" "$REP_TRACES" "$REP_TRACE_SEED" "$REP_TRACE_STEPS" "$REP_TRACE_DIR" || failed=1
fi

echo "spec/run.sh: $(( $(date +%s) - start ))s"
if [ $failed -ne 0 ]; then
	echo "spec/run.sh: FAILED"
	exit 1
fi
echo "spec/run.sh: all invariants hold, all witnesses reached"
