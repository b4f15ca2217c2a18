package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
)

// Immutable and signed puts (spec/SPEC.md section 18): keygen writes an
// ed25519 key file; put, get and rm gain --immutable (IM-*) and --sign /
// --signed (SG-*). The operations are the Go client's, so they work over
// every protocol that carries a secret hash (XML-RPC, the HTTP API, Sun
// RPC version 3) and verify what they read.

// keyFileType is the PEM block of a key file: PKCS #8, as openssl writes
// ed25519 keys ("openssl pkey -in FILE -pubout" reads it).
const keyFileType = "PRIVATE KEY"

// authFlags are the flags of put, get and rm for authenticated items.
type authFlags struct {
	immutable bool
	sha256    bool
	signed    bool
	keyFile   string // --sign
	pub       string // --pub
	name      string // --name
}

func (a *authFlags) alg() dht.ImmutableAlg {
	if a.sha256 {
		return dht.ImmutableSHA256
	}
	return dht.ImmutableSHA1
}

// addImmutable adds --immutable and --sha256 to c.
func (a *authFlags) addImmutable(c *cobra.Command, what string) {
	c.Flags().BoolVar(&a.immutable, "immutable", false, what)
	c.Flags().BoolVar(&a.sha256, "sha256", false, "with --immutable: the key is the first 20 bytes of SHA-256 of the value, not its SHA-1")
}

// addSigned adds --sign and --name to c.
func (a *authFlags) addSigned(c *cobra.Command, sign string) {
	c.Flags().StringVar(&a.keyFile, "sign", "", sign)
	c.Flags().StringVar(&a.name, "name", "", "the name of the signed key under the key pair (any text)")
}

// checkImmutable rejects flags that do not go with --immutable.
func (a *authFlags) checkImmutable(conflicting map[string]bool) error {
	if a.sha256 && !a.immutable {
		return cli.Usagef("--sha256 goes with --immutable")
	}
	if a.immutable && (a.keyFile != "" || a.pub != "" || a.name != "" || a.signed) {
		return cli.Usagef("--immutable and signed keys (--sign, --pub, --name, --signed) do not go together")
	}
	for f, set := range conflicting {
		if set && (a.immutable || a.keyFile != "" || a.signed) {
			return cli.Usagef("%s does not go with immutable or signed values", f)
		}
	}
	return nil
}

// --- keygen ---

func keygenCmd(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Write a new ed25519 key pair for signed puts to FILE (mode 0600) and print its public key",
		Example: `  dhtctl keygen --out me.key
  dhtctl put --sign me.key --name profile "hello"
  dhtctl get --signed --pub $(dhtctl keygen --out other.key | cut -d' ' -f3) --name profile`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return cli.Usagef("keygen needs --out FILE")
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			if err := writeKeyFile(out, priv); err != nil {
				return err
			}
			if g.jsonOut {
				return g.printJSON(map[string]any{"file": out, "public_key": hex.EncodeToString(pub)})
			}
			fmt.Fprintf(g.out, "public key: %x\n", pub)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "the key file to create (it must not exist)")
	return c
}

// writeKeyFile creates path, readable by its owner only, with priv in
// PKCS #8 PEM. It never replaces a file: a key lost that way cannot sign
// again for its keys.
func writeKeyFile(path string, priv ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keygen: %s exists: refusing to replace a key (its signed keys could not be written again)", path)
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: keyFileType, Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("keygen: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("keygen: write %s: %w", path, err)
	}
	return nil
}

// maxKeyFile bounds what readKeyFile reads: a PEM ed25519 key is 119
// bytes.
const maxKeyFile = 4096

// readKeyFile reads a key file keygen wrote (or openssl genpkey -algorithm
// ed25519). Like ssh, it refuses a file others can read.
func readKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s: not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s: others can read it (mode %04o): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("key file %s: %d bytes is too long for a key (not a key file?)", path, st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return parseKeyFile(path, b)
}

func parseKeyFile(path string, b []byte) (ed25519.PrivateKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("key file %s: no PEM block (want the file dhtctl keygen writes)", path)
	}
	if blk.Type != keyFileType {
		return nil, fmt.Errorf("key file %s: a PEM %q block, want %q", path, blk.Type, keyFileType)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, fmt.Errorf("key file %s: data after the key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s: a %T, want an ed25519 key", path, k)
	}
	return priv, nil
}

// parsePub reads --pub: 64 hex digits.
func parsePub(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, cli.Usagef("--pub: want an ed25519 public key, 64 hex digits, got %q", s)
	}
	return ed25519.PublicKey(b), nil
}

// immutableKey reads the KEY of get --immutable: 40 hex digits.
func immutableKey(s string) (dht.Key, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != dht.KeyLen {
		return dht.Key{}, cli.Usagef("get --immutable: KEY is the 40 hex digits put --immutable printed, got %q", s)
	}
	return dht.Key(b), nil
}

// --- put ---

func (g *globals) putImmutable(cmd *cobra.Command, a *authFlags, arg string, ttl time.Duration) error {
	val, err := g.value(arg)
	if err != nil {
		return err
	}
	return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
		key, err := c.PutImmutable(ctx, a.alg(), val, ttl)
		if err != nil {
			return g.writeResult("put", key, err)
		}
		if g.jsonOut {
			return g.printJSON(map[string]any{"op": "put", "key": key.String(), "algorithm": a.alg().String(), "status": 0, "result": "success"})
		}
		fmt.Fprintf(g.out, "put %s: success (status 0) immutable %s\n", key, a.alg())
		return nil
	})
}

func (g *globals) putSigned(cmd *cobra.Command, a *authFlags, arg string, ttl time.Duration) error {
	if a.name == "" {
		return cli.Usagef("put --sign needs --name NAME")
	}
	priv, err := readKeyFile(a.keyFile)
	if err != nil {
		return err
	}
	val, err := g.value(arg)
	if err != nil {
		return err
	}
	if len(val) > dht.MaxSignedValueLen {
		return fmt.Errorf("put: %w", dht.ErrSignedValueTooBig)
	}
	return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
		r, err := c.PutSigned(ctx, priv, []byte(a.name), val, ttl)
		return g.signedResult("put", r, err)
	})
}

// signedResult reports a signed put or remove: the key, the sequence
// number signed and the signed expiry.
func (g *globals) signedResult(op string, r dht.Record, err error) error {
	key := r.Key()
	if err != nil || len(r.PublicKey) == 0 {
		if len(r.PublicKey) == 0 {
			key = dht.Key{}
		}
		return g.writeResult(op, key, err)
	}
	exp := time.Unix(int64(r.Expires), 0).UTC().Format(time.RFC3339)
	if g.jsonOut {
		return g.printJSON(map[string]any{"op": op, "key": key.String(), "seq": r.Seq, "expires": exp, "public_key": hex.EncodeToString(r.PublicKey), "status": 0, "result": "success"})
	}
	fmt.Fprintf(g.out, "%s %s: success (status 0) seq=%d expires=%s\n", op, key, r.Seq, exp)
	return nil
}

// --- get ---

func (g *globals) getImmutable(cmd *cobra.Command, a *authFlags, arg string) error {
	key, err := immutableKey(arg)
	if err != nil {
		return err
	}
	var val []byte
	if err := g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
		val, err = c.GetImmutable(ctx, a.alg(), key)
		return err
	}); err != nil {
		return g.authGetError(key, err)
	}
	if g.jsonOut {
		jv := map[string]any{"key": key.String(), "algorithm": a.alg().String(), "value": val}
		if printable(val) {
			jv["text"] = string(val)
		}
		return g.printJSON(jv)
	}
	fmt.Fprintln(g.out, showValue(val))
	return nil
}

func (g *globals) getSigned(cmd *cobra.Command, a *authFlags) error {
	var pub ed25519.PublicKey
	switch {
	case a.name == "":
		return cli.Usagef("get --signed needs --name NAME")
	case (a.pub == "") == (a.keyFile == ""):
		return cli.Usagef("get --signed needs the owner: --pub PUBKEY or --sign KEYFILE (one of them)")
	case a.pub != "":
		p, err := parsePub(a.pub)
		if err != nil {
			return err
		}
		pub = p
	default:
		priv, err := readKeyFile(a.keyFile)
		if err != nil {
			return err
		}
		pub = priv.Public().(ed25519.PublicKey)
	}
	key := client.SignedKey(pub, []byte(a.name))
	var r dht.Record
	if err := g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
		var err error
		r, err = c.GetSigned(ctx, key)
		return err
	}); err != nil {
		return g.authGetError(key, err)
	}
	exp := time.Unix(int64(r.Expires), 0).UTC().Format(time.RFC3339)
	if r.Removed { // SG-7: the key holds nothing
		if g.jsonOut {
			_ = g.printJSON(map[string]any{"key": key.String(), "seq": r.Seq, "expires": exp, "removed": true})
		} else {
			fmt.Fprintf(g.out, "# removed by the owner (seq=%d expires=%s)\n", r.Seq, exp)
		}
		return fmt.Errorf("get: %w", client.ErrNotFound)
	}
	if g.jsonOut {
		jv := map[string]any{"key": key.String(), "seq": r.Seq, "expires": exp, "removed": false, "value": r.Value, "public_key": hex.EncodeToString(r.PublicKey)}
		if printable(r.Value) {
			jv["text"] = string(r.Value)
		}
		return g.printJSON(jv)
	}
	fmt.Fprintln(g.out, showValue(r.Value))
	return nil
}

// authGetError reports a failed authenticated get.
func (g *globals) authGetError(key dht.Key, err error) error {
	if g.jsonOut {
		_ = g.printJSON(map[string]any{"key": key.String(), "error": err.Error()})
	}
	return fmt.Errorf("get: %w", err)
}

// --- rm ---

func (g *globals) removeSigned(cmd *cobra.Command, a *authFlags, ttl time.Duration) error {
	switch {
	case a.keyFile == "":
		return cli.Usagef("rm --signed needs --sign KEYFILE: only the owner removes")
	case a.name == "":
		return cli.Usagef("rm --signed needs --name NAME")
	}
	priv, err := readKeyFile(a.keyFile)
	if err != nil {
		return err
	}
	return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
		r, err := c.RemoveSigned(ctx, priv, []byte(a.name), ttl)
		return g.signedResult("rm", r, err)
	})
}
