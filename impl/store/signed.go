package store

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/opendht-go/opendht/impl/dht"
)

// Signed puts (spec/SPEC.md section 18). A signed record is an item whose
// secret-hash field holds dht.TagSigned; a key holds one live record but
// for those that outlive a higher one (SG-6). The records of a key are
// found through the digest index and the batch being built, and read
// from the batch, so that a step sees the records of the steps grouped
// with it.

type storedRecord struct {
	id  dht.ItemID
	old ident
	rec dht.Record
}

// records lists the live signed records stored under key.
func (s *Store) records(b *pebble.Batch, key dht.Key) ([]storedRecord, error) {
	seen := map[dht.ItemID]bool{}
	var ids []dht.ItemID
	s.ListRange(key, nextKey(key), func(id dht.ItemID, tomb bool, _ uint64) bool {
		if id.Key == key && id.SecretHash == dht.TagSigned && !tomb {
			seen[id] = true
			ids = append(ids, id)
		}
		return true
	})
	for id := range s.inBatch {
		if id.Key == key && id.SecretHash == dht.TagSigned && !seen[id] {
			ids = append(ids, id)
		}
	}
	var out []storedRecord
	for _, id := range ids {
		r, found, err := s.lookup(b, id)
		if err != nil {
			return nil, err
		}
		if !found || r.kind != kindItem {
			continue
		}
		v, closer, err := b.Get(valueKey(key, r.seq))
		if err != nil {
			return nil, fmt.Errorf("store: value of signed item %v: %w", id, err)
		}
		_, _, val, err := decodeValue(v)
		if err != nil {
			closer.Close()
			return nil, err
		}
		rec, err := dht.DecodeRecord(val)
		closer.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: signed item %v: %w", errCorruptRecord, id, err)
		}
		out = append(out, storedRecord{id, r, rec})
	}
	return out, nil
}

func nextKey(k dht.Key) dht.Key {
	for i := len(k) - 1; i >= 0; i-- {
		k[i]++
		if k[i] != 0 {
			return k
		}
	}
	return dht.Key{} // past the top: the end of the key space
}

// stale is SG-6: a stored live record of the key outranks p's and lives
// at least until e.
func (s *Store) stale(b *pebble.Batch, p dht.Put, e dht.Time) (bool, error) {
	if p.SecretHash != dht.TagSigned || s.mut() == mutAcceptStale {
		return false, nil
	}
	r, err := dht.DecodeRecord(p.Value)
	if err != nil {
		return false, nil // Authenticate refused it
	}
	rs, err := s.records(b, p.Key)
	if err != nil {
		return false, err
	}
	id := p.ID()
	for _, o := range rs {
		if o.id != id && dht.Outranks(o.rec, r) && o.old.expiry >= e {
			return true, nil
		}
	}
	return false, nil
}

// supersede deletes the records of p's key that p's record outranks and
// that do not outlive it (SG-6).
func (s *Store) supersede(b *pebble.Batch, p dht.Put, e dht.Time) error {
	if p.SecretHash != dht.TagSigned {
		return nil
	}
	r, err := dht.DecodeRecord(p.Value)
	if err != nil {
		return nil
	}
	rs, err := s.records(b, p.Key)
	if err != nil {
		return err
	}
	for _, o := range rs {
		if dht.Outranks(r, o.rec) && o.old.expiry <= e {
			s.uncommit(b, o.id, o.old)
			_ = b.Delete(valueKey(o.id.Key, o.old.seq), nil)
			s.touch(o.id.Key)
		}
	}
	return nil
}

// authenticate is the check of IM-3, SG-5 and SG-8 at enqueue: it returns
// the TTL to keep, or the reason the write is refused.
func (s *Store) authenticate(b *pebble.Batch, p dht.Put) (int64, error) {
	if s.mut() != mutSkipAuth {
		if err := p.Authenticate(); err != nil {
			return 0, err
		}
	}
	t, err := p.SignedTTL(p.TTL, s.now)
	if err != nil {
		if errors.Is(err, dht.ErrRecordMalformed) && s.mut() == mutSkipAuth {
			return p.TTL, nil
		}
		return 0, err
	}
	stale, err := s.stale(b, p, s.now+dht.Time(min(t, s.cfg.MaxTTL)))
	if err != nil {
		return 0, err
	}
	if stale {
		return 0, dht.ErrRecordStale
	}
	return t, nil
}
