package redir

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/opendht-go/opendht/impl/dht"
)

// Record is a namespace member as its records in the tree list it.
type Record struct {
	// ID places the member on the circle of 160-bit IDs.
	ID dht.Key
	// Payload is what the member wants finders to know, such as its address.
	Payload []byte
}

// recordVersion is the first byte of every record this package writes.
const recordVersion = 1

// MaxPayload is the largest payload: a record is one DHT value (at most
// 1024 bytes) of a version byte, the ID and the payload.
const MaxPayload = dht.MaxValueLen - 1 - dht.KeyLen

// ErrMalformed is a value under a tree node that is not a record of this
// package (anyone can put under a public key): lookups skip it.
var ErrMalformed = errors.New("redir: malformed record")

func encodeRecord(r Record) []byte {
	b := make([]byte, 0, 1+dht.KeyLen+len(r.Payload))
	b = append(b, recordVersion)
	b = append(b, r.ID[:]...)
	return append(b, r.Payload...)
}

func decodeRecord(b []byte) (Record, error) {
	if len(b) < 1+dht.KeyLen || b[0] != recordVersion || len(b) > dht.MaxValueLen {
		return Record{}, fmt.Errorf("%w: %d bytes, version %d", ErrMalformed, len(b), firstByte(b))
	}
	var r Record
	copy(r.ID[:], b[1:1+dht.KeyLen])
	r.Payload = bytes.Clone(b[1+dht.KeyLen:])
	return r, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// node names tree node (level, index): the index-th of b^level intervals.
type node struct {
	level int
	index uint64
}

// top64 is the first 64 bits of an ID, all a tree of at most 64 bits of
// depth looks at.
func top64(k dht.Key) uint64 { return binary.BigEndian.Uint64(k[:8]) }

// index is the interval of level l that holds k.
func (c Config) index(k dht.Key, l int) uint64 {
	if l == 0 {
		return 0
	}
	return top64(k) >> (64 - uint(l*c.digitBits()))
}

// covering is the tree node of level l whose interval holds k.
func (c Config) covering(k dht.Key, l int) node { return node{l, c.index(k, l)} }

// within says whether k lies in n's interval.
func (c Config) within(n node, k dht.Key) bool { return c.index(k, n.level) == n.index }

// sharedDepth is the deepest level (at most Levels-1) whose interval holds
// both a and b.
func (c Config) sharedDepth(a, b dht.Key) int {
	d := 0
	for d+1 < c.Levels && c.index(a, d+1) == c.index(b, d+1) {
		d++
	}
	return d
}

// dhtKey is where tree node n of namespace ns is stored.
func dhtKey(ns string, n node) dht.Key {
	h := sha1.New()
	h.Write([]byte("redir\x00"))
	var b [binary.MaxVarintLen64]byte
	h.Write(b[:binary.PutUvarint(b[:], uint64(len(ns)))])
	h.Write([]byte(ns))
	h.Write(b[:binary.PutUvarint(b[:], uint64(n.level))])
	h.Write(b[:binary.PutUvarint(b[:], n.index)])
	var k dht.Key
	copy(k[:], h.Sum(nil))
	return k
}

// sub is a-b on the circle of 2^160 IDs.
func sub(a, b dht.Key) dht.Key {
	var d dht.Key
	borrow := 0
	for i := dht.KeyLen - 1; i >= 0; i-- {
		v := int(a[i]) - int(b[i]) - borrow
		borrow = 0
		if v < 0 {
			v += 256
			borrow = 1
		}
		d[i] = byte(v)
	}
	return d
}

// direction is what a search looks for: the successor of k (the first
// member at or after k, clockwise) or its predecessor (the last member
// strictly before k).
type direction bool

const (
	succ direction = false
	pred direction = true
)

// distance is how far r is from k in the search's direction; the answer is
// the member at the smallest distance.
func (d direction) distance(k, r dht.Key) dht.Key {
	if d == succ {
		return sub(r, k)
	}
	return sub(sub(k, r), dht.Key{dht.KeyLen - 1: 1})
}

// ahead says whether r is on the searched side of k without wrapping.
func (d direction) ahead(k, r dht.Key) bool {
	if d == succ {
		return bytes.Compare(r[:], k[:]) >= 0
	}
	return bytes.Compare(r[:], k[:]) < 0
}
