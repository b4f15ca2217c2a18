package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
)

// TestPutFileGetOutput: put --file and get --output move a large value
// through every protocol (spec/SPEC.md section 17); the value written by
// dhtctl reads through the HTTP API's /large/ endpoint, which runs the
// same layer at the gateway; rm --large removes it (LV-7).
func TestPutFileGetOutput(t *testing.T) {
	xml, sun, _ := gateways(t)
	dir := t.TempDir()
	data := make([]byte, 150*1024+3)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, gw := range []struct{ proto, addr string }{{"xmlrpc", xml}, {"sunrpc", sun}, {"http", xml}} {
		t.Run(gw.proto, func(t *testing.T) {
			g := []string{"--gateway", gw.addr, "--protocol", gw.proto}
			key := "file-" + gw.proto
			out := mustRun(t, "", append(g, "put", "--file", in, "--secret", "pw", key)...)
			if !strings.Contains(out, "success (status 0) size=153603 blocks=151") {
				t.Errorf("put --file: %q", out)
			}
			dst := filepath.Join(dir, "out-"+gw.proto)
			mustRun(t, "", append(g, "get", "--output", dst, key)...)
			if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("get --output: %d bytes, %v", len(got), err)
			}
			resp, err := http.Get("http://" + xml + httpapi.Prefix + "large/" + client.TextKey(key).String())
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, data) {
				t.Errorf("the HTTP API read %d bytes of the value dhtctl put (%s)", len(got), resp.Status)
			}
			if gw.proto == "sunrpc" {
				return // Sun RPC version 3 removes too, but one protocol is enough here
			}
			mustRun(t, "", append(g, "rm", "--large", "--secret", "pw", key)...)
			missing := filepath.Join(dir, "missing-"+gw.proto)
			if out, err := run(t, "", append(g, "get", "--output", missing, key)...); err == nil || !strings.Contains(err.Error(), "no large value") {
				t.Errorf("get --output after rm --large: %q %v", out, err)
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Errorf("a failed get --output left a file: %v", err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".partial-") {
					t.Errorf("a failed get --output left %s", e.Name())
				}
			}
		})
	}
	if _, err := run(t, "", "--gateway", xml, "put", "--file", filepath.Join(dir, "nope"), "k"); err == nil || !strings.Contains(err.Error(), "--file") {
		t.Errorf("put --file of a missing file: %v", err)
	}
}
