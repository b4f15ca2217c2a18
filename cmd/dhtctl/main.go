// Command dhtctl is the command-line client of the OpenDHT gateways: put,
// get, rm and ping through any gateway (XML-RPC, Sun RPC or the JSON API),
// cas and read on versioned registers (XML-RPC or the JSON API), bench, a
// closed-loop load generator, and the immutable and signed puts of
// spec/SPEC.md section 18: keygen, put --immutable, put --sign, get
// --immutable, get --signed and rm --signed, which verify what they read.
//
// Text keys are hashed with SHA-1 as the original client scripts did;
// --raw-key takes the key as hex. Output is for people by default and JSON
// with --json. The exit status is 0 on success, 1 on a failed call
// (including status 1 and 2, and a cas that did not take effect) and 2 on
// bad usage.
package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
)

// usageError marks errors in the command line (exit status 2), as in
// opendht.
type usageError = cli.UsageError

func main() { cli.Main(rootCmd(os.Stdin, os.Stdout)) }

type globals struct {
	gateways []string
	protocol string
	sunrpcV  int
	jsonOut  bool
	rawKey   bool
	timeout  time.Duration
	app      string
	apiKey   string
	stdin    io.Reader
	out      io.Writer
	stderr   *os.File // the progress bar's terminal, if it is one
}

func rootCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	g := &globals{stdin: stdin, out: stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "dhtctl",
		Short: "Client of OpenDHT gateways: put, get, rm, cas, read, ping, bench, redir, keygen",
		Long: `dhtctl talks to OpenDHT gateways: this project's nodes (XML-RPC and the JSON
API on node port + 1, Sun RPC on node port + 2) or any gateway that speaks the
original OpenDHT client API.

Keys are text, hashed with SHA-1 like the original client scripts; with
--raw-key they are hex (up to 20 bytes, left-padded with zeros).`,
	}
	root.SetOut(stdout)
	pf := root.PersistentFlags()
	pf.StringSliceVarP(&g.gateways, "gateway", "g", nil, "gateway host[:port], several comma-separated; without a port, the protocol's default (5851, or 5852 for sunrpc) (default 127.0.0.1)")
	pf.StringVarP(&g.protocol, "protocol", "p", "xmlrpc", "gateway protocol: xmlrpc, sunrpc or http")
	pf.IntVar(&g.sunrpcV, "sunrpc-version", 3, "Sun RPC program version: 3, or 2 for the first interface (put without a secret, get of bare values)")
	pf.BoolVar(&g.jsonOut, "json", false, "print JSON for scripts")
	pf.BoolVar(&g.rawKey, "raw-key", false, "keys are hex bytes, not text to hash")
	pf.DurationVar(&g.timeout, "timeout", 30*time.Second, "time limit of the whole command (bench, put --file, get --output, rm --large: of each call)")
	pf.StringVar(&g.app, "app", "dhtctl", "application name sent with every call")
	pf.StringVar(&g.apiKey, "api-key", "", "API key of an account on gateways that charge (xmlrpc and http; default $OPENDHT_API_KEY, which keeps the key out of the process list)")
	root.AddCommand(putCmd(g), getCmd(g), rmCmd(g), keygenCmd(g), casCmd(g), readCmd(g), pingCmd(g), benchCmd(g), redirCmd(g), benchLargeCmd(g), usageCmd(g))
	cli.Setup(root)
	return root
}

func (g *globals) config() (client.Config, error) {
	p, err := client.ParseProtocol(g.protocol)
	if err != nil {
		return client.Config{}, usageError{Err: err}
	}
	gws := g.gateways
	if len(gws) == 0 {
		gws = []string{fmt.Sprintf("127.0.0.1:%d", p.DefaultPort(5850))}
	}
	cfg := client.DefaultConfig(gws...)
	cfg.Protocol = p
	cfg.Application = g.app
	cfg.CallTimeout = g.timeout
	cfg.SunRPCVersion = g.sunrpcV
	cfg.APIKey = g.apiKey
	if cfg.APIKey == "" {
		cfg.APIKey = os.Getenv("OPENDHT_API_KEY")
	}
	if err := cfg.Validate(); err != nil {
		return client.Config{}, usageError{Err: err}
	}
	return cfg, nil
}

// withClient runs f with a client of the configured gateways (adjusted by
// tune, if given) and a context bounded by --timeout.
func (g *globals) withClient(cmd *cobra.Command, tune func(*client.Config), f func(context.Context, *client.Client) error) error {
	cfg, err := g.config()
	if err != nil {
		return err
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	return f(ctx, c)
}

func (g *globals) key(s string) (dht.Key, error) {
	if !g.rawKey {
		return client.TextKey(s), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return dht.Key{}, usageError{Err: fmt.Errorf("--raw-key: %q is not hex: %v", s, err)}
	}
	k, err := dht.ParseKey(b)
	if err != nil {
		return dht.Key{}, usageError{Err: fmt.Errorf("--raw-key: %v", err)}
	}
	return k, nil
}

// value reads a value argument: the text itself, or standard input for "-".
func (g *globals) value(s string) ([]byte, error) {
	if s != "-" {
		return []byte(s), nil
	}
	b, err := io.ReadAll(io.LimitReader(g.stdin, dht.MaxValueLen+1))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ttlFlag accepts seconds ("3600", as the original API) or a duration
// ("1h").
type ttlFlag struct{ d time.Duration }

func (t *ttlFlag) String() string { return strconv.FormatInt(int64(t.d/time.Second), 10) }
func (t *ttlFlag) Type() string   { return "ttl" }
func (t *ttlFlag) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		t.d = time.Duration(n) * time.Second
	} else if t.d, err = time.ParseDuration(s); err != nil {
		return fmt.Errorf("want seconds or a duration like 1h: %q", s)
	}
	if t.d < time.Second {
		return fmt.Errorf("ttl must be at least one second, got %q", s)
	}
	return nil
}

// writeResult reports the outcome of a put or rm.
func (g *globals) writeResult(op string, key dht.Key, err error) error {
	st, text := dht.StatusOK, "success"
	switch {
	case err == nil:
	case errors.Is(err, client.ErrOverCapacity):
		st, text = dht.StatusOverCapacity, "over capacity"
	case errors.Is(err, client.ErrOverQuota):
		st, text = dht.StatusOverCapacity, "over quota"
	case errors.Is(err, client.ErrTryAgain):
		st, text = dht.StatusTryAgain, "try again"
	default:
		if g.jsonOut {
			_ = g.printJSON(map[string]any{"op": op, "key": key.String(), "error": err.Error()})
		}
		return err
	}
	if g.jsonOut {
		if perr := g.printJSON(map[string]any{"op": op, "key": key.String(), "status": int(st), "result": text}); perr != nil {
			return perr
		}
	} else {
		fmt.Fprintf(g.out, "%s %s: %s (status %d)\n", op, key, text, st)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func putCmd(g *globals) *cobra.Command {
	ttl := ttlFlag{time.Hour}
	var secret, file string
	var a authFlags
	c := &cobra.Command{
		Use:   "put KEY VALUE | put --file FILE KEY | put --immutable VALUE | put --sign KEYFILE --name NAME VALUE",
		Short: "Store VALUE under KEY (VALUE - reads standard input), a FILE of any size as a large value, an immutable or a signed value",
		Example: `  dhtctl put mykey "hello world"
  dhtctl put --secret s3cret --ttl 10m mykey "removable value"
  echo -n data | dhtctl put --raw-key 0a1b2c -
  dhtctl put --file backup.tar mybackup        # a large value: 1 kB blocks and a manifest
  dhtctl put --immutable "forever the same"   # prints the key: the value's SHA-1
  dhtctl put --sign me.key --name profile "v2"  # signs the next sequence number`,
		Args: func(cmd *cobra.Command, args []string) error {
			if file != "" || a.immutable || a.keyFile != "" {
				return exactArgs(1)(cmd, args)
			}
			return exactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkImmutable(map[string]bool{"--secret": secret != "", "--file": file != "", "--raw-key": g.rawKey}); err != nil {
				return err
			}
			switch {
			case a.name != "" && a.keyFile == "":
				return cli.Usagef("--name goes with --sign KEYFILE")
			case a.immutable:
				return g.putImmutable(cmd, &a, args[0], ttl.d)
			case a.keyFile != "":
				return g.putSigned(cmd, &a, args[0], ttl.d)
			}
			key, err := g.key(args[0])
			if err != nil {
				return err
			}
			if file != "" {
				return g.putFile(cmd, key, file, secret, ttl.d)
			}
			val, err := g.value(args[1])
			if err != nil {
				return err
			}
			return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
				var err error
				if secret != "" {
					err = c.PutRemovable(ctx, key, val, []byte(secret), ttl.d)
				} else {
					err = c.Put(ctx, key, val, ttl.d)
				}
				return g.writeResult("put", key, err)
			})
		},
	}
	c.Flags().Var(&ttl, "ttl", "time to live: seconds or a duration (clamped by the gateway to a week)")
	c.Flags().StringVar(&secret, "secret", "", "make the value removable by whoever knows this secret (put_removable)")
	c.Flags().StringVar(&file, "file", "", "store this file (- for standard input) as a large value, of any size (a progress bar on a terminal)")
	a.addImmutable(c, "store VALUE under its hash and print the key (it cannot be removed)")
	a.addSigned(c, "sign VALUE with the key in this file (dhtctl keygen) and store it under the key pair and --name")
	return c
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{Err: err}
		}
		return nil
	}
}

// showValue prints a value for people: the text if it is printable, else
// base64.
func showValue(b []byte) string {
	if printable(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// jsonValue is a value in --json output.
type jsonValue struct {
	Value      []byte `json:"value"`
	Text       string `json:"text,omitempty"`
	TTL        int64  `json:"ttl_remaining"`
	SecretHash string `json:"secret_hash,omitempty"`
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < ' ' && r != '\t' {
			return false
		}
	}
	return true
}

func getCmd(g *globals) *cobra.Command {
	var details, fast bool
	var maxTotal, pageSize int
	var output string
	var a authFlags
	c := &cobra.Command{
		Use:   "get KEY | get --immutable KEY | get --signed (--pub PUBKEY | --sign KEYFILE) --name NAME",
		Short: "Print every value under KEY, following placemarks, write the large value under KEY to a file, or print a verified immutable or signed value",
		Example: `  dhtctl get mykey
  dhtctl get --details --json mykey
  dhtctl get --fast mykey                     # the first replica to answer: sooner, may miss a value just put
  dhtctl get --output backup.tar mybackup     # a large value, every block checked
  dhtctl get --immutable 0a4d55a8d778e5022fab701977c5d840bbc486d0
  dhtctl get --signed --pub 3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c --name profile`,
		Args: func(cmd *cobra.Command, args []string) error {
			if a.signed || a.pub != "" || a.keyFile != "" {
				return exactArgs(0)(cmd, args)
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.checkImmutable(map[string]bool{"--details": details, "--output": output != "", "--max": maxTotal != 0, "--raw-key": g.rawKey, "--fast": fast}); err != nil {
				return err
			}
			switch {
			case a.immutable:
				return g.getImmutable(cmd, &a, args[0])
			case a.signed || a.pub != "" || a.keyFile != "" || a.name != "":
				return g.getSigned(cmd, &a)
			}
			key, err := g.key(args[0])
			if err != nil {
				return err
			}
			if output != "" {
				if fast {
					return usageError{Err: errors.New("--fast is for values: a large value's blocks are read with quorum gets")}
				}
				return g.getFile(cmd, key, output)
			}
			if pageSize < 1 || maxTotal < 0 {
				return usageError{Err: errors.New("--maxvals must be positive and --max not negative")}
			}
			var vals []client.Value
			err = g.withClient(cmd, func(cfg *client.Config) { cfg.PageSize = pageSize }, func(ctx context.Context, c *client.Client) error {
				var opts []client.GetOption
				if fast {
					opts = append(opts, client.FastRead())
				}
				for v, err := range c.Values(ctx, key, opts...) {
					if err != nil {
						return err
					}
					vals = append(vals, v)
					if maxTotal > 0 && len(vals) == maxTotal {
						break
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if g.jsonOut {
				out := make([]jsonValue, 0, len(vals))
				for _, v := range vals {
					jv := jsonValue{Value: v.Data, TTL: int64(v.TTL / time.Second)}
					if printable(v.Data) {
						jv.Text = string(v.Data)
					}
					if v.Removable() {
						jv.SecretHash = hex.EncodeToString(v.SecretHash[:])
					}
					out = append(out, jv)
				}
				return g.printJSON(map[string]any{"key": key.String(), "values": out})
			}
			for _, v := range vals {
				s := showValue(v.Data)
				if details {
					removable := "not removable"
					if v.Removable() {
						removable = "secret_hash=" + hex.EncodeToString(v.SecretHash[:])
					}
					fmt.Fprintf(g.out, "%s\tttl=%ds\t%s\n", s, int64(v.TTL/time.Second), removable)
				} else {
					fmt.Fprintln(g.out, s)
				}
			}
			if details {
				fmt.Fprintf(g.out, "# %d values under %s\n", len(vals), key)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&details, "details", false, "also print each value's remaining TTL and secret hash (get_details)")
	c.Flags().IntVar(&maxTotal, "max", 0, "stop after this many values (0: all)")
	c.Flags().IntVar(&pageSize, "maxvals", 10, "values asked for per call (the original maxvals)")
	c.Flags().BoolVar(&fast, "fast", false, "a fast read: the first replica to answer, sooner, but it may miss a value just put or show one just removed (spec RD-14; --protocol xmlrpc or http)")
	c.Flags().StringVar(&output, "output", "", "write the large value under KEY to this file (- for standard output); the file appears only once every block was read and checked")
	a.addImmutable(c, "KEY is an immutable key (40 hex digits): print its value, checked against the key")
	c.Flags().BoolVar(&a.signed, "signed", false, "print the latest value of a signed key, its signature checked (with --pub or --sign, and --name)")
	c.Flags().StringVar(&a.pub, "pub", "", "with --signed: the owner's ed25519 public key, 64 hex digits (dhtctl keygen prints it)")
	a.addSigned(c, "with --signed: take the owner's public key from this key file")
	return c
}

func rmCmd(g *globals) *cobra.Command {
	ttl := ttlFlag{time.Hour}
	var secret, valueHash string
	var large bool
	var a authFlags
	c := &cobra.Command{
		Use:   "rm KEY [VALUE] --secret SECRET | rm --signed --sign KEYFILE --name NAME",
		Short: "Remove a value put with a secret (VALUE, or --value-hash), a large value (--large), or a signed key's value (a signed remove)",
		Example: `  dhtctl rm --secret s3cret mykey "removable value"
  dhtctl rm --secret s3cret --value-hash 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed mykey
  dhtctl rm --large --secret s3cret mybackup
  dhtctl rm --signed --sign me.key --name profile`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case a.signed || a.keyFile != "":
				return exactArgs(0)(cmd, args)
			case valueHash != "" || large:
				return exactArgs(1)(cmd, args)
			}
			return exactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.signed || a.keyFile != "" || a.name != "" {
				if secret != "" || valueHash != "" || large || g.rawKey {
					return cli.Usagef("rm --signed does not go with --secret, --value-hash, --large or --raw-key")
				}
				return g.removeSigned(cmd, &a, ttl.d)
			}
			key, err := g.key(args[0])
			if err != nil {
				return err
			}
			if secret == "" {
				return usageError{Err: errors.New("rm needs --secret, the secret the value was put with")}
			}
			if large {
				return g.removeLarge(cmd, key, secret)
			}
			var vh dht.Hash
			if valueHash != "" {
				b, err := hex.DecodeString(valueHash)
				h, ok := dht.ParseHash(b)
				if err != nil || !ok {
					return usageError{Err: fmt.Errorf("--value-hash: want 40 hex digits (a SHA-1), got %q", valueHash)}
				}
				vh = h
			} else {
				val, err := g.value(args[1])
				if err != nil {
					return err
				}
				vh = dht.SHA1(val)
			}
			return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
				return g.writeResult("rm", key, c.RemoveHash(ctx, key, vh, []byte(secret), ttl.d))
			})
		},
	}
	c.Flags().Var(&ttl, "ttl", "how long the removal is remembered: at least the value's remaining TTL")
	c.Flags().StringVar(&secret, "secret", "", "the secret the value was put with")
	c.Flags().StringVar(&valueHash, "value-hash", "", "SHA-1 of the value in hex, instead of the value")
	c.Flags().BoolVar(&large, "large", false, "remove the large value under KEY (put with put --file --secret)")
	c.Flags().BoolVar(&a.signed, "signed", false, "store a signed remove under the key pair of --sign and --name: its value reads as gone")
	a.addSigned(c, "with --signed: the owner's key file (dhtctl keygen)")
	return c
}

func pingCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ping",
		Short: "Check that each gateway answers, and how fast",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res []client.PingResult
			if err := g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
				res = c.Ping(ctx)
				return nil
			}); err != nil {
				return err
			}
			failed := 0
			var out []map[string]any
			for _, r := range res {
				m := map[string]any{"gateway": r.Gateway, "rtt_ms": float64(r.RTT.Microseconds()) / 1000}
				if r.Err != nil {
					failed++
					m["error"] = r.Err.Error()
					if !g.jsonOut {
						fmt.Fprintf(g.out, "%s: no answer: %v\n", r.Gateway, r.Err)
					}
				} else if !g.jsonOut {
					fmt.Fprintf(g.out, "%s: ok in %.2f ms\n", r.Gateway, float64(r.RTT.Microseconds())/1000)
				}
				out = append(out, m)
			}
			if g.jsonOut {
				if err := g.printJSON(out); err != nil {
					return err
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d gateways did not answer", failed, len(res))
			}
			return nil
		},
	}
}
