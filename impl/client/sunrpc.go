package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
)

// sunrpcTransport speaks the original Sun RPC API, version 3 or 2, over a
// pool of TCP connections, each carrying one call at a time.
type sunrpcTransport struct {
	addr string
	app  string
	lib  string
	v2   bool                // version 2: no secrets, no remove, bare values
	idle chan *sunrpc.Client // connections not in use
	slot chan struct{}       // one token per connection that may exist
}

func newSunRPC(addr string, cfg Config) *sunrpcTransport {
	t := &sunrpcTransport{addr: addr, app: cfg.Application, lib: cfg.ClientLibrary, v2: cfg.SunRPCVersion == 2,
		idle: make(chan *sunrpc.Client, cfg.Conns), slot: make(chan struct{}, cfg.Conns)}
	return t
}

// with runs f on an idle connection, or a new one if fewer than Conns
// exist, or waits for one. A connection that failed is closed and
// forgotten: its byte stream cannot be trusted.
func (t *sunrpcTransport) with(ctx context.Context, f func(*sunrpc.Client) error) error {
	var c *sunrpc.Client
	select {
	case c = <-t.idle:
	default:
		select {
		case c = <-t.idle:
		case t.slot <- struct{}{}:
			var err error
			if c, err = sunrpc.DialContext(ctx, t.addr); err != nil {
				<-t.slot
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := f(c)
	if err != nil && !errors.Is(err, sunrpc.ErrGarbageArgs) && !errors.Is(err, sunrpc.ErrSystemErr) {
		_ = c.Close()
		<-t.slot
		return err
	}
	t.idle <- c
	return err
}

// classify turns the gateway's refusal of the arguments into ErrInvalid.
func classify(err error) error {
	if errors.Is(err, sunrpc.ErrGarbageArgs) {
		return invalid("the gateway refused the arguments (GARBAGE_ARGS): %v", err)
	}
	return err
}

// errVersion2 names what Sun RPC version 2 cannot do.
func errVersion2(op string) error {
	return fmt.Errorf("%s over sunrpc version 2: %w (use version 3)", op, ErrNotSupported)
}

func (t *sunrpcTransport) put(ctx context.Context, p dht.Put) (st dht.Status, err error) {
	ttl := int32(clampInt32(p.TTL))
	if t.v2 {
		if p.SecretHash != dht.ZeroHash {
			return 0, errVersion2("put with a secret")
		}
		a := sunrpc.PutArgsV2{Application: t.app, ClientLibrary: t.lib, Key: p.Key, Value: p.Value, TTLSec: ttl}
		err = t.with(ctx, func(c *sunrpc.Client) error {
			st, err = c.PutV2(ctx, a)
			return err
		})
		return st, classify(err)
	}
	a := sunrpc.PutArgs{Application: t.app, ClientLibrary: t.lib, Key: p.Key, Value: p.Value, TTLSec: ttl}
	if p.SecretHash != dht.ZeroHash {
		a.SecretHash = sunrpc.Hash{Algorithm: dht.HashAlgSHA, Hash: p.SecretHash[:]}
	}
	err = t.with(ctx, func(c *sunrpc.Client) error {
		st, err = c.Put(ctx, a)
		return err
	})
	return st, classify(err)
}

func (t *sunrpcTransport) remove(ctx context.Context, r dht.Remove) (st dht.Status, err error) {
	if t.v2 {
		return 0, errVersion2("remove")
	}
	a := sunrpc.RmArgs{Application: t.app, ClientLibrary: t.lib, Key: r.Key,
		ValueHash: sunrpc.Hash{Algorithm: dht.HashAlgSHA, Hash: r.ValueHash[:]}, SecretHashAlg: dht.HashAlgSHA,
		Secret: r.Secret, TTLSec: int32(clampInt32(r.TTL))}
	err = t.with(ctx, func(c *sunrpc.Client) error {
		st, err = c.Remove(ctx, a)
		return err
	})
	return st, classify(err)
}

// errFastOverSunRPC: the Sun RPC interface is the original's, whose gets
// are quorum reads here (RD-7); it has no fast read.
var errFastOverSunRPC = fmt.Errorf("fast reads over sunrpc: %w (use xmlrpc or http)", ErrNotSupported)

func (t *sunrpcTransport) get(ctx context.Context, key dht.Key, maxvals int, placemark []byte, fast bool) (Page, error) {
	if fast {
		return Page{}, errFastOverSunRPC
	}
	args := sunrpc.GetArgs{Application: t.app, ClientLibrary: t.lib, Key: key,
		MaxVals: int32(clampInt32(int64(maxvals))), Placemark: placemark}
	if t.v2 {
		var res sunrpc.GetResultV2
		err := t.with(ctx, func(c *sunrpc.Client) error {
			var err error
			res, err = c.GetV2(ctx, args)
			return err
		})
		if err != nil {
			return Page{}, classify(err)
		}
		p := Page{Placemark: res.Placemark}
		for _, v := range res.Values {
			p.Values = append(p.Values, Value{Data: v})
		}
		return p, nil
	}
	var res sunrpc.GetResult
	err := t.with(ctx, func(c *sunrpc.Client) error {
		var err error
		res, err = c.Get(ctx, args)
		return err
	})
	if err != nil {
		return Page{}, classify(err)
	}
	p := Page{Placemark: res.Placemark}
	for _, v := range res.Values {
		val := Value{Data: v.Value, TTL: time.Duration(v.TTLSecRem) * time.Second}
		if len(v.SecretHash.Hash) > 0 {
			h, ok := dht.ParseHash(v.SecretHash.Hash)
			if !ok {
				return Page{}, errors.New("get: malformed reply: secret hash is not 20 bytes")
			}
			val.SecretHash = h
		}
		p.Values = append(p.Values, val)
	}
	return p, nil
}

// errRegistersOverSunRPC: the Sun RPC interface is the original one, with
// no register procedures.
var errRegistersOverSunRPC = fmt.Errorf("registers (cas, read) over sunrpc: %w (use xmlrpc or http)", ErrNotSupported)

func (t *sunrpcTransport) cas(context.Context, dht.CAS) (dht.CASResult, error) {
	return dht.CASResult{}, errRegistersOverSunRPC
}

func (t *sunrpcTransport) readRegister(context.Context, dht.Key) (dht.Versioned, error) {
	return dht.Versioned{}, errRegistersOverSunRPC
}

func (t *sunrpcTransport) ping(ctx context.Context) error {
	vers := uint32(sunrpc.Version3)
	if t.v2 {
		vers = sunrpc.Version2
	}
	return t.with(ctx, func(c *sunrpc.Client) error { return c.NullVersion(ctx, vers) })
}

func (t *sunrpcTransport) close() error {
	for {
		select {
		case c := <-t.idle:
			_ = c.Close()
			<-t.slot
		default:
			return nil
		}
	}
}
