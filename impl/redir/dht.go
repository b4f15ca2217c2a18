package redir

import (
	"context"
	"errors"
	"sync/atomic"
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

// pageValues is the maxvals of each page ClientDHT asks for. A tree
// node's records are small (a version byte, an ID and an address: about
// 40 bytes), so the gateway's reply cap (GET-3, 1024 bytes of values by
// default) fills a page with some 25 of them; the client's default page of
// 10 values would cost nearly three times the calls for a big node, and
// every member reads its start-level node at every refresh.
const pageValues = 1000

// ClientDHT is the real DHT, through the gateways of a client.
type ClientDHT struct {
	C *client.Client
	// Pages, if not nil, counts the get calls (pages) Get makes.
	Pages *atomic.Uint64
}

// NewClientDHT returns the DHT that c reaches.
func NewClientDHT(c *client.Client) ClientDHT { return ClientDHT{C: c} }

// Get reads every value under key, following placemarks, as many values
// per call as the gateway's reply cap lets through.
func (d ClientDHT) Get(ctx context.Context, key dht.Key) ([][]byte, error) {
	var out [][]byte
	var pm []byte
	for {
		if d.Pages != nil {
			d.Pages.Add(1)
		}
		page, err := d.C.GetPage(ctx, key, pageValues, pm)
		if err != nil {
			return nil, err
		}
		for _, v := range page.Values {
			if len(out) == MaxNodeValues {
				return out, ErrTooManyValues
			}
			out = append(out, v.Data)
		}
		if len(page.Placemark) == 0 {
			return out, nil
		}
		pm = page.Placemark
	}
}

// PutRemovable is client.Client.PutRemovable.
func (d ClientDHT) PutRemovable(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	return d.C.PutRemovable(ctx, key, value, secret, ttl)
}

// Remove is client.Client.Remove.
func (d ClientDHT) Remove(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	return d.C.Remove(ctx, key, value, secret, ttl)
}
