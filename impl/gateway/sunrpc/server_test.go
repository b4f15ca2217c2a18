package sunrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opendht-go/opendht/impl/dht"
)

func startServer(t *testing.T, b *gatewaytest.Model, cfg Config) string {
	t.Helper()
	return startBackend(t, b, cfg)
}

func startBackend(t *testing.T, b interface {
	Put(context.Context, dht.Put) (dht.Status, error)
	Remove(context.Context, dht.Remove) (dht.Status, error)
	Get(context.Context, dht.Get) (dht.GetReply, error)
}, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(b, cfg).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func key(s string) dht.Key { return dht.Key(dht.SHA1([]byte(s))) }

// TestRoundTrip runs every procedure through a real listener: put,
// put_removable, get with details and placemarks, rm (spec/CLIENT-API.md).
func TestRoundTrip(t *testing.T) {
	b := gatewaytest.NewModel()
	c := dial(t, startServer(t, b, DefaultConfig()))
	ctx := testCtx(t)

	if err := c.Null(ctx); err != nil {
		t.Fatalf("Null: %v", err)
	}
	k := key("food")
	secret := []byte("s3cret")
	sh := dht.SHA1(secret)
	puts := []PutArgs{
		{Application: "test", ClientLibrary: "go", Key: k, Value: []byte("plain"), TTLSec: 3600},
		{Application: "test", Key: k, Value: []byte("removable"), TTLSec: 7200,
			SecretHash: Hash{Algorithm: "SHA", Hash: sh[:]}},
		{Key: k, Value: bytes.Repeat([]byte{7}, dht.MaxValueLen), TTLSec: dht.MaxTTL + 5},
	}
	for _, p := range puts {
		st, err := c.Put(ctx, p)
		if err != nil || st != dht.StatusOK {
			t.Fatalf("Put(%q): %v, %v", p.Value[:min(len(p.Value), 10)], st, err)
		}
	}

	got := getAll(t, c, k, 1)
	want := []GetValue{
		{Value: []byte("plain"), TTLSecRem: 3600},
		{Value: []byte("removable"), TTLSecRem: 7200, SecretHash: Hash{Algorithm: "SHA", Hash: sh[:]}},
		{Value: bytes.Repeat([]byte{7}, dht.MaxValueLen), TTLSecRem: dht.MaxTTL},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("get values (-want +got):\n%s", d)
	}

	st, err := c.Remove(ctx, RmArgs{Application: "test", Key: k, ValueHash: sha1Hash([]byte("removable")),
		SecretHashAlg: "SHA", Secret: secret, TTLSec: 7200})
	if err != nil || st != dht.StatusOK {
		t.Fatalf("Remove: %v, %v", st, err)
	}
	after := getAll(t, c, k, 10)
	if len(after) != 2 {
		t.Fatalf("after rm: %d values", len(after))
	}
	for _, v := range after {
		if string(v.Value) == "removable" {
			t.Fatal("removed value returned")
		}
	}

	// FST-5: every write is charged to the client's IP.
	for _, id := range b.Clients() {
		if id != "127.0.0.1" {
			t.Fatalf("client id %q, want 127.0.0.1", id)
		}
	}
}

// getAll reads every value under k, maxvals at a time, following
// placemarks (GET-4).
func getAll(t *testing.T, c *Client, k dht.Key, maxvals int32) []GetValue {
	t.Helper()
	var got []GetValue
	var pm []byte
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("placemarks do not end")
		}
		res, err := c.Get(testCtx(t), GetArgs{Application: "test", Key: k, MaxVals: maxvals, Placemark: pm})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		got = append(got, res.Values...)
		if len(res.Placemark) == 0 {
			return got
		}
		pm = res.Placemark
	}
}

// TestInvalidArguments checks that every invalid argument is GARBAGE_ARGS
// and changes nothing (LIM-7).
func TestInvalidArguments(t *testing.T) {
	b := gatewaytest.NewModel()
	c := dial(t, startServer(t, b, DefaultConfig()))
	ctx := testCtx(t)
	k := key("k")
	sh := dht.SHA1([]byte("x"))
	for name, p := range map[string]PutArgs{
		"unknown alg":      {Key: k, Value: []byte("v"), TTLSec: 1, SecretHash: Hash{Algorithm: "MD5", Hash: sh[:]}},
		"short hash":       {Key: k, Value: []byte("v"), TTLSec: 1, SecretHash: Hash{Algorithm: "SHA", Hash: sh[:19]}},
		"zero hash":        {Key: k, Value: []byte("v"), TTLSec: 1, SecretHash: Hash{Algorithm: "SHA", Hash: make([]byte, 20)}},
		"hash without alg": {Key: k, Value: []byte("v"), TTLSec: 1, SecretHash: Hash{Hash: sh[:]}},
		"zero ttl":         {Key: k, Value: []byte("v")},
		"value too long":   {Key: k, Value: make([]byte, dht.MaxValueLen+1), TTLSec: 1},
		"app too long":     {Application: string(make([]byte, 256)), Key: k, TTLSec: 1},
	} {
		if _, err := c.Put(ctx, p); !errors.Is(err, ErrGarbageArgs) {
			t.Errorf("put %s: %v, want GARBAGE_ARGS", name, err)
		}
	}
	for name, g := range map[string]GetArgs{
		"zero maxvals":      {Key: k},
		"foreign placemark": {Key: k, MaxVals: 1, Placemark: []byte("nope")},
		"long placemark":    {Key: k, MaxVals: 1, Placemark: make([]byte, 101)},
	} {
		if _, err := c.Get(ctx, g); !errors.Is(err, ErrGarbageArgs) {
			t.Errorf("get %s: %v, want GARBAGE_ARGS", name, err)
		}
	}
	for name, r := range map[string]RmArgs{
		"no alg":          {Key: k, Secret: []byte("x"), TTLSec: 1},
		"secret too long": {Key: k, SecretHashAlg: "SHA", Secret: make([]byte, 41), TTLSec: 1},
		"zero ttl":        {Key: k, SecretHashAlg: "SHA", Secret: []byte("x")},
	} {
		if _, err := c.Remove(ctx, r); !errors.Is(err, ErrGarbageArgs) {
			t.Errorf("rm %s: %v, want GARBAGE_ARGS", name, err)
		}
	}
	if len(b.Clients()) != 0 {
		t.Fatalf("%d invalid writes reached the backend", len(b.Clients()))
	}
	// The connection is still usable.
	if err := c.Null(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBackendFailureIsSystemErr(t *testing.T) {
	c := dial(t, startBackend(t, gatewaytest.Failing{}, DefaultConfig()))
	ctx := testCtx(t)
	if _, err := c.Put(ctx, PutArgs{Value: []byte("v"), TTLSec: 1}); !errors.Is(err, ErrSystemErr) {
		t.Fatalf("put: %v", err)
	}
	if _, err := c.Get(ctx, GetArgs{MaxVals: 1}); !errors.Is(err, ErrSystemErr) {
		t.Fatalf("get: %v", err)
	}
}

// TestErrorReplies checks the RPC-level replies of RFC 5531.
func TestErrorReplies(t *testing.T) {
	c := dial(t, startServer(t, gatewaytest.NewModel(), DefaultConfig()))
	ctx := testCtx(t)
	ok := callHeader{rpcvers: rpcVersion, prog: Program, vers: Version, proc: ProcNull}
	for _, tc := range []struct {
		name string
		edit func(*callHeader)
		args []byte
		want error
	}{
		{"null", func(*callHeader) {}, nil, nil},
		{"proc 0 is null", func(h *callHeader) { h.proc = 0 }, nil, nil},
		{"auth sys", func(h *callHeader) { h.credFlavor = authSys }, nil, nil},
		{"auth other", func(h *callHeader) { h.credFlavor = 6 }, nil, ErrAuth},
		{"program", func(h *callHeader) { h.prog = 100003 }, nil, ErrProgUnavail},
		{"version 2 null", func(h *callHeader) { h.vers = Version2 }, nil, nil},
		{"version 4", func(h *callHeader) { h.vers = 4 }, nil, ErrProgMismatch},
		{"version 2 rm withdrawn", func(h *callHeader) { h.vers, h.proc = Version2, ProcRm }, nil, ErrProcUnavail},
		{"version 2 procedure", func(h *callHeader) { h.vers, h.proc = Version2, 5 }, nil, ErrProcUnavail},
		{"procedure", func(h *callHeader) { h.proc = 5 }, nil, ErrProcUnavail},
		{"rpcvers", func(h *callHeader) { h.rpcvers = 3 }, nil, ErrRPCMismatch},
		{"null with args", func(*callHeader) {}, []byte{0, 0, 0, 0}, ErrGarbageArgs},
		{"put garbage", func(h *callHeader) { h.proc = ProcPut }, []byte{0, 0, 1}, ErrGarbageArgs},
		{"get garbage", func(h *callHeader) { h.proc = ProcGet }, []byte{0xff, 0xff, 0xff, 0xff}, ErrGarbageArgs},
		{"rm garbage", func(h *callHeader) { h.proc = ProcRm }, nil, ErrGarbageArgs},
	} {
		h := ok
		tc.edit(&h)
		_, err := c.call(ctx, h, tc.args)
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// mismatch ranges
	h := ok
	for _, v := range []uint32{0, 1, 4, 1 << 31} {
		h.vers = v
		if _, err := c.call(ctx, h, nil); err == nil || err.Error() != "sunrpc: program version mismatch: server has 2..3" {
			t.Errorf("version %d mismatch: %v", v, err)
		}
	}
	h = ok
	h.rpcvers = 1
	if _, err := c.call(ctx, h, nil); err == nil || err.Error() != "sunrpc: RPC version mismatch: server has 2..2" {
		t.Errorf("rpc mismatch: %v", err)
	}
}

// rawCall writes msg split into fragments of the given sizes and returns
// the reply record.
func rawCall(t *testing.T, conn net.Conn, msg []byte, sizes ...int) ([]byte, error) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	for i, n := range sizes {
		if i == len(sizes)-1 {
			n = len(msg)
		}
		h := uint32(n)
		if i == len(sizes)-1 {
			h |= lastFragment
		}
		out = binary.BigEndian.AppendUint32(out, h)
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	if _, err := conn.Write(out); err != nil {
		return nil, err
	}
	return readRecord(conn, 1<<20, nil)
}

func TestFragments(t *testing.T) {
	addr := startServer(t, gatewaytest.NewModel(), DefaultConfig())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	k := key("frag")
	args := PutArgs{Key: k, Value: []byte("fragmented value"), TTLSec: 60}.MarshalXDR()
	msg := encodeCall(callHeader{xid: 42, rpcvers: 2, prog: Program, vers: Version, proc: ProcPut}, args)
	// Split in four fragments, one of them empty, cutting words in half.
	rep, err := rawCall(t, conn, msg, 3, 0, 37, -1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := decodeReply(42, rep)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := decodeStatus(res); err != nil || st != dht.StatusOK {
		t.Fatalf("status %v, %v", st, err)
	}
	// A second call on the same connection, one byte per fragment.
	msg = encodeCall(callHeader{xid: 43, rpcvers: 2, prog: Program, vers: Version, proc: ProcGet},
		GetArgs{Key: k, MaxVals: 5}.MarshalXDR())
	sizes := make([]int, len(msg))
	for i := range sizes {
		sizes[i] = 1
	}
	rep, err = rawCall(t, conn, msg, sizes...)
	if err != nil {
		t.Fatal(err)
	}
	res, err = decodeReply(43, rep)
	if err != nil {
		t.Fatal(err)
	}
	var gr GetResult
	if err := gr.UnmarshalXDR(res); err != nil || len(gr.Values) != 1 || string(gr.Values[0].Value) != "fragmented value" {
		t.Fatalf("get: %+v, %v", gr, err)
	}
}

// TestOversizedRecord: a fragment header past the limit closes the
// connection before the server reads (or allocates) the body.
func TestOversizedRecord(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRecordSize = minRecordSize
	addr := startServer(t, gatewaytest.NewModel(), cfg)
	for _, hdrs := range [][]uint32{
		{lastFragment | 0x7fffffff},
		{minRecordSize, lastFragment | 1},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		for _, h := range hdrs {
			b := binary.BigEndian.AppendUint32(nil, h)
			if h&^lastFragment < 1<<20 {
				b = append(b, make([]byte, h&^lastFragment)...)
			}
			conn.Write(b)
		}
		// The server closes without a reply; unread bytes may turn the
		// close into a reset.
		if b, err := io.ReadAll(conn); len(b) != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("got %x, %v; want a close", b, err)
		}
		conn.Close()
	}
}

func TestNotACallClosesConnection(t *testing.T) {
	addr := startServer(t, gatewaytest.NewModel(), DefaultConfig())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	writeRecord(conn, []byte{0, 0, 0, 1, 0, 0, 0, 1}) // a REPLY
	if b, err := io.ReadAll(conn); err != nil || len(b) != 0 {
		t.Fatalf("got %x, %v; want close", b, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout = 50 * time.Millisecond
	addr := startServer(t, gatewaytest.NewModel(), cfg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(conn); err != nil || len(b) != 0 {
		t.Fatalf("got %x, %v; want close", b, err)
	}
}

func TestConcurrentConnections(t *testing.T) {
	b := gatewaytest.NewModel()
	addr := startServer(t, b, DefaultConfig())
	ctx := testCtx(t)
	k := key("many")
	var wg sync.WaitGroup
	const conns, calls = 8, 20
	errs := make(chan error, conns*calls)
	for i := range conns {
		c := dial(t, addr)
		wg.Go(func() {
			for j := range calls {
				v := []byte{byte(i), byte(j)}
				if st, err := c.Put(ctx, PutArgs{Key: k, Value: v, TTLSec: 100}); err != nil || st != dht.StatusOK {
					errs <- errors.Join(err, errors.New(st.String()))
				}
				if err := c.Null(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := getAll(t, dial(t, addr), k, 1000); len(got) != conns*calls {
		t.Fatalf("get: %d values, want %d", len(got), conns*calls)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"small record": func(c *Config) { c.MaxRecordSize = 100 },
		"huge record":  func(c *Config) { c.MaxRecordSize = 1 << 31 },
		"idle":         func(c *Config) { c.IdleTimeout = 0 },
		"read":         func(c *Config) { c.ReadTimeout = -1 },
		"write":        func(c *Config) { c.WriteTimeout = 0 },
		"call":         func(c *Config) { c.CallTimeout = 0 },
	} {
		c := DefaultConfig()
		edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// sha1Hash is a bamboo_hash naming SHA-1(b).
func sha1Hash(b []byte) Hash {
	h := dht.SHA1(b)
	return Hash{Algorithm: "SHA", Hash: h[:]}
}
