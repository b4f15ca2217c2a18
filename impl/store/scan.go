package store

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

// Record is a stored item or tombstone as replication sees it: enough to
// compare two nodes' contents and to copy an entry from one to the other.
type Record struct {
	ID        dht.ItemID
	Tombstone bool
	Expiry    dht.Time
	Client    dht.ClientID
	Value     []byte // items: the value
	Secret    []byte // tombstones: the secret
}

// Scan calls fn for every live item and tombstone at time now, in item-ID
// order (key, then secret hash, then value hash), without values or
// secrets, until fn returns false. It reads a consistent snapshot and does
// not block writes.
func (s *Store) Scan(now dht.Time, fn func(Record) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tagIdent}, UpperBound: []byte{tagIdent + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != 1+idLen {
			return fmt.Errorf("%w: identity key of %d bytes", errCorruptRecord, len(k))
		}
		r, err := decodeIdent(it.Value())
		if err != nil {
			return err
		}
		if r.expiry <= now {
			continue
		}
		if !fn(Record{ID: decodeID(k[1:]), Tombstone: r.kind == kindTombstone, Expiry: r.expiry, Client: r.client}) {
			break
		}
	}
	return it.Error()
}

// ErrNotStored: the item or tombstone asked for is not (or no longer) here.
var ErrNotStored = errors.New("store: not stored")

// Fetch returns the full record of one live item or tombstone at now.
func (s *Store) Fetch(id dht.ItemID, now dht.Time) (Record, error) {
	v, closer, err := s.db.Get(identKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, ErrNotStored
	}
	if err != nil {
		return Record{}, err
	}
	r, err := decodeIdent(v)
	_ = closer.Close()
	if err != nil {
		return Record{}, err
	}
	if r.expiry <= now {
		return Record{}, ErrNotStored
	}
	rec := Record{ID: id, Tombstone: r.kind == kindTombstone, Expiry: r.expiry, Client: r.client, Secret: r.secret}
	if !rec.Tombstone {
		b, closer, err := s.db.Get(valueKey(id.Key, r.seq))
		if err != nil {
			return Record{}, fmt.Errorf("%w: value of a stored item: %w", errCorruptRecord, err)
		}
		_, _, val, err := decodeValue(b)
		rec.Value = append([]byte(nil), val...)
		_ = closer.Close()
		if err != nil {
			return Record{}, err
		}
	}
	return rec, nil
}
