# The two commands a newcomer needs: `make run` and `make test`. See README.md.
GO       ?= go
QUINT    := spec/node_modules/.bin/quint
# Seeds and sizes for the long runs; CI uses the defaults of the tests.
SEED     ?=
FUZZTIME ?= 30s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Tests build with the planted variants (impl/plant), the
# negative controls of the consistency checks; binaries never do.
TEST_TAGS := -tags variants

.PHONY: all test test-long redir-long redir-figures linearizability consistency testbed-check testbed-down check run bench bench-cluster bench-peer spec spec-deps fuzz fmt vet staticcheck tidy race clean

all: test

## test: every check that gates a change (unit, rapid model-vs-store, crash, FST, fuzz corpora, spec)
test: spec
	$(GO) test $(TEST_TAGS) -count=1 ./...

## test-long: many more random schedules: 100 simulated fault schedules, 1000 kill-restart rings, 2000 rapid checks
test-long:
	OPENDHT_FAULT_CHECKS=100 OPENDHT_FAULT_SEED=0 $(GO) test $(TEST_TAGS) -count=1 -timeout 2h ./impl/node/ -run TestClusterUnderFaults -v
	OPENDHT_KILL_SEEDS=1000 $(GO) test $(TEST_TAGS) -count=1 -timeout 1h ./impl/node/ -run TestGatewayReachesEveryKeyAfterKillRestart -v
	OPENDHT_SCENARIO_SEEDS=50 $(GO) test $(TEST_TAGS) -count=1 -timeout 1h ./impl/node/ -run 'TestReplicated(Scenarios|VariantsCaught)' -v
	$(GO) test $(TEST_TAGS) -count=1 ./impl/store/ -run TestStoreMatchesModel -rapid.checks=2000
	for s in 1 2 3 4 5 6 7 8 9 10; do $(GO) test $(TEST_TAGS) -count=1 ./impl/overlay/ -run TestRing -args -seed=$$s || exit 1; done

## redir-long: the ReDiR applications (cmd/redirapps) on a fresh 8-node testbed with churn, one
## summary line each (DURATION=60s CHURN=2s); redir-figures: ReDiR's lookup figures in the simulated DHT
redir-long:
	bash cmd/redirapps/long.sh

redir-figures:
	OPENDHT_REDIR_FIGURES=1 $(GO) test $(TEST_TAGS) -count=1 ./impl/redir/ -run TestFigures -v | grep -E 'members=|^(ok|FAIL)'

## linearizability: the judge: every read-modify-write protocol under 200 seeded simulator schedules and real-UDP runs, checked with porcupine (ARGS=... for cmd/rmwjudge flags)
linearizability:
	$(GO) run ./cmd/rmwjudge -out judge-out $(ARGS)

## consistency: the replicated DHT's checks at length: 200 simulated clusters under rapid-drawn faults
## and workloads, every planted variant on 10 seeds, 5 runs of 8 node processes over real UDP with
## kill -9, partitions and loss; ends with checker=... and variant=... summary lines
consistency:
	OPENDHT_CONSISTENCY=1 $(GO) test $(TEST_TAGS) -count=1 -timeout 3h ./impl/node/ -run 'TestConsistency$$' -v 2>&1 | tee consistency.log | grep -E '^(checker|variant|udp run)=|^(--- )?(FAIL|ok|PASS)'

## testbed-check: the same checkers on the wide-area testbed (root, iproute2): 3 runs of 16 node
## processes in network namespaces, RTTs of a PlanetLab-like matrix (median 140 ms), 60 s of load
## each with kill -9, partitions, loss and slow nodes applied from outside; ends with checker=... lines
testbed-check:
	OPENDHT_TESTBED_RUNS=3 OPENDHT_TESTBED_NODES=16 OPENDHT_TESTBED_LOAD_S=60 $(GO) test $(TEST_TAGS) -count=1 -timeout 1h ./impl/node/ -run 'TestConsistencyOnTestbed$$' -v 2>&1 | tee testbed-check.log | grep -E '^(checker|testbed run)=|skipped|^(--- )?(FAIL|ok|PASS)'

## testbed-down: remove what any crashed network-namespace testbed left (namespaces, links, cgroups)
testbed-down:
	@mkdir -p bin && $(GO) build -o bin/opendht ./cmd/opendht
	bin/opendht testbed down --all

## check: what a contributor runs before pushing: format, vet, staticcheck, tidy, race, tests
check: fmt vet staticcheck tidy race test

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	$(GO) vet $(TEST_TAGS) ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) $(TEST_TAGS) ./...

tidy:
	@cp go.mod /tmp/go.mod.before; cp go.sum /tmp/go.sum.before; \
	$(GO) mod tidy; \
	if ! diff -q go.mod /tmp/go.mod.before >/dev/null || ! diff -q go.sum /tmp/go.sum.before >/dev/null; then \
		echo "go mod tidy changed go.mod/go.sum: commit the result"; exit 1; fi

race:
	$(GO) test $(TEST_TAGS) -race -count=1 -short ./impl/...

## spec: simulate the Quint spec, check its invariants and export ITF traces for the model replay test
spec-deps: $(QUINT)
$(QUINT): spec/package.json spec/package-lock.json
	cd spec && npm ci --no-audit --no-fund
	touch $(QUINT)

spec: spec-deps
	bash spec/run.sh

## bench: Go benchmarks of the store (durable put/get, sequential and 64-way; the digest index at
## 10,000 and 1,000,000 entries and its rebuild when a store of 1,000,000 items opens)
bench:
	$(GO) test $(TEST_TAGS) -run '^$$' -bench . -benchmem -benchtime 2s ./impl/store/ ./impl/simnet/

## bench-cluster: dhtctl bench on a fresh 16-node loopback cluster (64 clients, 1 kB, 50/50, 30 s); ARGS=... adds bench flags
bench-cluster:
	bash cmd/dhtctl/bench-cluster.sh $(ARGS)

## bench-peer: the peer, Debian's OpenDHT C++ (dhtnode, python3-opendht), under the load shape of
## `dhtctl bench` on a 16-node loopback cluster; see cmd/peerbench/README.md (needs root for apt)
bench-peer:
	bash cmd/peerbench/run.sh

## fuzz: longer fuzzing runs of every fuzz target in the module (FUZZTIME each)
fuzz:
	@for p in $$($(GO) list ./...); do \
		for t in $$($(GO) test $(TEST_TAGS) -list '^Fuzz' $$p | grep ^Fuzz); do \
			echo "== $$p $$t"; $(GO) test $(TEST_TAGS) -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; done; done

## run: a local DHT of 8 nodes with gateways (node i: UDP 5850+10i, XML-RPC +1, Sun RPC +2),
## ready for a client; prints how to reach it; Ctrl-C stops it
run:
	@mkdir -p bin && $(GO) build -buildvcs=auto -o bin/opendht ./cmd/opendht && $(GO) build -buildvcs=auto -o bin/dhtctl ./cmd/dhtctl
	bin/opendht testbed -n 8 --data ./data/testbed

clean:
	rm -rf spec/node_modules spec/out bin data
