package gateway

import (
	"context"

	"github.com/opendht-go/opendht/impl/dht"
)

// The authenticated operations of spec/SPEC.md section 18, shared by every
// protocol: an immutable put and get (IM-*), a signed put, get and remove
// (SG-*). They are built from the Backend's put and get: authenticated
// items are items (IM-1), read in item order from just before their kind
// tag, and verified here as a client would (IM-3, SG-7).

// authPageSize is how many items of a key one page of an authenticated
// get asks for: a key holds one immutable value per variant, and one live
// record but for those that outlive a higher one (SG-6).
const authPageSize = 16

// PutImmutable stores value under its hash (IM-2) and returns the key.
func PutImmutable(ctx context.Context, b Backend, alg dht.ImmutableAlg, value []byte, ttl int64, client dht.ClientID) (dht.Key, dht.Status, error) {
	p := dht.ImmutablePut(alg, value, ttl, client)
	if err := p.Validate(); err != nil {
		return p.Key, 0, err
	}
	st, err := b.Put(ctx, p)
	return p.Key, st, err
}

// GetImmutable returns the value stored under an immutable key, verified
// (IM-3); found is false if the key holds none that hashes to it.
func GetImmutable(ctx context.Context, b Backend, alg dht.ImmutableAlg, key dht.Key) (value []byte, found bool, err error) {
	err = tagged(ctx, b, key, alg.Tag(), func(v dht.Value) bool {
		if dht.ImmutableKey(alg, v.Value) == key {
			value, found = v.Value, true
			return false
		}
		return true
	})
	return value, found, err
}

// PutSigned stores a record the owner signed (SG-5); the nodes keep it
// until its signed expiry (SG-8).
func PutSigned(ctx context.Context, b Backend, r dht.Record, client dht.ClientID) (dht.Status, error) {
	if len(r.Value) > dht.MaxSignedValueLen {
		return 0, dht.ErrSignedValueTooBig
	}
	p := dht.SignedPut(r, 0, client)
	p.TTL = dht.MaxTTL // every node clamps it to the signed expiry (SG-8)
	if err := p.Validate(); err != nil {
		return 0, err
	}
	return b.Put(ctx, p) // the node verifies it, and counts a refusal (SG-9)
}

// GetSigned returns the greatest live record of a signed key that
// verifies (SG-7). found is false if there is none; a found record may be
// a signed remove (Removed), which the caller reads as "nothing", and
// whose seq the owner's next record must exceed.
func GetSigned(ctx context.Context, b Backend, key dht.Key) (rec dht.Record, found bool, err error) {
	err = tagged(ctx, b, key, dht.TagSigned, func(v dht.Value) bool {
		r, err := dht.DecodeRecord(v.Value)
		if err != nil || r.Verify(key) != nil {
			return true
		}
		if !found || dht.Outranks(r, rec) {
			rec, found = r, true
		}
		return true
	})
	return rec, found, err
}

// tagged calls fn for each value of key whose secret hash is tag, until fn
// returns false. It pages in item order from the position just before the
// tag (RD-9), so that it skips plain items with smaller secret hashes and
// stops at the first item past the tag.
func tagged(ctx context.Context, b Backend, key dht.Key, tag dht.Hash, fn func(dht.Value) bool) error {
	before := dht.ItemPos{SecretHash: tag}
	before.SecretHash[dht.HashLen-1]--
	for i := range before.ValueHash {
		before.ValueHash[i] = 0xff
	}
	g := dht.Get{Key: key, MaxVals: authPageSize, ItemOrder: true, Placemark: dht.EncodeItemPlacemark(before)}
	for {
		rep, err := b.Get(ctx, g)
		if err != nil {
			return err
		}
		for _, v := range rep.Values {
			if v.SecretHash != tag {
				return nil
			}
			if !fn(v) {
				return nil
			}
		}
		if len(rep.Placemark) == 0 {
			return nil
		}
		g.Placemark = rep.Placemark
	}
}
