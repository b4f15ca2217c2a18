package store

import "github.com/opendht-go/opendht/impl/dht"

// digestRanges answers ReqDigest from the digest index: O(log N) a range,
// whatever the store holds. Entries that expired but are not reclaimed
// yet are included (DigestRange); a node's steps reclaim them within a
// second.
func (s *Store) digestRanges(ranges []KeyRange, _ dht.Time) ([]RangeDigest, error) {
	out := make([]RangeDigest, len(ranges))
	for i, r := range ranges {
		out[i].XOR, out[i].Count = s.DigestRange(r.Lo, r.Hi)
	}
	return out, nil
}

// listRanges answers ReqList from the digest index, in key order.
func (s *Store) listRanges(ranges []KeyRange, _ dht.Time) ([]Entry, error) {
	var out []Entry
	for _, r := range ranges {
		s.ListRange(r.Lo, r.Hi, func(id dht.ItemID, tombstone bool, summary uint64) bool {
			out = append(out, Entry{ID: id, Tombstone: tombstone, Summary: summary})
			return true
		})
	}
	return out, nil
}
