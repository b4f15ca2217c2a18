package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/porttest"
	"github.com/opendht-go/opendht/impl/store"
)

// nodeGateways starts a 3-node DHT on loopback and returns an XML-RPC
// (and HTTP API) and a Sun RPC gateway of two of its nodes, once the ring
// stores puts. Authenticated gets read in item order from just before a
// kind tag (an item placemark, RD-9), which the nodes' gateways serve and
// the single-node model behind gateways() does not.
func nodeGateways(t *testing.T) (xml, sun string) {
	t.Helper()
	if testing.Short() {
		t.Skip("a DHT of 3 nodes on loopback")
	}
	var boot []netip.AddrPort
	for i := range 3 {
		x, s := fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t)), fmt.Sprintf("127.0.0.1:%d", porttest.TCP(t))
		cfg := driver.ServerConfig{Node: node.DefaultConfig(), Listen: fmt.Sprintf("127.0.0.1:%d", porttest.UDP(t)),
			Store: store.DefaultConfig(t.TempDir()), Bootstrap: boot, XMLRPC: x, SunRPC: s}
		srv, err := driver.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		if boot == nil {
			boot = []netip.AddrPort{srv.Self().Addr}
		}
		switch i {
		case 1:
			xml = x
		case 2:
			sun = s
		}
	}
	// The ring forms: wait until a put through the gateway succeeds.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := run(t, "", "--gateway", xml, "--timeout", "5s", "put", "--immutable", "ring formed")
		if err == nil {
			return xml, sun
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 3-node ring stores no put after 30 s: %v", err)
		}
	}
}

// keygen writes a key file and returns its path and public key (hex).
func keygen(t *testing.T, dir, name string) (path, pub string) {
	t.Helper()
	path = filepath.Join(dir, name)
	out := mustRun(t, "", "keygen", "--out", path)
	pub, ok := strings.CutPrefix(strings.TrimSpace(out), "public key: ")
	if !ok || len(pub) != 64 {
		t.Fatalf("keygen printed %q", out)
	}
	return path, pub
}

// TestKeygen: keygen writes a PKCS #8 ed25519 key readable by its owner
// only, whose public key it prints; it never replaces a file; and a key
// file that is not such a key, or that others can read, is refused with
// a message that says why, before any call is made.
func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path, pub := keygen(t, dir, "me.key")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v: want 0600", st.Mode(), err)
	}
	priv, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(priv.Public().(ed25519.PublicKey)); got != pub {
		t.Fatalf("keygen printed %s, the file holds %s", pub, got)
	}
	before, _ := os.ReadFile(path)
	if _, err := run(t, "", "keygen", "--out", path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("keygen over an existing key: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("keygen replaced an existing key")
	}
	var ue usageError
	if _, err := run(t, "", "keygen"); !errors.As(err, &ue) {
		t.Errorf("keygen without --out: %v, want a usage error", err)
	}
	out := mustRun(t, "", "--json", "keygen", "--out", filepath.Join(dir, "j.key"))
	var js struct {
		File      string
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil || len(js.PublicKey) != 64 || js.File == "" {
		t.Errorf("keygen --json: %v %q", err, out)
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	good, _ := os.ReadFile(path)
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"empty", "", 0o600, "no PEM block"},
		{"text", "hello\n", 0o600, "no PEM block"},
		{"other block", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), 0o600, `"CERTIFICATE" block`},
		{"not pkcs8", string(pem.EncodeToMemory(&pem.Block{Type: keyFileType, Bytes: []byte("garbage")})), 0o600, "key file"},
		{"ecdsa", string(pem.EncodeToMemory(&pem.Block{Type: keyFileType, Bytes: ecDER})), 0o600, "want an ed25519 key"},
		{"trailing", string(good) + "more\n", 0o600, "data after the key"},
		{"readable by others", string(good), 0o644, "chmod 600"},
		{"too long", strings.Repeat("x", maxKeyFile+1), 0o600, "too long"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		// Refused before any gateway is called: the gateway here does not
		// exist.
		_, err := run(t, "", "--gateway", "127.0.0.1:1", "put", "--sign", p, "--name", "n", "v")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: put --sign: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := run(t, "", "--gateway", "127.0.0.1:1", "put", "--sign", filepath.Join(dir, "nosuch"), "--name", "n", "v"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing key file: %v", err)
	}
	if _, err := run(t, "", "--gateway", "127.0.0.1:1", "put", "--sign", dir, "--name", "n", "v"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as key file: %v", err)
	}
}

// TestImmutable: put --immutable prints the key, the value's SHA-1 (or
// SHA-256 cut to 20 bytes with --sha256) (IM-2); get --immutable returns
// the value checked against it (IM-3), over every protocol with a secret
// hash. A key of the other variant, or no value, is a failure.
func TestImmutable(t *testing.T) {
	xml, sun := nodeGateways(t)
	for _, gw := range []struct{ proto, addr string }{{"xmlrpc", xml}, {"sunrpc", sun}, {"http", xml}} {
		t.Run(gw.proto, func(t *testing.T) {
			g := []string{"--gateway", gw.addr, "--protocol", gw.proto}
			val := "immutable via " + gw.proto
			sha1Key := dht.Key(dht.SHA1([]byte(val))).String()
			out := mustRun(t, "", append(g, "put", "--immutable", val)...)
			if out != "put "+sha1Key+": success (status 0) immutable SHA1\n" {
				t.Errorf("put --immutable: %q, want the key %s", out, sha1Key)
			}
			if out := mustRun(t, "", append(g, "get", "--immutable", sha1Key)...); out != val+"\n" {
				t.Errorf("get --immutable: %q", out)
			}
			h := sha256.Sum256([]byte(val))
			sha256Key := hex.EncodeToString(h[:dht.KeyLen])
			out = mustRun(t, "", append(g, "--json", "put", "--immutable", "--sha256", val)...)
			var js struct{ Key, Algorithm string }
			if err := json.Unmarshal([]byte(out), &js); err != nil || js.Key != sha256Key || js.Algorithm != "SHA256" {
				t.Errorf("put --immutable --sha256 --json: %v %q, want key %s", err, out, sha256Key)
			}
			out = mustRun(t, "", append(g, "--json", "get", "--immutable", "--sha256", sha256Key)...)
			var jv struct{ Key, Text string }
			if err := json.Unmarshal([]byte(out), &jv); err != nil || jv.Text != val || jv.Key != sha256Key {
				t.Errorf("get --immutable --sha256 --json: %v %q", err, out)
			}
			// The SHA-1 key read as a SHA-256 key holds nothing of that kind.
			if _, err := run(t, "", append(g, "get", "--immutable", "--sha256", sha1Key)...); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("get --immutable --sha256 of a SHA-1 key: %v, want %v", err, client.ErrNotFound)
			}
			if _, err := run(t, "", append(g, "get", "--immutable", strings.Repeat("00", 20))...); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("get --immutable of an empty key: %v", err)
			}
		})
	}
}

// TestSigned: put --sign signs the next sequence number each time, as the
// client does (SG-8); get --signed returns the latest value, whoever asks
// (--pub) and the owner (--sign) alike (SG-7); rm --signed stores a signed
// remove, after which get fails and a later put comes back (SG-7).
func TestSigned(t *testing.T) {
	xml, sun := nodeGateways(t)
	dir := t.TempDir()
	keyFile, pub := keygen(t, dir, "owner.key")
	for _, gw := range []struct{ proto, addr string }{{"xmlrpc", xml}, {"sunrpc", sun}, {"http", xml}} {
		t.Run(gw.proto, func(t *testing.T) {
			g := []string{"--gateway", gw.addr, "--protocol", gw.proto}
			name := "profile-" + gw.proto
			priv, _ := readKeyFile(keyFile)
			key := client.SignedKey(priv.Public().(ed25519.PublicKey), []byte(name)).String()
			for seq, v := range []string{"first", "second", "third"} {
				out := mustRun(t, "", append(g, "put", "--sign", keyFile, "--name", name, v)...)
				if want := "put " + key + ": success (status 0) seq=" + string(rune('0'+seq)) + " expires="; !strings.HasPrefix(out, want) {
					t.Errorf("put --sign %s: %q, want %q...", v, out, want)
				}
			}
			if out := mustRun(t, "", append(g, "get", "--signed", "--pub", pub, "--name", name)...); out != "third\n" {
				t.Errorf("get --signed --pub: %q", out)
			}
			if out := mustRun(t, "", append(g, "get", "--sign", keyFile, "--name", name)...); out != "third\n" {
				t.Errorf("get --sign: %q", out)
			}
			out := mustRun(t, "", append(g, "--json", "get", "--signed", "--pub", pub, "--name", name)...)
			var js struct {
				Key       string
				Seq       uint64
				Removed   bool
				Text      string
				PublicKey string `json:"public_key"`
			}
			if err := json.Unmarshal([]byte(out), &js); err != nil || js.Seq != 2 || js.Text != "third" || js.Key != key || js.PublicKey != pub || js.Removed {
				t.Errorf("get --signed --json: %v %q", err, out)
			}
			if out := mustRun(t, "", append(g, "rm", "--signed", "--sign", keyFile, "--name", name)...); !strings.Contains(out, "seq=3") {
				t.Errorf("rm --signed: %q", out)
			}
			out, err := run(t, "", append(g, "get", "--signed", "--pub", pub, "--name", name)...)
			if !errors.Is(err, client.ErrNotFound) || !strings.Contains(out, "removed by the owner (seq=3") {
				t.Errorf("get --signed after rm --signed: %v %q", err, out)
			}
			mustRun(t, "", append(g, "put", "--sign", keyFile, "--name", name, "back")...)
			if out := mustRun(t, "", append(g, "get", "--signed", "--pub", pub, "--name", name)...); out != "back\n" {
				t.Errorf("get --signed after a put that follows the remove: %q", out)
			}
			// Another name of the same key pair is another key.
			if _, err := run(t, "", append(g, "get", "--signed", "--pub", pub, "--name", name+"-other")...); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("get --signed of an unused name: %v", err)
			}
		})
	}
	// Version 2 of Sun RPC carries no secret hash, so no authenticated put.
	if _, err := run(t, "", "--gateway", sun, "--protocol", "sunrpc", "--sunrpc-version", "2", "put", "--sign", keyFile, "--name", "v2", "x"); err == nil {
		t.Error("a signed put over Sun RPC version 2 succeeded")
	}
}

// TestAuthUsage: flags that do not go together, missing owners and names
// and malformed keys are usage errors (exit status 2).
func TestAuthUsage(t *testing.T) {
	dir := t.TempDir()
	keyFile, pub := keygen(t, dir, "u.key")
	g := []string{"--gateway", "127.0.0.1:1"}
	for _, args := range [][]string{
		{"put", "--immutable"},
		{"put", "--immutable", "k", "v"},
		{"put", "--immutable", "--secret", "s", "v"},
		{"put", "--immutable", "--sign", keyFile, "v"},
		{"put", "--sha256", "k", "v"},
		{"put", "--sign", keyFile, "v"},
		{"put", "--name", "n", "k", "v"},
		{"put", "--raw-key", "--immutable", "v"},
		{"get", "--immutable", "xyz"},
		{"get", "--immutable", strings.Repeat("ab", 21)},
		{"get", "--immutable", "--details", strings.Repeat("ab", 20)},
		{"get", "--signed", "--name", "n"},
		{"get", "--signed", "--pub", pub},
		{"get", "--signed", "--pub", pub, "--sign", keyFile, "--name", "n"},
		{"get", "--signed", "--pub", "abcd", "--name", "n"},
		{"get", "--signed", "--pub", pub, "--name", "n", "extra"},
		{"rm", "--signed", "--name", "n"},
		{"rm", "--signed", "--sign", keyFile},
		{"rm", "--signed", "--sign", keyFile, "--name", "n", "--secret", "s"},
	} {
		_, err := run(t, "", append(g, args...)...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("dhtctl %v: %v, want a usage error", args, err)
		}
	}
	// A value too long to sign is refused before any call.
	if _, err := run(t, "", append(g, "put", "--sign", keyFile, "--name", "n", strings.Repeat("x", dht.MaxSignedValueLen+1))...); !errors.Is(err, dht.ErrSignedValueTooBig) {
		t.Errorf("an oversized signed value: %v", err)
	}
}
