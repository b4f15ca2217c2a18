package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
)

// Reference: spec/SPEC.md section 11 (CAS-3, CAS-7, CAS-8, CAS-11) for
// every test in this file.

// registerProtocols are the protocols that carry cas and read.
var registerProtocols = []Protocol{XMLRPC, HTTP}

// counted is a gateway backend that counts the register calls it
// receives and passes them to rb.
type counted struct {
	gateway.Backend
	rb          gateway.RegisterBackend
	cas, reads  atomic.Int64
	lastCAS     atomic.Pointer[dht.CAS]
	beforeReply func() // if set, runs before the cas is applied
	afterCAS    func() // if set, runs after
}

func count(b interface {
	gateway.Backend
	gateway.RegisterBackend
}) *counted {
	return &counted{Backend: b, rb: b}
}

func (c *counted) CAS(ctx context.Context, x dht.CAS) (dht.CASResult, error) {
	c.cas.Add(1)
	c.lastCAS.Store(&x)
	if c.beforeReply != nil {
		c.beforeReply()
	}
	res, err := c.rb.CAS(ctx, x)
	if c.afterCAS != nil {
		c.afterCAS()
	}
	return res, err
}

func (c *counted) ReadRegister(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	c.reads.Add(1)
	return c.rb.ReadRegister(ctx, key)
}

func TestRegisters(t *testing.T) {
	for _, p := range registerProtocols {
		t.Run(string(p), func(t *testing.T) {
			c := newClient(t, testConfig(p, serve(t, p, gatewaytest.NewModel())))
			ctx := context.Background()
			key := TextKey("register")
			v, err := c.Read(ctx, key)
			if err != nil || v.Version != 0 || len(v.Value) != 0 {
				t.Fatalf("absent register: %v %v", v, err)
			}
			steps := []struct {
				expected uint64
				value    string
				want     dht.CASResult
			}{
				{0, "a", dht.CASResult{OK: true, Versioned: dht.Versioned{Version: 1, Value: []byte("a")}}},
				{1, "b", dht.CASResult{OK: true, Versioned: dht.Versioned{Version: 2, Value: []byte("b")}}},
				{1, "c", dht.CASResult{OK: false, Versioned: dht.Versioned{Version: 2, Value: []byte("b")}}},
				{1 << 40, "c", dht.CASResult{OK: false, Versioned: dht.Versioned{Version: 2, Value: []byte("b")}}},
				{math.MaxUint64 - 1, "c", dht.CASResult{OK: false, Versioned: dht.Versioned{Version: 2, Value: []byte("b")}}},
				{2, "", dht.CASResult{OK: true, Versioned: dht.Versioned{Version: 3}}}, // a tombstone (CAS-6)
			}
			for i, s := range steps {
				res, err := c.CAS(ctx, key, s.expected, []byte(s.value), time.Hour)
				if err != nil || res.OK != s.want.OK || res.Version != s.want.Version || !bytes.Equal(res.Value, s.want.Value) {
					t.Fatalf("step %d: cas(%d, %q) = %v, %v; want %v", i, s.expected, s.value, res, err, s.want)
				}
			}
			if v, err := c.Read(ctx, key); err != nil || v.Version != 3 || len(v.Value) != 0 {
				t.Fatalf("deleted register: %v %v", v, err)
			}
			// Refused requests: ErrInvalid with the gateway's text, and
			// nothing changed (CAS-8).
			for _, bad := range []struct {
				expected uint64
				value    []byte
				text     string
			}{
				{math.MaxUint64, nil, "expected version is out of range"},
				{3, make([]byte, 1025), "value is longer than 1024 bytes"},
			} {
				_, err := c.CAS(ctx, key, bad.expected, bad.value, time.Hour)
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.text) {
					t.Errorf("cas(%d, %d bytes): %v, want ErrInvalid saying %q", bad.expected, len(bad.value), err, bad.text)
				}
			}
			if v, err := c.Read(ctx, key); err != nil || v.Version != 3 {
				t.Fatalf("after refused requests: %v %v", v, err)
			}
		})
	}
}

// fixed answers every register call with one version.
type fixed struct {
	gatewaytest.Failing
	version uint64
}

func (f fixed) CAS(_ context.Context, c dht.CAS) (dht.CASResult, error) {
	return dht.CASResult{OK: true, Versioned: dht.Versioned{Version: f.version, Value: c.Value}}, nil
}

func (f fixed) ReadRegister(context.Context, dht.Key) (dht.Versioned, error) {
	return dht.Versioned{Version: f.version, Value: []byte("x")}, nil
}

// TestVersionsExact: versions and expected versions cross every protocol
// exactly up to 2^64-1, past int32 (XML-RPC's int), 2^53 (a JSON double)
// and int64.
func TestVersionsExact(t *testing.T) {
	for _, p := range registerProtocols {
		for _, v := range []uint64{math.MaxInt32 + 1, 1<<53 + 1, math.MaxInt64 + 1, math.MaxUint64 - 1, math.MaxUint64} {
			b := count(fixed{version: v})
			c := newClient(t, testConfig(p, serve(t, p, b)))
			got, err := c.Read(context.Background(), TextKey("k"))
			if err != nil || got.Version != v {
				t.Errorf("%s: read of version %d: %v %v", p, v, got.Version, err)
			}
			res, err := c.CAS(context.Background(), TextKey("k"), v-1, []byte("y"), time.Minute)
			if err != nil || res.Version != v || b.lastCAS.Load().Expected != v-1 {
				t.Errorf("%s: cas expecting %d: %v %v, the gateway saw %+v", p, v-1, res, err, b.lastCAS.Load())
			}
		}
	}
}

// TestUnknownOutcomeNotRetried: a cas whose outcome is unknown is
// ErrUnknownOutcome after exactly one call, with another gateway at hand;
// a read that times out is retried (CAS-11).
func TestUnknownOutcomeNotRetried(t *testing.T) {
	for _, p := range registerProtocols {
		t.Run(string(p), func(t *testing.T) {
			unknown := count(&gatewaytest.Unknown{})
			good := count(gatewaytest.NewModel())
			cfg := testConfig(p, serve(t, p, unknown))
			c := newClient(t, cfg)
			_, err := c.CAS(context.Background(), TextKey("k"), 0, []byte("v"), time.Hour)
			if !errors.Is(err, ErrUnknownOutcome) || !strings.Contains(err.Error(), "outcome unknown") {
				t.Fatalf("cas: %v, want ErrUnknownOutcome", err)
			}
			if n := unknown.cas.Load(); n != 1 {
				t.Fatalf("%d cas reached the gateway, want exactly 1", n)
			}
			_, err = c.Read(context.Background(), TextKey("k"))
			if err == nil || errors.Is(err, ErrUnknownOutcome) {
				t.Fatalf("read: %v, want a plain failure", err)
			}
			if n := unknown.reads.Load(); n != int64(cfg.MaxAttempts) {
				t.Errorf("%d reads reached the gateway, want MaxAttempts = %d", n, cfg.MaxAttempts)
			}

			// With a good gateway beside it, no cas is ever sent twice:
			// each reaches exactly one gateway.
			c2 := newClient(t, testConfig(p, serve(t, p, unknown), serve(t, p, good)))
			unknown.cas.Store(0)
			var unknowns int64
			for i := range 20 {
				_, err := c2.CAS(context.Background(), TextKey(fmt.Sprint(i)), 0, []byte("v"), time.Hour)
				switch {
				case errors.Is(err, ErrUnknownOutcome):
					unknowns++
				case err != nil:
					t.Fatalf("cas %d: %v", i, err)
				}
			}
			if unknown.cas.Load() != unknowns || good.cas.Load()+unknowns != 20 {
				t.Fatalf("20 cas: %d unknown outcomes, %d calls at the unknown gateway, %d at the good one",
					unknowns, unknown.cas.Load(), good.cas.Load())
			}
			if unknowns == 0 || unknowns == 20 {
				t.Errorf("calls were not spread over both gateways: %d unknown outcomes of 20", unknowns)
			}
			// Reads fail over to the good gateway.
			for i := range 10 {
				if _, err := c2.Read(context.Background(), TextKey(fmt.Sprint(i))); err != nil {
					t.Fatalf("read %d with a good gateway: %v", i, err)
				}
			}
		})
	}
}

// TestFailedCASNotRetried: a gateway that reports a failure (the cas was
// sent nowhere) ends the cas at once, and it is not an unknown outcome.
func TestFailedCASNotRetried(t *testing.T) {
	for _, p := range registerProtocols {
		t.Run(string(p), func(t *testing.T) {
			b := count(gatewaytest.Failing{})
			c := newClient(t, testConfig(p, serve(t, p, b)))
			_, err := c.CAS(context.Background(), TextKey("k"), 0, []byte("v"), time.Hour)
			if err == nil || errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "shutting down") {
				t.Fatalf("cas: %v, want the gateway's failure", err)
			}
			if n := b.cas.Load(); n != 1 {
				t.Errorf("%d cas reached the gateway, want 1", n)
			}
		})
	}
}

// TestCASFailsOverBeforeSending: a gateway that cannot be reached got
// nothing, so the cas goes to the next one, and runs once.
func TestCASFailsOverBeforeSending(t *testing.T) {
	for _, p := range registerProtocols {
		t.Run(string(p), func(t *testing.T) {
			good := count(gatewaytest.NewModel())
			c := newClient(t, testConfig(p, deadAddr(t), serve(t, p, good)))
			ctx := context.Background()
			key := TextKey("failover")
			for i := range 10 {
				res, err := c.CAS(ctx, key, uint64(i), []byte{byte(i)}, time.Hour)
				if err != nil || !res.OK || res.Version != uint64(i+1) {
					t.Fatalf("cas %d: %v %v", i, res, err)
				}
			}
			if n := good.cas.Load(); n != 10 {
				t.Errorf("%d cas reached the good gateway, want 10", n)
			}
			c2 := newClient(t, testConfig(p, deadAddr(t), deadAddr(t)))
			_, err := c2.CAS(ctx, key, 10, nil, time.Hour)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownOutcome) {
				t.Errorf("all gateways dead: %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestCASCancelled: a cas whose context ends while the gateway holds it
// has an unknown outcome, and says why.
func TestCASCancelled(t *testing.T) {
	for _, p := range registerProtocols {
		t.Run(string(p), func(t *testing.T) {
			b := count(gatewaytest.NewModel())
			release, applied := make(chan struct{}), make(chan struct{})
			b.beforeReply = func() { <-release }
			b.afterCAS = func() { close(applied) }
			c := newClient(t, testConfig(p, serve(t, p, b)))
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := c.CAS(ctx, TextKey("k"), 0, []byte("v"), time.Hour)
			close(release)
			if !errors.Is(err, ErrUnknownOutcome) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cas past its deadline: %v, want ErrUnknownOutcome and DeadlineExceeded", err)
			}
			<-applied
			// It did take effect: only a read tells.
			v, err := c.Read(context.Background(), TextKey("k"))
			if err != nil || v.Version != 1 {
				t.Fatalf("read after the unknown outcome: %v %v", v, err)
			}
			if n := b.cas.Load(); n != 1 {
				t.Errorf("%d cas reached the gateway, want 1", n)
			}
		})
	}
}

// TestRegistersNotSupported: over Sun RPC, and on a gateway whose node has
// no registers, cas and read are ErrNotSupported, at once.
func TestRegistersNotSupported(t *testing.T) {
	type noRegisters struct{ gateway.Backend }
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			b := &scripted{Model: gatewaytest.NewModel()}
			c := newClient(t, testConfig(p, serve(t, p, noRegisters{b})))
			_, err := c.CAS(context.Background(), TextKey("k"), 0, []byte("v"), time.Hour)
			if !errors.Is(err, ErrNotSupported) {
				t.Errorf("cas: %v, want ErrNotSupported", err)
			}
			_, err = c.Read(context.Background(), TextKey("k"))
			if !errors.Is(err, ErrNotSupported) {
				t.Errorf("read: %v, want ErrNotSupported", err)
			}
			if p == SunRPC && !strings.Contains(err.Error(), "over sunrpc") {
				t.Errorf("read over sunrpc: %q does not name the protocol", err)
			}
			if b.calls.Load() != 0 {
				t.Errorf("the backend saw %d calls", b.calls.Load())
			}
		})
	}
}
