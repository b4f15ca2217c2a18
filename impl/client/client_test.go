package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/sunrpc"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// serve starts a gateway of protocol p on b, on a loopback port, until the
// test ends, and returns its address.
func serve(t testing.TB, p Protocol, b gateway.Backend) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		switch p {
		case XMLRPC:
			_ = xmlrpc.New(b, xmlrpc.DefaultConfig()).ServeListener(ctx, ln)
		case SunRPC:
			_ = sunrpc.New(b, sunrpc.DefaultConfig()).Serve(ctx, ln)
		default:
			_ = serveHTTPAPI(ctx, ln, b)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// scripted answers writes with the given statuses first, then passes every
// call to the model; it counts the calls it receives.
type scripted struct {
	*gatewaytest.Model
	mu       sync.Mutex
	statuses []dht.Status
	calls    atomic.Int64
}

func (s *scripted) next() (dht.Status, bool) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.statuses) == 0 {
		return 0, false
	}
	st := s.statuses[0]
	s.statuses = s.statuses[1:]
	return st, true
}

func (s *scripted) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	if st, ok := s.next(); ok {
		return st, nil
	}
	return s.Model.Put(ctx, p)
}

func (s *scripted) Remove(ctx context.Context, r dht.Remove) (dht.Status, error) {
	if st, ok := s.next(); ok {
		return st, nil
	}
	return s.Model.Remove(ctx, r)
}

func (s *scripted) Get(ctx context.Context, g dht.Get) (dht.GetReply, error) {
	s.calls.Add(1)
	return s.Model.Get(ctx, g)
}

func testConfig(p Protocol, gws ...string) Config {
	cfg := DefaultConfig(gws...)
	cfg.Protocol = p
	cfg.CallTimeout = 5 * time.Second
	cfg.InitialBackoff = time.Millisecond
	cfg.MaxBackoff = 5 * time.Millisecond
	cfg.MaxAttempts = 4
	return cfg
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestProtocols runs the whole API over each protocol against a
// model-backed gateway: puts, removable puts, a get that takes several
// pages, get_details fields, a remove, and the read after it.
func TestProtocols(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			m := gatewaytest.NewModel()
			c := newClient(t, testConfig(p, serve(t, p, m)))
			ctx := context.Background()
			key := TextKey("protocols")
			var want [][]byte
			for i := range 25 {
				v := []byte(fmt.Sprintf("value %02d", i))
				want = append(want, v)
				var err error
				if i%2 == 0 {
					err = c.Put(ctx, key, v, time.Hour)
				} else {
					err = c.PutRemovable(ctx, key, v, []byte("secret"), 2*time.Hour)
				}
				if err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			pages := 0
			var pm []byte
			for {
				page, err := c.GetPage(ctx, key, 10, pm)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if len(page.Values) > 10 {
					t.Fatalf("page of %d values for maxvals 10", len(page.Values))
				}
				if pm = page.Placemark; len(pm) == 0 {
					break
				}
			}
			if pages < 3 {
				t.Errorf("25 values in %d pages of at most 10", pages)
			}
			got, err := c.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d values, want %d", len(got), len(want))
			}
			for i, v := range got {
				if !bytes.Equal(v.Data, want[i]) {
					t.Errorf("value %d = %q, want %q (storage order)", i, v.Data, want[i])
				}
				wantTTL, removable := time.Hour, i%2 == 1
				if removable {
					wantTTL = 2 * time.Hour
				}
				if v.Removable() != removable || v.TTL != wantTTL {
					t.Errorf("value %d: removable %v ttl %v, want %v %v", i, v.Removable(), v.TTL, removable, wantTTL)
				}
				if removable && v.SecretHash != dht.SHA1([]byte("secret")) {
					t.Errorf("value %d: secret hash %x", i, v.SecretHash)
				}
			}
			if err := c.Remove(ctx, key, want[1], []byte("secret"), 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			got, err = c.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want)-1 || bytes.Equal(got[1].Data, want[1]) {
				t.Errorf("after rm: %d values, second %q", len(got), got[1].Data)
			}
			for _, r := range c.Ping(ctx) {
				if r.Err != nil {
					t.Errorf("ping %s: %v", r.Gateway, r.Err)
				}
			}
		})
	}
}

// TestRetryOnTryAgain: status 2 is retried until it succeeds, and
// reported as ErrTryAgain when the attempts run out.
func TestRetryOnTryAgain(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			b := &scripted{Model: gatewaytest.NewModel(), statuses: []dht.Status{2, 2, 2}}
			c := newClient(t, testConfig(p, serve(t, p, b)))
			key := TextKey("retry")
			if err := c.Put(context.Background(), key, []byte("v"), time.Hour); err != nil {
				t.Fatalf("put after two retries: %v", err)
			}
			if n := b.calls.Load(); n != 4 {
				t.Errorf("%d backend calls, want 4 (three try-agains, then the put)", n)
			}
			if st := c.Stats(); st != (Stats{Calls: 1, Attempts: 4, TryAgain: 3}) || st.Retries() != 3 {
				t.Errorf("stats after three try-agains: %+v (retries %d)", st, st.Retries())
			}
			b.mu.Lock()
			b.statuses = []dht.Status{2, 2, 2, 2, 2}
			b.mu.Unlock()
			b.calls.Store(0)
			err := c.Put(context.Background(), key, []byte("w"), time.Hour)
			if !errors.Is(err, ErrTryAgain) {
				t.Fatalf("put with status 2 on every attempt: %v, want ErrTryAgain", err)
			}
			if n := b.calls.Load(); n != 4 {
				t.Errorf("%d backend calls, want MaxAttempts = 4", n)
			}
		})
	}
}

// TestFinalAnswersNotRetried: over capacity and rejected arguments end
// the call after one attempt, with the gateway's text.
func TestFinalAnswersNotRetried(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			b := &scripted{Model: gatewaytest.NewModel(), statuses: []dht.Status{1}}
			c := newClient(t, testConfig(p, serve(t, p, b)))
			err := c.Put(context.Background(), TextKey("k"), []byte("v"), time.Hour)
			if !errors.Is(err, ErrOverCapacity) || b.calls.Load() != 1 {
				t.Errorf("over capacity: %v after %d calls, want ErrOverCapacity after 1", err, b.calls.Load())
			}
			b.calls.Store(0)
			err = c.Put(context.Background(), TextKey("k"), make([]byte, 1025), time.Hour)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("value of 1025 bytes: %v, want ErrInvalid", err)
			}
			if p != SunRPC && !bytes.Contains([]byte(err.Error()), []byte("value is longer than 1024 bytes")) {
				t.Errorf("error %q does not give the gateway's reason", err)
			}
			if n := b.calls.Load(); n != 0 {
				t.Errorf("an invalid put reached the backend %d times", n)
			}
		})
	}
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestFailover: with a dead gateway and a failing one before a good one,
// every call still succeeds, and the dead gateway is skipped once marked.
func TestFailover(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			good := &scripted{Model: gatewaytest.NewModel()}
			bad := serve(t, p, gatewaytest.Failing{})
			cfg := testConfig(p, deadAddr(t), bad, serve(t, p, good))
			cfg.MaxAttempts = 3
			c := newClient(t, cfg)
			ctx := context.Background()
			for i := range 20 {
				if err := c.Put(ctx, TextKey("failover"), []byte(fmt.Sprint(i)), time.Hour); err != nil {
					t.Fatalf("put %d: %v", i, err)
				}
			}
			vals, err := c.Get(ctx, TextKey("failover"))
			if err != nil || len(vals) != 20 {
				t.Fatalf("get: %d values, %v", len(vals), err)
			}
			if n := good.calls.Load(); n < 21 {
				t.Errorf("good gateway saw %d calls", n)
			}
			if st := c.Stats(); st.Failovers < 2 || st.Attempts != st.Calls+st.Failovers || st.TryAgain != 0 {
				t.Errorf("stats with a dead and a failing gateway: %+v, want at least 2 failovers, one attempt per call plus one per failover", st)
			}
			// With every gateway dead the call reports ErrUnavailable.
			c2 := newClient(t, testConfig(p, deadAddr(t), deadAddr(t)))
			if err := c2.Put(ctx, TextKey("x"), []byte("v"), time.Hour); !errors.Is(err, ErrUnavailable) {
				t.Errorf("all gateways dead: %v, want ErrUnavailable", err)
			}
		})
	}
}

// TestIteratorStops: breaking out of Values stops the reads.
func TestIteratorStops(t *testing.T) {
	b := &scripted{Model: gatewaytest.NewModel()}
	cfg := testConfig(XMLRPC, serve(t, XMLRPC, b))
	cfg.PageSize = 2
	c := newClient(t, cfg)
	ctx := context.Background()
	for i := range 10 {
		if err := c.Put(ctx, TextKey("iter"), []byte{byte(i)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	b.calls.Store(0)
	n := 0
	for v, err := range c.Values(ctx, TextKey("iter")) {
		if err != nil {
			t.Fatal(err)
		}
		if v.Data[0] != byte(n) {
			t.Fatalf("value %d is %v", n, v.Data)
		}
		if n++; n == 3 {
			break
		}
	}
	if got := b.calls.Load(); got != 2 {
		t.Errorf("3 values of pages of 2 took %d gets, want 2", got)
	}
}

// TestContextCancel: a cancelled context ends a call that would retry.
func TestContextCancel(t *testing.T) {
	b := &scripted{Model: gatewaytest.NewModel(), statuses: []dht.Status{2, 2, 2, 2, 2, 2, 2, 2}}
	cfg := testConfig(SunRPC, serve(t, SunRPC, b))
	cfg.InitialBackoff, cfg.MaxBackoff, cfg.MaxAttempts = time.Hour, time.Hour, 8
	c := newClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Put(ctx, TextKey("k"), []byte("v"), time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put with an expired context: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig("127.0.0.1:5851")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no gateway":   func(c *Config) { c.Gateways = nil },
		"empty addr":   func(c *Config) { c.Gateways = []string{""} },
		"protocol":     func(c *Config) { c.Protocol = "smtp" },
		"attempts":     func(c *Config) { c.MaxAttempts = 0 },
		"backoff":      func(c *Config) { c.MaxBackoff = c.InitialBackoff / 2 },
		"timeout":      func(c *Config) { c.CallTimeout = 0 },
		"conns":        func(c *Config) { c.Conns = 0 },
		"page":         func(c *Config) { c.PageSize = 0 },
		"application":  func(c *Config) { c.Application = string(make([]byte, 256)) },
		"down for < 0": func(c *Config) { c.DownFor = -1 },
		"sunrpc v4":    func(c *Config) { c.SunRPCVersion = 4 },
		"sunrpc v1":    func(c *Config) { c.SunRPCVersion = 1 },
	} {
		c := good
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSunRPCVersion2 uses the first Sun RPC interface: puts and paged gets
// of bare values, visible to a version 3 client with their details, while
// a put with a secret and a remove, which version 2 does not have, fail
// with ErrNotSupported and send nothing.
func TestSunRPCVersion2(t *testing.T) {
	b := &scripted{Model: gatewaytest.NewModel()}
	addr := serve(t, SunRPC, b)
	cfg := testConfig(SunRPC, addr)
	cfg.SunRPCVersion, cfg.PageSize = 2, 2
	old := newClient(t, cfg)
	ctx := context.Background()
	if r := old.Ping(ctx); r[0].Err != nil {
		t.Fatalf("v2 ping: %v", r[0].Err)
	}
	key := TextKey("v2")
	var want []string
	for i := range 5 {
		v := fmt.Sprintf("old %d", i)
		want = append(want, v)
		if err := old.Put(ctx, key, []byte(v), time.Hour); err != nil {
			t.Fatalf("v2 put: %v", err)
		}
	}
	var got []string
	for v, err := range old.Values(ctx, key) {
		if err != nil {
			t.Fatal(err)
		}
		if v.TTL != 0 || v.Removable() {
			t.Errorf("v2 value %q has details %v %v", v.Data, v.TTL, v.SecretHash)
		}
		got = append(got, string(v.Data))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("v2 values %q, want %q", got, want)
	}
	calls := b.calls.Load()
	if err := old.PutRemovable(ctx, key, []byte("x"), []byte("s"), time.Hour); !errors.Is(err, ErrNotSupported) {
		t.Errorf("v2 put with a secret: %v, want ErrNotSupported", err)
	}
	if err := old.Remove(ctx, key, []byte("old 0"), []byte("s"), time.Hour); !errors.Is(err, ErrNotSupported) {
		t.Errorf("v2 remove: %v, want ErrNotSupported", err)
	}
	if n := b.calls.Load() - calls; n != 0 {
		t.Errorf("unsupported calls reached the gateway %d times", n)
	}
	page, err := newClient(t, testConfig(SunRPC, addr)).GetPage(ctx, key, 10, nil)
	if err != nil || len(page.Values) != 5 || page.Values[0].TTL <= 0 {
		t.Fatalf("v3 read of v2 puts: %+v, %v", page, err)
	}
}

// A gateway given without a port gets the protocol's default one, never
// HTTP's port 80.
func TestGatewayAddrAddsTheDefaultPort(t *testing.T) {
	for _, tc := range []struct {
		p        Protocol
		in, want string
	}{
		{XMLRPC, "localhost", "localhost:5851"},
		{HTTP, "192.0.2.1", "192.0.2.1:5851"},
		{SunRPC, "localhost", "localhost:5852"},
		{XMLRPC, "::1", "[::1]:5851"},
		{XMLRPC, "[2001:db8::1]", "[2001:db8::1]:5851"},
		{XMLRPC, "localhost:6000", "localhost:6000"},
		{SunRPC, "[::1]:7000", "[::1]:7000"},
		{XMLRPC, "http://x/", "http://x/"},
	} {
		if got := tc.p.GatewayAddr(tc.in); got != tc.want {
			t.Errorf("%s GatewayAddr(%q) = %q, want %q", tc.p, tc.in, got, tc.want)
		}
	}
}

// TestFastRead: the FastRead option reaches the gateway's backend as a
// fast read (spec RD-14) over XMLRPC and HTTP, on every page, and returns
// what a default get returns there; a get without it is a default get.
// Over Sun RPC it fails with ErrNotSupported and sends nothing.
func TestFastRead(t *testing.T) {
	for _, p := range Protocols {
		t.Run(string(p), func(t *testing.T) {
			m := gatewaytest.NewModel()
			cfg := testConfig(p, serve(t, p, m))
			cfg.PageSize = 2
			c := newClient(t, cfg)
			ctx := context.Background()
			key := TextKey("fast")
			for i := range 3 {
				if err := c.Put(ctx, key, fmt.Appendf(nil, "v%d", i), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			want, err := c.Get(ctx, key)
			if err != nil || len(want) != 3 {
				t.Fatalf("default get: %v %v", want, err)
			}
			before := len(m.FastGets())
			got, err := c.Get(ctx, key, FastRead())
			if p == SunRPC {
				if !errors.Is(err, ErrNotSupported) || len(m.FastGets()) != before {
					t.Fatalf("fast get over sunrpc: %v, %d calls reached the gateway; want ErrNotSupported and none", err, len(m.FastGets())-before)
				}
				return
			}
			if err != nil || !cmp.Equal(want, got) {
				t.Fatalf("fast get: %v %v, want %v", got, err, want)
			}
			if d := cmp.Diff([]bool{false, false, true, true}, m.FastGets()[before-2:]); d != "" {
				t.Fatalf("fast reads of the default get's pages, then the fast get's (-want +got):\n%s", d)
			}
		})
	}
}
