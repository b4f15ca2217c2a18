package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAPIKeyConfig: the key goes with every call as a Bearer token over
// XML-RPC and HTTP (spec section 20, AC-2), and a key that Sun RPC cannot
// carry, or that would break the header, is refused.
func TestAPIKeyConfig(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		http.Error(w, `{"error":"unknown API key"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	for _, p := range []Protocol{XMLRPC, HTTP} {
		cfg := DefaultConfig(srv.Listener.Addr().String())
		cfg.Protocol, cfg.APIKey = p, "k-0123456789abcdef"
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Put(context.Background(), TextKey("k"), []byte("v"), 60)
		if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%v: put answered 401 unknown key: %v", p, err)
		}
		if _, err := c.Usage(context.Background()); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("%v: usage answered 401 unknown key: %v", p, err)
		}
		_ = c.Close()
	}
	for _, h := range got {
		if h != "Bearer k-0123456789abcdef" {
			t.Fatalf("Authorization headers sent: %q", got)
		}
	}
	for _, cfg := range []Config{
		func() Config { c := DefaultConfig("x:1"); c.Protocol, c.APIKey = SunRPC, "k"; return c }(),
		func() Config { c := DefaultConfig("x:1"); c.APIKey = "k\r\nX-Evil: 1"; return c }(),
	} {
		if cfg.Validate() == nil {
			t.Errorf("config with protocol %v and key %q accepted", cfg.Protocol, cfg.APIKey)
		}
	}
}
