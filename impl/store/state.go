package store

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

// Protocol state: a keyspace apart from items and tombstones, where a
// read-modify-write protocol keeps what it must not forget across a crash
// (an acceptor's promise and accepted value, spec/SPEC.md section 11). The
// records are named by a namespace (the protocol's name) and a key; the
// store gives them no meaning, does not charge them to a client (FST) and
// does not expire them: the protocol deletes what it no longer needs.

const tagState = 's'

// Limits of protocol state records.
const (
	MaxStateNamespace = 32
	MaxStateLen       = 4096
)

// ErrStateTooLarge refuses a state record or namespace over its limit.
var ErrStateTooLarge = errors.New("store: protocol state over its limit")

func stateKey(ns string, key dht.Key) []byte {
	b := make([]byte, 0, 2+len(ns)+dht.KeyLen)
	b = append(b, tagState, byte(len(ns)))
	b = append(b, ns...)
	return append(b, key[:]...)
}

func statePrefix(ns string) []byte {
	b := make([]byte, 0, 2+len(ns))
	b = append(b, tagState, byte(len(ns)))
	return append(b, ns...)
}

// SaveState writes the state of key in namespace ns (nil or empty deletes
// it). Like StepAsync it returns at once: readers see the new state, and
// the Pending's Wait reports when it is durable; nothing that depends on
// it may be told before that. Saves share fsyncs with concurrent steps.
func (s *Store) SaveState(ns string, key dht.Key, val []byte) (*Pending, error) {
	if len(ns) == 0 || len(ns) > MaxStateNamespace || len(val) > MaxStateLen {
		return nil, ErrStateTooLarge
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.failed != nil {
		return nil, fmt.Errorf("%w: %w", ErrFailed, s.failed)
	}
	b := s.db.NewBatch()
	k := stateKey(ns, key)
	if len(val) == 0 {
		_ = b.Delete(k, nil)
	} else {
		_ = b.Set(k, val, nil)
	}
	if !s.wopts.Sync {
		if err := s.db.Apply(b, s.wopts); err != nil {
			return nil, s.abort(b, err)
		}
		_ = b.Close()
		return &Pending{s: s}, nil
	}
	if err := s.db.ApplyNoSyncWait(b, s.wopts); err != nil {
		return nil, s.abort(b, err)
	}
	return &Pending{s: s, b: b}, nil
}

// LoadState returns the state of key in namespace ns, nil if there is
// none.
func (s *Store) LoadState(ns string, key dht.Key) ([]byte, error) {
	if len(ns) == 0 || len(ns) > MaxStateNamespace {
		return nil, ErrStateTooLarge
	}
	v, closer, err := s.db.Get(stateKey(ns, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	_ = closer.Close()
	return out, nil
}

// ScanState calls fn for every state record of namespace ns, in key
// order, until fn returns false. It reads a snapshot and does not block
// writes.
func (s *Store) ScanState(ns string, fn func(key dht.Key, val []byte) bool) error {
	if len(ns) == 0 || len(ns) > MaxStateNamespace {
		return ErrStateTooLarge
	}
	lo := statePrefix(ns)
	// Every key of the namespace is the prefix and 20 bytes: the prefix,
	// 20 bytes of 0xff and one more byte is above them all.
	hi := append(statePrefix(ns), bytes.Repeat([]byte{0xff}, dht.KeyLen+1)...)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(lo)+dht.KeyLen {
			return fmt.Errorf("%w: protocol state key of %d bytes", errCorruptRecord, len(k))
		}
		var key dht.Key
		copy(key[:], k[len(lo):])
		if !fn(key, append([]byte(nil), it.Value()...)) {
			break
		}
	}
	return it.Error()
}

// States returns every state record of namespace ns, by key: what a node
// holds of its registers when it starts.
func (s *Store) States(ns string) (map[dht.Key][]byte, error) {
	out := map[dht.Key][]byte{}
	err := s.ScanState(ns, func(k dht.Key, v []byte) bool {
		out[k] = v
		return true
	})
	return out, err
}
