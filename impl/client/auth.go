package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// Immutable and signed puts (spec/SPEC.md section 18). Authenticated items
// are items whose secret hash is a kind tag (IM-1), so the client writes
// them with the original put (put_removable with the tag) and reads them
// with the original get, from a placemark just before the tag: they work
// over every protocol that carries a secret hash (XML-RPC, HTTP, Sun RPC
// version 3), and through any gateway of this project's nodes. The client
// verifies everything it reads (IM-3, SG-7); the nodes verify everything
// they store.

// ErrNotFound: the key holds no immutable value, or no live signed record
// (or its latest record is a signed remove).
var ErrNotFound = errors.New("client: no authenticated value under this key")

// PutImmutable stores value under its hash (IM-2) and returns the key.
func (c *Client) PutImmutable(ctx context.Context, alg dht.ImmutableAlg, value []byte, ttl time.Duration) (dht.Key, error) {
	p := dht.ImmutablePut(alg, value, seconds(ttl), "")
	if err := p.Validate(); err != nil {
		return p.Key, invalid("%v", err)
	}
	return p.Key, c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) { return t.put(ctx, p) })
}

// GetImmutable returns the value under an immutable key, checked against
// the key: a gateway or node that returns anything else is ignored.
func (c *Client) GetImmutable(ctx context.Context, alg dht.ImmutableAlg, key dht.Key) ([]byte, error) {
	var out []byte
	err := c.tagged(ctx, key, alg.Tag(), func(v Value) bool {
		if dht.ImmutableKey(alg, v.Data) == key {
			out = v.Data
			return false
		}
		return true
	})
	if err == nil && out == nil {
		return nil, ErrNotFound
	}
	return out, err
}

// SignedKey is the key the owner of priv writes under name (SG-2).
func SignedKey(pub ed25519.PublicKey, name []byte) dht.Key { return dht.SignedKey(pub, dht.SHA1(name)) }

// GetSigned returns the greatest live record under key that verifies
// (SG-7), signed removes included; ErrNotFound if there is none.
func (c *Client) GetSigned(ctx context.Context, key dht.Key) (dht.Record, error) {
	var best dht.Record
	found := false
	err := c.tagged(ctx, key, dht.TagSigned, func(v Value) bool {
		r, err := dht.DecodeRecord(v.Data)
		if err != nil || r.Verify(key) != nil {
			return true
		}
		if !found || dht.Outranks(r, best) {
			best, found = r, true
		}
		return true
	})
	if err == nil && !found {
		return best, ErrNotFound
	}
	return best, err
}

// PutSigned stores value under (priv, name) for ttl: it reads the current
// record and signs the next sequence number, with an expiry no earlier
// than the current record's (SG-8), so that no older record comes back.
// It returns the record it stored.
func (c *Client) PutSigned(ctx context.Context, priv ed25519.PrivateKey, name, value []byte, ttl time.Duration) (dht.Record, error) {
	return c.putSigned(ctx, priv, name, value, false, ttl)
}

// RemoveSigned stores a signed remove (SG-7) under (priv, name), live for
// ttl or as long as the current record, whichever is longer.
func (c *Client) RemoveSigned(ctx context.Context, priv ed25519.PrivateKey, name []byte, ttl time.Duration) (dht.Record, error) {
	return c.putSigned(ctx, priv, name, nil, true, ttl)
}

func (c *Client) putSigned(ctx context.Context, priv ed25519.PrivateKey, name, value []byte, removed bool, ttl time.Duration) (dht.Record, error) {
	if len(value) > dht.MaxSignedValueLen {
		return dht.Record{}, invalid("%v", dht.ErrSignedValueTooBig)
	}
	pub := priv.Public().(ed25519.PublicKey)
	key := SignedKey(pub, name)
	cur, err := c.GetSigned(ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return dht.Record{}, err
	}
	r := dht.Record{NameHash: dht.SHA1(name), Expires: dht.Time(time.Now().Unix() + min(seconds(ttl), dht.MaxTTL)), Removed: removed, Value: value}
	if err == nil {
		r.Seq = cur.Seq + 1
		r.Expires = max(r.Expires, cur.Expires)
	}
	r.Sign(priv)
	return r, c.PutRecord(ctx, r)
}

// PutRecord stores a record signed elsewhere, unchanged.
func (c *Client) PutRecord(ctx context.Context, r dht.Record) error {
	p := dht.SignedPut(r, dht.Time(time.Now().Unix()), "")
	if err := p.Validate(); err != nil {
		return invalid("%v", err)
	}
	if err := p.Authenticate(); err != nil {
		return invalid("%v", err)
	}
	if p.TTL <= 0 {
		return invalid("%v", dht.ErrRecordExpired)
	}
	return c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) { return t.put(ctx, p) })
}

// tagged reads the items of key with secret hash tag, page by page from
// just before the tag in item order (RD-9), until fn returns false.
func (c *Client) tagged(ctx context.Context, key dht.Key, tag dht.Hash, fn func(Value) bool) error {
	before := dht.ItemPos{SecretHash: tag}
	before.SecretHash[dht.HashLen-1]--
	for i := range before.ValueHash {
		before.ValueHash[i] = 0xff
	}
	pm := dht.EncodeItemPlacemark(before)
	for {
		page, err := c.GetPage(ctx, key, 16, pm)
		if err != nil {
			return err
		}
		for _, v := range page.Values {
			if v.SecretHash != tag || !fn(v) {
				return nil
			}
		}
		if len(page.Placemark) == 0 {
			return nil
		}
		pm = page.Placemark
	}
}
