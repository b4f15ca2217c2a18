// Package store is the durable storage engine of one node: multi-valued
// keys with TTLs, tombstones, placemark iteration, per-client accounting and
// Fair Space-Time admission, on Pebble.
//
// It implements spec/SPEC.md sections 1-9 (STEP-1, LIM-*, ST-*, PUT-*, TTL-*,
// RM-*, GET-*, FST-*, DUR-*) and is checked step by step against the
// reference model (model/) by the rapid test in this package.
//
// # On-disk layout
//
// One Pebble database. Keys begin with a one-byte table tag:
//
//	"\x00meta"                 format magic and version (DUR-2)
//	"c"                        next storage sequence number
//	"d" | itemID(60)           identity record: item or tombstone, expiry,
//	                           sequence, charge, client, tombstone secret
//	"i" | key(20) | seq(8)     stored value in storage order (GET-1)
//	"x" | expiry(8) | itemID(60) | kind   expiry index (TTL-5)
//
// Integers are big-endian so that byte order is numeric order. The
// commitment curve and the per-client usage live in memory and are rebuilt
// from the expiry index on open. The fair queues are volatile: a queued
// write was never acknowledged, so losing it in a crash loses nothing.
//
// # Durability and group commit
//
// There is one write path, the node's: StepAsync (or StepsAsync for the
// operations that accumulated meanwhile) builds one Pebble batch under the
// store mutex and hands it to the WAL with ApplyNoSyncWait, and returns a
// Pending; the driver waits for the Pendings in order on another goroutine,
// so steps applied while an fsync is in flight share the next one (group
// commit). A write's status is reported only after its Pending's Wait
// returned (DUR-1). Step is StepAsync followed by Wait.
//
// # Read cache
//
// Get reads Pebble without the store mutex, through a read cache of the
// decoded items of recently read keys (readcache.go). Once a batch is
// applied, a cached key whose only change is new items (PUT-3) gains them
// in a new entry, and a key changed in any other way (an extension, a
// tombstone, a reclamation) is dropped; the model-versus-store test
// compares Get with the model after every get step, and two negative
// controls leave a cached key stale (a removed item kept, a new item
// missed).
//
// # Digest index for anti-entropy
//
// Beside Pebble, the store keeps in memory an index of its identity
// records (digest.go): per item or tombstone its ID and its Summary, in
// item-ID order, with the XOR and count of the summaries of every subtree.
// DigestRange answers the XOR and count of a key range in O(log N) and
// ListRange lists a range in O(log N + k), so that an anti-entropy round
// that finds nothing to repair costs the same at any store size. The index
// follows every batch the store applies and is rebuilt on open from one
// scan of the identity records; it is never written to disk.
//
// # Room for what comes next
//
// The identity record has a kind byte: immutable puts, signed (ed25519)
// puts, fragments of large values and versioned compare-and-set registers
// become new kinds with their own records, without a format break; the
// meta version guards older binaries against newer data.
package store
