// Command opendht runs and inspects OpenDHT nodes.
//
// `opendht node` runs one DHT node over UDP; `opendht testbed -n N` runs N
// nodes on this machine (node i on UDP port 5850+10*i); `opendht store`
// works on one node's data directory directly (put, get, rm, stats) with the
// semantics and limits of the client interface (spec/SPEC.md).
package main

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/store"
)

func main() { cli.Main(rootCmd()) }

type storeFlags struct {
	data     string
	capacity int64
	rawKey   bool
	client   string
	verbose  bool
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "opendht",
		Short: "Run and inspect OpenDHT nodes",
		Long: `Run and inspect OpenDHT nodes. The exit status is 0 on success, 1 on a
failure, 2 on bad usage (an unknown command or flag, wrong arguments).`,
	}
	root.AddCommand(storeCmd(), nodeCmd(), testbedCmd())
	cli.Setup(root)
	return root
}

func storeCmd() *cobra.Command {
	f := &storeFlags{}
	c := &cobra.Command{
		Use:   "store",
		Short: "Put, get and remove values in one node's store (a data directory)",
		Long: `Operate on a node's store directly, as the node itself would: the same
admission (Fair Space-Time), TTLs, tombstones and placemarks. Keys are text
hashed with SHA-1 (as the original user guide did), or hex with --raw-key.`,
	}
	c.PersistentFlags().StringVar(&f.data, "data", "./data/node0", "data directory of the store")
	c.PersistentFlags().Int64Var(&f.capacity, "capacity", 1<<30, "storage capacity C in bytes")
	c.PersistentFlags().BoolVar(&f.rawKey, "raw-key", false, "the key is hex bytes (up to 20), not text to hash")
	c.PersistentFlags().StringVar(&f.client, "client", "127.0.0.1", "client identity charged for writes (an IP address)")
	c.PersistentFlags().BoolVarP(&f.verbose, "verbose", "v", false, "log what the store does")
	c.AddCommand(putCmd(f), getCmd(f), rmCmd(f), statsCmd(f))
	return c
}

func (f *storeFlags) open() (*store.Store, error) {
	cfg := store.DefaultConfig(f.data)
	cfg.Capacity = f.capacity
	if f.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return store.Open(cfg)
}

func (f *storeFlags) key(s string) (dht.Key, error) {
	if !f.rawKey {
		return dht.Key(sha1.Sum([]byte(s))), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return dht.Key{}, cli.Usagef("--raw-key: %w", err)
	}
	return dht.ParseKey(b)
}

func now() dht.Time { return dht.Time(time.Now().Unix()) }

func putCmd(f *storeFlags) *cobra.Command {
	var ttl int64
	var secret string
	c := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Store VALUE under KEY (put, or put_removable with --secret)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := f.key(args[0])
			if err != nil {
				return err
			}
			p := dht.Put{Client: dht.ClientID(f.client), Key: k, Value: []byte(args[1]), TTL: ttl}
			if secret != "" {
				p.SecretHash = dht.SHA1([]byte(secret))
			}
			return f.write(cmd.Context(), dht.Op{Kind: dht.OpPut, Put: p})
		},
	}
	c.Flags().Int64Var(&ttl, "ttl", 3600, "time to live in seconds (at most 604800)")
	c.Flags().StringVar(&secret, "secret", "", "make the put removable with this secret")
	return c
}

func rmCmd(f *storeFlags) *cobra.Command {
	var ttl int64
	var secret string
	c := &cobra.Command{
		Use:   "rm KEY VALUE --secret SECRET",
		Short: "Remove VALUE from KEY (the put must have been made with the same secret)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := f.key(args[0])
			if err != nil {
				return err
			}
			if secret == "" {
				return cli.UsageError{Err: errors.New("rm needs --secret")}
			}
			r := dht.Remove{Client: dht.ClientID(f.client), Key: k, ValueHash: dht.SHA1([]byte(args[1])), Secret: []byte(secret), TTL: ttl}
			return f.write(cmd.Context(), dht.Op{Kind: dht.OpRemove, Remove: r})
		},
	}
	c.Flags().Int64Var(&ttl, "ttl", 3600, "time the tombstone lives, in seconds (extended to cover the put)")
	c.Flags().StringVar(&secret, "secret", "", "the secret given to put --secret")
	return c
}

func (f *storeFlags) write(ctx context.Context, op dht.Op) error {
	s, err := f.open()
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := writeOne(ctx, s, op)
	if err != nil {
		return err
	}
	fmt.Printf("status %d (%s)\n", int(st), st)
	if st != dht.StatusOK {
		// A failed write is a failure (exit 1), as with dhtctl, not a
		// usage error.
		return fmt.Errorf("the store answered status %d (%s)", int(st), st)
	}
	return nil
}

// writeOne runs one put or remove through the store's write path (a step,
// durable when it returns) and, while admission keeps it queued, ticks
// until it completes or ctx ends.
func writeOne(ctx context.Context, s *store.Store, op dht.Op) (dht.Status, error) {
	op.ID = 1
	res, err := s.Step(op, now())
	for {
		if err != nil {
			return 0, err
		}
		if res.Err != nil {
			return 0, res.Err
		}
		for _, c := range res.Completed {
			if c.ID == op.ID {
				return c.Status, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("write still waiting for admission: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		res, err = s.Step(dht.Op{Kind: dht.OpTick}, now())
	}
}

func getCmd(f *storeFlags) *cobra.Command {
	var maxvals int
	var details bool
	c := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the values under KEY, following placemarks to the end",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := f.key(args[0])
			if err != nil {
				return err
			}
			s, err := f.open()
			if err != nil {
				return err
			}
			defer s.Close()
			g := dht.Get{Key: k, MaxVals: maxvals}
			for {
				r, err := s.Get(g, now())
				if err != nil {
					return err
				}
				for _, v := range r.Values {
					if details {
						fmt.Printf("%q ttl_remaining=%d hash_alg=%q secret_hash=%s\n", v.Value, v.TTLRemaining, v.HashAlg(), base64.StdEncoding.EncodeToString(v.SecretHash[:]))
					} else {
						fmt.Printf("%s\n", v.Value)
					}
				}
				if len(r.Placemark) == 0 {
					return nil
				}
				g.Placemark = r.Placemark
			}
		},
	}
	c.Flags().IntVar(&maxvals, "maxvals", 10, "values per reply")
	c.Flags().BoolVar(&details, "details", false, "print ttl_remaining and secret hash (get_details)")
	return c
}

func statsCmd(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Print the committed bytes and the bytes charged to each client",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open()
			if err != nil {
				return err
			}
			defer s.Close()
			if err := s.Tick(now()); err != nil { // reclaim what has expired
				return err
			}
			fmt.Printf("committed_bytes=%d capacity_bytes=%d\n", s.Committed(), f.capacity)
			for c, b := range s.Usage() {
				fmt.Printf("client=%s bytes=%d\n", c, b)
			}
			return nil
		},
	}
}
