package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
	"github.com/opendht-go/opendht/impl/largevalue"
)

// Reference: spec/SPEC.md section 17 (large values) for every test in this
// file.

// losing is a backend that answers nothing under the keys it lost, as if
// every replica had lost them.
type losing struct {
	gateway.Backend
	mu   sync.Mutex
	lost map[dht.Key]bool
}

func (l *losing) lose(k dht.Key) { l.mu.Lock(); l.lost[k] = true; l.mu.Unlock() }

func (l *losing) Get(ctx context.Context, g dht.Get) (dht.GetReply, error) {
	l.mu.Lock()
	lost := l.lost[g.Key]
	l.mu.Unlock()
	if lost {
		return dht.GetReply{}, nil
	}
	return l.Backend.Get(ctx, g)
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// largeServer serves the API as a node does: behind the XML-RPC gateway,
// which cuts other API bodies at 64 KiB.
func largeServer(t *testing.T) (string, *gatewaytest.Model, *losing) {
	t.Helper()
	m := gatewaytest.NewModel()
	b := &losing{Backend: m, lost: map[dht.Key]bool{}}
	xc := xmlrpc.DefaultConfig()
	xc.API = New(b, DefaultConfig())
	srv := httptest.NewServer(xmlrpc.New(b, xc).Handler())
	t.Cleanup(srv.Close)
	return srv.URL + Prefix + "large/", m, b
}

// onlyReader hides a reader's other methods, so that the client sends the
// body chunked, without a length.
type onlyReader struct{ io.Reader }

func TestLargePutGetStreams(t *testing.T) {
	base, m, _ := largeServer(t)
	name := hexKey("big")
	data := randomBytes(300*1024+17, 1) // beyond every small body limit, a tree of height 2
	req, _ := http.NewRequest(http.MethodPut, base+name+"?ttl=600", onlyReader{bytes.NewReader(data)})
	req.Header.Set(SecretHeader, b64([]byte("pw")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var put LargeResponse
	if err := json.NewDecoder(resp.Body).Decode(&put); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s %+v %v", resp.Status, put, err)
	}
	resp.Body.Close()
	if put.Size != int64(len(data)) || put.Blocks != 301 || put.TTL > 598 || put.TTL < 590 || len(put.Version) != 40 { // ttl - the seconds the write took - 2 (LV-6)
		t.Errorf("PUT answered %+v", put)
	}
	// LV-8: every block and manifest is charged to the connection's client.
	for i, c := range m.Clients() {
		if c != "127.0.0.1" {
			t.Fatalf("write %d charged to %q, want the client's address", i, c)
		}
	}

	resp, err = http.Get(base + name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET: %d bytes, %v", len(got), err)
	}
	if resp.Header.Get("Content-Length") != strconv.Itoa(len(data)) || resp.Header.Get(VersionHeader) != put.Version ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET headers: %v", resp.Header)
	}
	resp, err = http.Head(base + name)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get(SizeHeader) != strconv.Itoa(len(data)) {
		t.Errorf("HEAD: %v %v", resp, err)
	}

	// A remove needs the secret; then the name reads as absent.
	del := func(secret string) int {
		req, _ := http.NewRequest(http.MethodDelete, base+name, nil)
		if secret != "" {
			req.Header.Set(SecretHeader, b64([]byte(secret)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := del(""); code != http.StatusBadRequest {
		t.Errorf("DELETE without a secret: %d", code)
	}
	if code := del("wrong"); code != http.StatusNotFound {
		t.Errorf("DELETE with a wrong secret: %d", code)
	}
	if code := del("pw"); code != http.StatusOK {
		t.Errorf("DELETE: %d", code)
	}
	resp, err = http.Get(base + name)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET after DELETE: %v %v", resp.Status, err)
	}
}

// TestLargeDamagedBlock: a block lost before the first byte is a JSON
// error naming it; one lost after the first bytes cuts the connection, so
// that the client reads a body shorter than its Content-Length (LV-4).
func TestLargeDamagedBlock(t *testing.T) {
	base, _, b := largeServer(t)
	for i, tc := range []struct {
		name  string
		block int
	}{{"first block", 0}, {"late block", 150}} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(200*1024, uint64(i)) // blocks are shared by content: a value of its own
			name := hexKey(tc.name)
			resp, err := http.Post(base+name, "application/octet-stream", bytes.NewReader(data))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT: %v %v", resp, err)
			}
			resp.Body.Close()
			k := largevalue.BlockKey(data[tc.block*1024 : (tc.block+1)*1024])
			b.lose(k)
			resp, err = http.Get(base + name)
			if err != nil {
				t.Fatal(err)
			}
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.block == 0 {
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), hex.EncodeToString(k[:])) || !strings.Contains(string(body), "missing") {
					t.Errorf("GET with the first block lost: %s %s", resp.Status, body)
				}
				return
			}
			if !errors.Is(rerr, io.ErrUnexpectedEOF) || len(body) >= len(data) || !bytes.HasPrefix(data, body) {
				t.Errorf("GET with block %d lost: %d bytes, %v; want a cut prefix and io.ErrUnexpectedEOF", tc.block, len(body), rerr)
			}
		})
	}
}

// TestLargeBadRequests: malformed large-value requests are refused and
// store nothing (LIM-7).
func TestLargeBadRequests(t *testing.T) {
	h := New(gatewaytest.NewModel(), DefaultConfig())
	for _, tc := range []struct {
		method, target string
		header         string
		code           int
		want           string
	}{
		{"PUT", Prefix + "large/" + hexKey("a") + "?ttl=0", "", 400, "ttl must be positive"},
		{"PUT", Prefix + "large/" + hexKey("a") + "?tll=5", "", 400, "unknown or repeated query parameter"},
		{"PUT", Prefix + "large/" + hexKey("a"), strings.Repeat("A", 80), 400, "secret is longer than 40 bytes"},
		{"PUT", Prefix + "large/zz", "", 400, "key must be"},
		{"PATCH", Prefix + "large/" + hexKey("a"), "", 405, "not allowed"},
		{"GET", Prefix + "large/" + hexKey("absent"), "", 404, "no value"},
		{"GET", Prefix + "large/" + hexKey("a") + "/x", "", 404, "no endpoint"},
	} {
		req := httptest.NewRequest(tc.method, tc.target, strings.NewReader("body"))
		if tc.header != "" {
			req.Header.Set(SecretHeader, tc.header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.target, rec.Code, rec.Body.String(), tc.code, tc.want)
		}
	}
}

// TestLargeTooLarge: a body beyond the layer's MaxSize is refused, by its
// Content-Length or, sent chunked, once the limit is passed; no value
// appears (LV-10).
func TestLargeTooLarge(t *testing.T) {
	m := gatewaytest.NewModel()
	cfg := DefaultConfig()
	cfg.Large.MaxSize = 8 * 1024
	xc := xmlrpc.DefaultConfig()
	xc.API = New(m, cfg)
	srv := httptest.NewServer(xmlrpc.New(m, xc).Handler())
	defer srv.Close()
	url := srv.URL + Prefix + "large/" + hexKey("big")
	for _, body := range []io.Reader{bytes.NewReader(make([]byte, 8*1024+1)), onlyReader{bytes.NewReader(make([]byte, 20*1024))}} {
		req, _ := http.NewRequest(http.MethodPut, url, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("PUT of more than MaxSize: %s %s", resp.Status, msg)
		}
	}
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("a refused PUT left a value: %v %v", resp.Status, err)
	}
}

// TestLargeClientHangsUp: a client that stops sending in the middle of a
// value leaves no value (LV-3).
func TestLargeClientHangsUp(t *testing.T) {
	base, _, _ := largeServer(t)
	u := strings.TrimPrefix(base, "http://")
	host := u[:strings.Index(u, "/")]
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", Prefix+"large/", hexKey("cut"))
	conn.Write(make([]byte, 50000)) //nolint:errcheck
	conn.Close()
	// The server notices the hang-up when it reads; a get meanwhile finds
	// nothing either way, and must find nothing after.
	for range 3 {
		resp, err := http.Get(base + hexKey("cut"))
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("a value cut short is visible: %v %v", resp.Status, err)
		}
		resp.Body.Close()
	}
}
