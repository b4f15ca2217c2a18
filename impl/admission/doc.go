// Package admission is the Fair Space-Time (FST) admission controller of a
// storage node (spec/SPEC.md section 8): the commitment curve test (FST-2,
// FST-3) and start-time fair queuing of writes per client (FST-4..FST-8).
//
// It is a pure core: no I/O, no clock, no goroutines. The store calls it with
// the current time and applies the writes it admits. Unlike the reference
// model, which rescans every stored item, the curve here is an augmented treap
// keyed by expiry, so a test costs O(log n) in the number of distinct
// expiries, and the queues are a heap of client heads.
package admission
