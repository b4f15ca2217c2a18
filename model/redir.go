package model

import (
	"bytes"
	"slices"

	"github.com/opendht-go/opendht/impl/dht"
)

// RedirOracle is the model of ReDiR (spec/SPEC.md section 14): the set of
// a namespace's registered members and, by brute force over it, the
// successor and predecessor of any key on the circle of IDs.
type RedirOracle struct {
	members map[dht.Key][]byte
}

// NewRedirOracle returns an oracle of an empty namespace.
func NewRedirOracle() *RedirOracle { return &RedirOracle{members: map[dht.Key][]byte{}} }

// Join registers a member (or changes its payload).
func (o *RedirOracle) Join(id dht.Key, payload []byte) { o.members[id] = bytes.Clone(payload) }

// Leave forgets a member.
func (o *RedirOracle) Leave(id dht.Key) { delete(o.members, id) }

// Has says whether id is a member.
func (o *RedirOracle) Has(id dht.Key) bool { _, ok := o.members[id]; return ok }

// Len is the number of members.
func (o *RedirOracle) Len() int { return len(o.members) }

// Members lists the members' IDs in ascending order.
func (o *RedirOracle) Members() []dht.Key {
	out := make([]dht.Key, 0, len(o.members))
	for id := range o.members {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b dht.Key) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// Successor is the first member at or after key, wrapping to the lowest
// (RZ-5); false when there is none.
func (o *RedirOracle) Successor(key dht.Key) (dht.Key, bool) {
	ms := o.Members()
	if len(ms) == 0 {
		return dht.Key{}, false
	}
	for _, m := range ms {
		if bytes.Compare(m[:], key[:]) >= 0 {
			return m, true
		}
	}
	return ms[0], true
}

// Predecessor is the last member strictly before key, wrapping to the
// highest (RZ-5); false when there is none.
func (o *RedirOracle) Predecessor(key dht.Key) (dht.Key, bool) {
	ms := o.Members()
	if len(ms) == 0 {
		return dht.Key{}, false
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if bytes.Compare(ms[i][:], key[:]) < 0 {
			return ms[i], true
		}
	}
	return ms[len(ms)-1], true
}
