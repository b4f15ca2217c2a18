package store

import (
	"crypto/sha1"
	"encoding/binary"

	"github.com/opendht-go/opendht/impl/dht"
)

// summary fingerprints an entry: the first 8 bytes of SHA-1 over its key,
// secret hash, value hash and a tombstone flag. Nodes of every version
// must compute it alike: anti-entropy compares them across nodes.
func summary(id dht.ItemID, tombstone bool) uint64 {
	var b [3*dht.KeyLen + 1]byte
	copy(b[:], id.Key[:])
	copy(b[dht.KeyLen:], id.SecretHash[:])
	copy(b[2*dht.KeyLen:], id.ValueHash[:])
	if tombstone {
		b[3*dht.KeyLen] = 1
	}
	h := sha1.Sum(b[:])
	return binary.BigEndian.Uint64(h[:8])
}

// digestRanges answers ReqDigest by one scan of the live entries.
func (s *Store) digestRanges(ranges []KeyRange, now dht.Time) ([]RangeDigest, error) {
	out := make([]RangeDigest, len(ranges))
	err := s.Scan(now, func(r Record) bool {
		for i, rg := range ranges {
			if rg.Contains(r.ID.Key) {
				out[i].XOR ^= summary(r.ID, r.Tombstone)
				out[i].Count++
			}
		}
		return true
	})
	return out, err
}

// listRanges answers ReqList by one scan of the live entries.
func (s *Store) listRanges(ranges []KeyRange, now dht.Time) ([]Entry, error) {
	var out []Entry
	err := s.Scan(now, func(r Record) bool {
		for _, rg := range ranges {
			if rg.Contains(r.ID.Key) {
				out = append(out, Entry{ID: r.ID, Tombstone: r.Tombstone, Summary: summary(r.ID, r.Tombstone)})
				break
			}
		}
		return true
	})
	return out, err
}
