package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/gatewaytest"
)

// seeds are request bodies and queries, good and bad, for both targets.
func seeds() (bodies, queries []string) {
	v := b64([]byte("hello"))
	bodies = []string{
		`{"value":"` + v + `"}`,
		`{"value":"` + v + `","ttl":600,"secret":"cHc","application":"x"}`,
		`{"value":"aGVsbG8","ttl":60,"secret_hash":"` + b64(sha("pw")) + `"}`,
		`{"value":"-_-_AQ","ttl":3.6e3}`,
		`{"value_hash":"` + b64(sha("hello")) + `","secret":"cHc=","ttl":600}`,
		`{"value":"` + v + `","secret":""}`,
		`{"value":"` + strings.Repeat("A", 1368) + `"}`,
		`{"tll":1}`, `{"value":1}`, `[]`, `null`, ``, `{"value":""}{}`, `{"ttl":1e999,"value":""}`,
		`{"expected":0,"value":"` + v + `","ttl":600,"application":"x"}`,
		`{"expected":"18446744073709551614","value":null}`,
		`{"expected":18446744073709551615,"value":""}`, `{"expected":-0,"value":""}`, `{"expected":1e2,"value":""}`,
		`{"expected":"","value":""}`, `{"expected":7}`,
	}
	queries = []string{"", "maxvals=3", "maxvals=0", "placemark=AQAAAAAAAAAF", "maxvals=1&placemark=", "maxval=1", "%zz", "maxvals=1&maxvals=2"}
	return bodies, queries
}

// FuzzDecode feeds arbitrary keys, bodies and queries to the request
// decoders. Every refusal is a client error (a 400), every request
// accepted is within the limits (LIM-1..LIM-6), and decoding is stable:
// the accepted request, written back in the API's canonical form, decodes
// to the same operation.
func FuzzDecode(f *testing.F) {
	bodies, queries := seeds()
	for i, b := range bodies {
		f.Add(hexKey("k")[:2*(1+i%20)], []byte(b), queries[i%len(queries)])
	}
	f.Add("", []byte(nil), "")
	f.Add(strings.Repeat("ab", 21), []byte(`{}`), "placemark=////")
	f.Fuzz(func(t *testing.T, keyText string, body []byte, query string) {
		isClientError := func(what string, err error) {
			var re *requestError
			if !errors.As(err, &re) {
				t.Fatalf("%s: error %v (%T) is not a client error", what, err, err)
			}
		}
		key, err := parseKey(keyText)
		if err != nil {
			isClientError("key", err)
		} else {
			n := len(keyText) / 2
			if want := strings.Repeat("00", dht.KeyLen-n) + strings.ToLower(keyText); hex.EncodeToString(key[:]) != want {
				t.Fatalf("key %q parsed as %x", keyText, key)
			}
		}

		p, _, err := decodePut("192.0.2.1", key, body)
		if err != nil {
			isClientError("put", err)
		} else {
			if err := p.Validate(); err != nil || p.TTL > dht.MaxTTL || p.Client != "192.0.2.1" {
				t.Fatalf("accepted put %+v: %v", p, err)
			}
			canon := map[string]any{"value": base64.StdEncoding.EncodeToString(p.Value), "ttl": p.TTL}
			if !p.SecretHash.IsZero() {
				canon["secret_hash"] = base64.RawURLEncoding.EncodeToString(p.SecretHash[:])
			}
			again, _, err := decodePut("192.0.2.1", key, mustJSON(t, canon))
			if d := cmp.Diff(p, again, cmpopts.EquateEmpty()); err != nil || d != "" {
				t.Fatalf("put not stable (%v) (-first +again):\n%s", err, d)
			}
		}

		r, _, err := decodeRemove("192.0.2.1", key, body)
		if err != nil {
			isClientError("rm", err)
		} else {
			if err := r.Validate(); err != nil || r.TTL > dht.MaxTTL {
				t.Fatalf("accepted rm %+v: %v", r, err)
			}
			canon := map[string]any{"value_hash": base64.StdEncoding.EncodeToString(r.ValueHash[:]),
				"secret": base64.RawStdEncoding.EncodeToString(r.Secret), "ttl": r.TTL}
			again, _, err := decodeRemove("192.0.2.1", key, mustJSON(t, canon))
			if d := cmp.Diff(r, again, cmpopts.EquateEmpty()); err != nil || d != "" {
				t.Fatalf("rm not stable (%v) (-first +again):\n%s", err, d)
			}
		}

		c, _, err := decodeCAS(key, body)
		if err != nil {
			isClientError("cas", err)
		} else {
			if err := c.Validate(); err != nil || c.TTL > dht.MaxTTL || c.Expected > dht.MaxExpectedVersion {
				t.Fatalf("accepted cas %+v: %v", c, err)
			}
			canon := map[string]any{"expected": c.Expected, "value": base64.StdEncoding.EncodeToString(c.Value), "ttl": c.TTL}
			again, _, err := decodeCAS(key, mustJSON(t, canon))
			if d := cmp.Diff(c, again, cmpopts.EquateEmpty()); err != nil || d != "" {
				t.Fatalf("cas not stable (%v) (-first +again):\n%s", err, d)
			}
			canon["expected"] = strconv.FormatUint(c.Expected, 10)
			again, _, err = decodeCAS(key, mustJSON(t, canon))
			if d := cmp.Diff(c, again, cmpopts.EquateEmpty()); err != nil || d != "" {
				t.Fatalf("cas with expected as a string differs (%v) (-first +again):\n%s", err, d)
			}
		}

		g, err := decodeGet(key, query, 1000)
		if err != nil {
			isClientError("get", err)
		} else {
			if err := g.Validate(); err != nil || g.MaxVals > 1000 || len(g.Placemark) > dht.MaxPlacemarkLen {
				t.Fatalf("accepted get %+v: %v", g, err)
			}
			canon := fmt.Sprintf("maxvals=%d&placemark=%s", g.MaxVals, base64.RawURLEncoding.EncodeToString(g.Placemark))
			if g.Fast {
				canon += "&read=fast"
			}
			again, err := decodeGet(key, canon, 1000)
			if d := cmp.Diff(g, again, cmpopts.EquateEmpty()); err != nil || d != "" {
				t.Fatalf("get not stable (%v) (-first +again):\n%s", err, d)
			}
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// casCounter counts the cas calls that reach the model.
type casCounter struct {
	*gatewaytest.Model
	n atomic.Int64
}

func (c *casCounter) CAS(ctx context.Context, x dht.CAS) (dht.CASResult, error) {
	c.n.Add(1)
	return c.Model.CAS(ctx, x)
}

// FuzzHandler sends arbitrary requests through the whole handler: every
// answer is a JSON object with a status the API documents, and a request
// answered with an error reaches no backend (LIM-7, CAS-8).
func FuzzHandler(f *testing.F) {
	bodies, queries := seeds()
	for i, b := range bodies {
		f.Add(uint8(i), "keys/"+hexKey("k"), queries[i%len(queries)], []byte(b))
		f.Add(uint8(i), "registers/"+hexKey("k"), "", []byte(b))
	}
	f.Add(uint8(0), "status", "", []byte(nil))
	f.Add(uint8(5), "keys/00/x", "", []byte(nil))
	f.Add(uint8(0), "registers/0a", "", []byte(nil))
	f.Add(uint8(1), "registers/0a", "", []byte(`{"expected":0,"value":"eA"}`))
	methods := []string{"GET", "POST", "DELETE", "HEAD", "PUT", "PATCH", "OPTIONS"}
	b := &casCounter{Model: gatewaytest.NewModel()}
	h := New(b, DefaultConfig())
	f.Fuzz(func(t *testing.T, m uint8, path, query string, body []byte) {
		req := httptest.NewRequest(methods[int(m)%len(methods)], "/", bytes.NewReader(body))
		req.URL.Path, req.URL.RawQuery = Prefix+path, query
		before, casBefore := len(b.Clients()), b.n.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 404, 405, 413, 503, 507:
		default:
			t.Fatalf("%s %q ? %q: status %d", req.Method, path, query, rec.Code)
		}
		if req.Method != "HEAD" && (!json.Valid(rec.Body.Bytes()) || !bytes.HasPrefix(rec.Body.Bytes(), []byte("{"))) {
			t.Fatalf("answer is not a JSON object: %q", rec.Body.String())
		}
		if writes := len(b.Clients()) - before; rec.Code != http.StatusOK && rec.Code != 507 && rec.Code != 503 && writes != 0 {
			t.Fatalf("answer %d but %d writes reached the backend", rec.Code, writes)
		}
		if cas := b.n.Load() - casBefore; rec.Code != http.StatusOK && cas != 0 {
			t.Fatalf("answer %d but %d cas reached the backend", rec.Code, cas)
		}
	})
}
