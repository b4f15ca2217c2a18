// Package linearizability holds the consistency checkers that histories
// recorded from real and simulated clusters are held to.
//
// The replicated DHT's put/get/remove (spec/SPEC.md section 13): CheckDHT
// judges a cluster history against the model of the replicated DHT
// (model/replicated.go) with a porcupine nondeterministic model, per key:
// writes of unknown outcome may take effect or not, and each get, paged or
// not, must return what the model says it must and only what it may.
// CheckEventual, a set checker after Jepsen's (no phantom, no expired
// value, no resurrection, no lost acknowledged put), is kept as a second
// opinion on the same histories.
//
// Linearizability, for the versioned registers of spec/SPEC.md section 11
// (CAS-11): porcupine models of cas and read, partitioned by key, whose
// sequential specification is the model's (model.CAS, model.Read), with
// expiry judged against a skew bound.
//
//   - RegisterModel is deterministic: exact when unknown outcomes return at
//     infinity, which is how Recorder and RegisterHistory give them to
//     porcupine. RegisterNondeterministicModel lets an unknown outcome take
//     effect or not wherever it is placed; it is slower, and exact for
//     finite returns too.
//   - Recorder records histories from real clients (the wall clock) and
//     simulated ones (a virtual clock): strictly increasing timestamps, one
//     operation in flight per client, a new client id after an unknown
//     outcome, and the faults injected.
//   - RegisterHistory is such a history with its protocol, seed and bounds;
//     it is saved as JSON (Save, LoadRegisterHistory) so that a failing
//     run's history can be committed under testdata/ and checked again by a
//     plain test, and Check judges it, writing porcupine's HTML
//     visualization, with the faults as annotations, when it is not
//     linearizable.
//
// It is the one non-test package besides tests that may depend on both the
// model and the implementation.
package linearizability
