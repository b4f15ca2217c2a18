package client

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/largevalue"
)

// Large values (spec/SPEC.md section 17): a value of any length up to
// LargeConfig.MaxSize, cut into 1 kB blocks that the client puts and gets
// itself, through the same gateways and protocol as every other call, so
// it works with any gateway of the original API. Each block is an
// ordinary put, charged to this client at the storage nodes (LV-8). A
// value written here reads through a node's /api/v1/large/ endpoint and
// the other way round: both run package largevalue.

// largeDHT is the large-value layer's view of the client: put, get and rm
// with the client's retries and failover. Status 1 and 2 come back as
// statuses, so the layer names the block they hit.
type largeDHT struct{ c *Client }

func (d largeDHT) status(err error) (dht.Status, error) {
	switch {
	case errors.Is(err, ErrOverCapacity):
		return dht.StatusOverCapacity, nil
	case errors.Is(err, ErrTryAgain):
		return dht.StatusTryAgain, nil
	}
	return dht.StatusOK, err
}

func (d largeDHT) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	return d.status(d.c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) { return t.put(ctx, p) }))
}

func (d largeDHT) Remove(ctx context.Context, r dht.Remove) (dht.Status, error) {
	return d.status(d.c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) { return t.remove(ctx, r) }))
}

func (d largeDHT) Get(ctx context.Context, g dht.Get) (dht.GetReply, error) {
	page, err := d.c.GetPage(ctx, g.Key, g.MaxVals, g.Placemark)
	if err != nil {
		return dht.GetReply{}, err
	}
	rep := dht.GetReply{Placemark: page.Placemark, Values: make([]dht.Value, len(page.Values))}
	for i, v := range page.Values {
		rep.Values[i] = dht.Value{Value: v.Data, TTLRemaining: int64(v.TTL / time.Second), SecretHash: v.SecretHash}
	}
	return rep, nil
}

// LargeInfo describes a stored large value.
type LargeInfo = largevalue.Info

// DefaultLargeConfig is the large-value layer's configuration the client
// uses unless Config.Large is set: the layer's defaults, with one attempt
// per block, since the client's own calls already retry and fail over.
func DefaultLargeConfig() largevalue.Config {
	c := largevalue.DefaultConfig()
	c.Attempts = 1
	return c
}

func (c *Client) large() *largevalue.Layer {
	cfg := DefaultLargeConfig()
	if c.cfg.Large != nil {
		cfg = *c.cfg.Large
	}
	return largevalue.New(largeDHT{c}, cfg)
}

// PutLarge reads r to its end and stores it under key for ttl (LV-1..LV-3):
// blocks first, Parallel at a time, the root manifest last, so that a
// write that fails leaves the previous value. The ttl counts from the
// start of the write (LV-6). Only Parallel blocks are held in memory.
func (c *Client) PutLarge(ctx context.Context, key dht.Key, r io.Reader, ttl time.Duration) (LargeInfo, error) {
	return c.large().Put(ctx, key, r, largevalue.PutOptions{TTL: seconds(ttl)})
}

// PutLargeRemovable is PutLarge for a value that RemoveLarge with the same
// secret removes (LV-7).
func (c *Client) PutLargeRemovable(ctx context.Context, key dht.Key, r io.Reader, secret []byte, ttl time.Duration) (LargeInfo, error) {
	if len(secret) == 0 {
		return LargeInfo{}, invalid("a removable put needs a non-empty secret")
	}
	return c.large().Put(ctx, key, r, largevalue.PutOptions{TTL: seconds(ttl), Secret: secret})
}

// GetLarge writes the value under key to w, checking every block against
// its hash (LV-4). On an error, what was written is a prefix of the value
// and must be thrown away; a missing or corrupt block is a
// *largevalue.BlockError that names it. largevalue.ErrNotFound: no value.
func (c *Client) GetLarge(ctx context.Context, key dht.Key, w io.Writer) (LargeInfo, error) {
	return c.large().Get(ctx, key, w, nil)
}

// GetLargeStarted is GetLarge that calls started with the value's size and
// details before its first byte (a progress bar's total).
func (c *Client) GetLargeStarted(ctx context.Context, key dht.Key, w io.Writer, started func(LargeInfo)) (LargeInfo, error) {
	return c.large().Get(ctx, key, w, started)
}

// StatLarge describes the value under key without reading its blocks.
func (c *Client) StatLarge(ctx context.Context, key dht.Key) (LargeInfo, error) {
	return c.large().Stat(ctx, key)
}

// RemoveLarge removes the value under key put with secret: its root
// manifest first (it reads as absent at once), then its blocks (LV-7).
func (c *Client) RemoveLarge(ctx context.Context, key dht.Key, secret []byte) error {
	return c.large().Remove(ctx, key, secret, "")
}
