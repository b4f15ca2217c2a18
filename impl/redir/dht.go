package redir

import (
	"context"
	"errors"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
)

// DHT is what ReDiR asks of a DHT: the public client operations and
// nothing else. Implementations must be safe for concurrent use.
type DHT interface {
	// Get returns every live value under key (all pages).
	Get(ctx context.Context, key dht.Key) ([][]byte, error)
	// PutRemovable stores value under key for ttl, removable with secret.
	// Putting the same value and secret again extends its TTL.
	PutRemovable(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error
	// Remove removes what PutRemovable stored under key with secret.
	Remove(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error
}

// MaxNodeValues bounds the values read under one tree node: a namespace is
// public, and nobody should make a lookup read without end.
const MaxNodeValues = 10000

// ErrTooManyValues is returned, with the first MaxNodeValues values, by a
// get of a key that holds more.
var ErrTooManyValues = errors.New("redir: too many values under one tree node")

// ClientDHT is the real DHT, through the gateways of a client.
type ClientDHT struct{ C *client.Client }

// NewClientDHT returns the DHT that c reaches.
func NewClientDHT(c *client.Client) ClientDHT { return ClientDHT{C: c} }

// Get reads every value under key, following placemarks.
func (d ClientDHT) Get(ctx context.Context, key dht.Key) ([][]byte, error) {
	var out [][]byte
	for v, err := range d.C.Values(ctx, key) {
		if err != nil {
			return nil, err
		}
		if len(out) == MaxNodeValues {
			return out, ErrTooManyValues
		}
		out = append(out, v.Data)
	}
	return out, nil
}

// PutRemovable is client.Client.PutRemovable.
func (d ClientDHT) PutRemovable(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	return d.C.PutRemovable(ctx, key, value, secret, ttl)
}

// Remove is client.Client.Remove.
func (d ClientDHT) Remove(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	return d.C.Remove(ctx, key, value, secret, ttl)
}
