// Package dht is the shared vocabulary of the project: keys, hashes, items,
// operations, results, limits and status codes. It is a leaf package: the
// reference model (model/) and the implementation (impl/...) both import it
// and neither imports the other, so a type defined here means the same thing
// on both sides of every model-versus-implementation check.
//
// The rules these types carry are numbered in spec/SPEC.md (LIM-*, ST-*,
// PUT-1, RM-1, GET-1).
package dht

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// Limits of the client interface (spec/SPEC.md, LIM-1..LIM-6).
const (
	// KeyLen is the size of a key in bytes (160 bits).
	KeyLen = 20
	// HashLen is the size of a SHA-1 digest in bytes.
	HashLen = 20
	// MaxValueLen is the largest value a put may carry, in bytes (LIM-2).
	MaxValueLen = 1024
	// MaxSecretLen is the largest secret a remove may carry, in bytes (LIM-3).
	MaxSecretLen = 40
	// MaxTTL is the largest TTL a put or remove keeps, in seconds (TTL-1);
	// a larger TTL is clamped to it.
	MaxTTL = 604800
	// MaxPlacemarkLen is the largest placemark a get accepts, in bytes (LIM-5).
	MaxPlacemarkLen = 100
	// ItemOverhead is the bytes charged for one stored item on top of its
	// value (puts) or secret (tombstones): key, two hashes, expiry and
	// bookkeeping (FST-1).
	ItemOverhead = 64
	// HashAlgSHA is the only secret hash algorithm (LIM-4).
	HashAlgSHA = "SHA"
)

// Errors returned for malformed requests. A request that fails validation
// changes nothing (LIM-7).
var (
	ErrKeyTooLong       = errors.New("key is longer than 20 bytes")
	ErrValueTooLong     = errors.New("value is longer than 1024 bytes")
	ErrSecretTooLong    = errors.New("secret is longer than 40 bytes")
	ErrUnknownHashAlg   = errors.New("unknown secret hash algorithm")
	ErrBadTTL           = errors.New("ttl must be positive")
	ErrBadMaxVals       = errors.New("maxvals must be positive")
	ErrBadPlacemark     = errors.New("placemark is malformed")
	ErrBadSecretHash    = errors.New("secret hash must be 20 bytes")
	ErrBadValueHash     = errors.New("value hash must be 20 bytes")
	ErrZeroSecretHash   = errors.New("secret hash of a removable put must not be all zero")
	ErrDuplicateRequest = errors.New("request id already pending")
)

// Status is the outcome of a write, with the original wire codes (ST-1).
type Status int

const (
	// StatusOK: the write was applied (or had nothing to do, PUT-4, PUT-5).
	StatusOK Status = 0
	// StatusOverCapacity: the node refuses the write (FST-6, FST-7).
	StatusOverCapacity Status = 1
	// StatusTryAgain: the write waited in its queue longer than the queue
	// timeout and was dropped without effect (FST-8).
	StatusTryAgain Status = 2
	// StatusOverQuota: the write would take its account over its quota at
	// a replica (AC-5). It travels between nodes; gateways answer clients
	// of the original API with a fault or status 1 (AC-7).
	StatusOverQuota Status = 3
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusOverCapacity:
		return "over capacity"
	case StatusTryAgain:
		return "try again"
	case StatusOverQuota:
		return "over quota"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Time is a point in time in whole seconds since the Unix epoch. The spec,
// the model and the store all count TTLs and expiries in seconds, as the
// original service did.
type Time int64

// Key is a 160-bit DHT key.
type Key [KeyLen]byte

// Hash is a SHA-1 digest.
type Hash [HashLen]byte

// ZeroHash is the secret hash of a put that cannot be removed (PUT-2).
var ZeroHash Hash

// SHA1 hashes b.
func SHA1(b []byte) Hash { return Hash(sha1.Sum(b)) }

// IsZero reports whether h is all zero bytes.
func (h Hash) IsZero() bool { return h == ZeroHash }

func (h Hash) String() string { return hex.EncodeToString(h[:]) }
func (k Key) String() string  { return hex.EncodeToString(k[:]) }

// ParseKey turns client key bytes into a Key. Keys shorter than 20 bytes are
// left-padded with zero bytes; longer keys are an error (LIM-1).
func ParseKey(b []byte) (Key, error) {
	var k Key
	if len(b) > KeyLen {
		return k, ErrKeyTooLong
	}
	copy(k[KeyLen-len(b):], b)
	return k, nil
}

// ParseHash turns 20 bytes into a Hash.
func ParseHash(b []byte) (Hash, bool) {
	var h Hash
	if len(b) != HashLen {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

// ItemID identifies a stored item: the same value under two secrets is two
// items (PUT-1).
type ItemID struct {
	Key        Key
	SecretHash Hash
	ValueHash  Hash
}

// Less orders item IDs by key, then secret hash, then value hash.
func (a ItemID) Less(b ItemID) bool { return a.Compare(b) < 0 }

// Compare returns -1, 0 or +1.
func (a ItemID) Compare(b ItemID) int {
	if c := bytes.Compare(a.Key[:], b.Key[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.SecretHash[:], b.SecretHash[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.ValueHash[:], b.ValueHash[:])
}

// ClientID names the client a write is charged to: its IP address at the
// gateway (FST-5), or an account of a provider with its quota (AC-4,
// account.go).
type ClientID string

// ClampTTL applies TTL-1 and TTL-2: a TTL must be positive and is clamped to
// MaxTTL seconds.
func ClampTTL(ttl int64) (int64, error) {
	if ttl <= 0 {
		return 0, ErrBadTTL
	}
	if ttl > MaxTTL {
		return MaxTTL, nil
	}
	return ttl, nil
}

// Put stores Value under Key for TTL seconds. A zero SecretHash makes the
// put unremovable (put); a non-zero one is put_removable.
type Put struct {
	Client     ClientID
	Key        Key
	Value      []byte
	TTL        int64
	SecretHash Hash
}

// ID is the identity of the item the put stores.
func (p Put) ID() ItemID { return ItemID{p.Key, p.SecretHash, SHA1(p.Value)} }

// Validate applies LIM-2 and TTL-2.
func (p Put) Validate() error {
	if len(p.Value) > MaxValueLen {
		return ErrValueTooLong
	}
	if p.TTL <= 0 {
		return ErrBadTTL
	}
	return nil
}

// Remove stores a tombstone for the item (Key, SHA1(Secret), ValueHash).
type Remove struct {
	Client    ClientID
	Key       Key
	ValueHash Hash
	Secret    []byte
	TTL       int64
}

// ID is the identity of the item the remove deletes (RM-1).
func (r Remove) ID() ItemID { return ItemID{r.Key, SHA1(r.Secret), r.ValueHash} }

// Validate applies LIM-3 and TTL-2.
func (r Remove) Validate() error {
	if len(r.Secret) > MaxSecretLen {
		return ErrSecretTooLong
	}
	if r.TTL <= 0 {
		return ErrBadTTL
	}
	return nil
}

// Get reads up to MaxVals values under Key, starting at Placemark (empty for
// the first call).
type Get struct {
	Key       Key
	MaxVals   int
	Placemark []byte
	// ItemOrder reads in item order (RD-9): ascending (secret hash, value
	// hash), the same at every replica, with item placemarks. False reads
	// in one store's storage order (GET-1) with position placemarks. A
	// placemark of the other order is malformed (LIM-5).
	ItemOrder bool
	// Fast asks a replicated DHT for a fast read (spec/SPEC.md RD-14): the
	// merged answers of the first members of the key's replica set to
	// answer, not a read quorum, so without RD-7's read-your-acknowledged-
	// writes. A single store ignores it.
	Fast bool
}

// Validate applies LIM-5 and LIM-6 and checks the placemark's shape: either
// shape passes here, since a gateway does not know the order its backend
// reads in; the reader refuses the other order's placemark.
func (g Get) Validate() error {
	if g.MaxVals <= 0 {
		return ErrBadMaxVals
	}
	if len(g.Placemark) > 0 {
		if _, err := DecodePlacemark(g.Placemark); err != nil {
			if _, err := DecodeItemPlacemark(g.Placemark); err != nil {
				return ErrBadPlacemark
			}
		}
	}
	return nil
}

// Value is one value of a get reply with its details (get_details).
type Value struct {
	Value []byte
	// TTLRemaining is the seconds left before the item expires (TTL-4).
	TTLRemaining int64
	// SecretHash is zero for an unremovable put.
	SecretHash Hash
}

// HashAlg is the algorithm name get_details reports: "SHA" for a removable
// put, empty otherwise.
func (v Value) HashAlg() string {
	if v.SecretHash.IsZero() {
		return ""
	}
	return HashAlgSHA
}

// GetReply is the answer to a get: values in storage order and the
// placemark to continue from; an empty placemark means there is no more
// (GET-4).
type GetReply struct {
	Values    []Value
	Placemark []byte
}

// placemarkVersion tags the placemark encoding so it can change later;
// itemPlacemarkVersion tags the item placemark (RD-9).
const (
	placemarkVersion     = 1
	itemPlacemarkVersion = 2
	itemPlacemarkLen     = 1 + 2*HashLen
)

// ItemPos is a position in item order (RD-9): the identity of an item of
// a key without the key, compared as (secret hash, value hash).
type ItemPos struct {
	SecretHash Hash
	ValueHash  Hash
}

// Compare orders positions in item order.
func (p ItemPos) Compare(q ItemPos) int {
	if c := bytes.Compare(p.SecretHash[:], q.SecretHash[:]); c != 0 {
		return c
	}
	return bytes.Compare(p.ValueHash[:], q.ValueHash[:])
}

// PosOf returns the item-order position of a value.
func PosOf(v Value) ItemPos { return ItemPos{v.SecretHash, SHA1(v.Value)} }

// EncodeItemPlacemark encodes "continue after the item at p" (RD-9).
func EncodeItemPlacemark(p ItemPos) []byte {
	b := make([]byte, 0, itemPlacemarkLen)
	b = append(b, itemPlacemarkVersion)
	b = append(b, p.SecretHash[:]...)
	return append(b, p.ValueHash[:]...)
}

// DecodeItemPlacemark is the inverse of EncodeItemPlacemark.
func DecodeItemPlacemark(b []byte) (ItemPos, error) {
	var p ItemPos
	if len(b) != itemPlacemarkLen || b[0] != itemPlacemarkVersion {
		return p, ErrBadPlacemark
	}
	copy(p.SecretHash[:], b[1:])
	copy(p.ValueHash[:], b[1+HashLen:])
	return p, nil
}

// EncodePlacemark encodes a resume position: the storage sequence number of
// the next item to return (GET-4).
func EncodePlacemark(seq uint64) []byte {
	b := make([]byte, 9)
	b[0] = placemarkVersion
	binary.BigEndian.PutUint64(b[1:], seq)
	return b
}

// DecodePlacemark is the inverse of EncodePlacemark.
func DecodePlacemark(b []byte) (uint64, error) {
	if len(b) != 9 || b[0] != placemarkVersion {
		return 0, ErrBadPlacemark
	}
	return binary.BigEndian.Uint64(b[1:]), nil
}

// ChargedBytes is b in FST-1: what a put or tombstone costs in storage.
func ChargedBytes(payload int) int64 { return int64(payload) + ItemOverhead }

// OpKind names an operation of the single-node state machine.
type OpKind int

const (
	// OpPut queues a put (or put_removable) for admission.
	OpPut OpKind = iota + 1
	// OpRemove queues a remove for admission.
	OpRemove
	// OpGet reads (get and get_details are one operation: the reply has
	// the details; get drops them).
	OpGet
	// OpTick only lets time pass: it runs expiry, queue timeouts and
	// admission at the given time.
	OpTick
)

func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpRemove:
		return "rm"
	case OpGet:
		return "get"
	case OpTick:
		return "tick"
	}
	return fmt.Sprintf("op(%d)", int(k))
}

// Op is one input of the single-node state machine. ID names a write so
// that its Completion can be matched to it; IDs of pending writes must be
// distinct.
type Op struct {
	Kind   OpKind
	ID     uint64
	Put    Put
	Remove Remove
	Get    Get
}

// Completion reports the final status of a write.
type Completion struct {
	ID     uint64
	Status Status
}

// Result is the output of one step. Err is a validation error: the step
// changed nothing but the passage of time. Completed lists the writes
// decided during the step (including, possibly, the write the step
// submitted) in the order they were decided. Reply is set for OpGet.
type Result struct {
	Err       error
	Completed []Completion
	Reply     GetReply
}
