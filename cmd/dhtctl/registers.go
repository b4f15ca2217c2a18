package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/dht"
)

// The versioned registers of spec/SPEC.md section 11: cas and read.

// jsonRegister is a register in --json output.
type jsonRegister struct {
	Op      string `json:"op,omitempty"`
	Key     string `json:"key"`
	OK      *bool  `json:"ok,omitempty"`
	Version uint64 `json:"version"`
	Value   []byte `json:"value"`
	Text    string `json:"text,omitempty"`
}

func newJSONRegister(op string, key dht.Key, v dht.Versioned) jsonRegister {
	jr := jsonRegister{Op: op, Key: key.String(), Version: v.Version, Value: v.Value}
	if jr.Value == nil {
		jr.Value = []byte{}
	}
	if printable(v.Value) {
		jr.Text = string(v.Value)
	}
	return jr
}

// showRegister prints a register for people: version=N value=V, and what
// an empty value means (CAS-2, CAS-6).
func showRegister(v dht.Versioned) string {
	s := fmt.Sprintf("version=%d value=%s", v.Version, showValue(v.Value))
	switch {
	case v.Version == 0:
		s += " (absent)"
	case len(v.Value) == 0:
		s += " (deleted)"
	}
	return s
}

// registerError reports a failed cas or read, with --json, and names an
// unknown outcome.
func (g *globals) registerError(op string, key dht.Key, err error) error {
	unknown := errors.Is(err, client.ErrUnknownOutcome)
	if g.jsonOut {
		m := map[string]any{"op": op, "key": key.String(), "error": err.Error()}
		if unknown {
			m["outcome"] = "unknown"
		}
		_ = g.printJSON(m)
	}
	if unknown {
		return fmt.Errorf("%s %s: OUTCOME UNKNOWN: the cas may or may not have taken effect; "+
			"read the register (dhtctl read) before trying again: %w", op, key, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// errCASFailed: a cas that reached the register and did not take effect.
var errCASFailed = errors.New("did not take effect")

func casCmd(g *globals) *cobra.Command {
	ttl := ttlFlag{time.Hour}
	var expected uint64
	c := &cobra.Command{
		Use:   "cas KEY VALUE --expected N",
		Short: "Compare-and-set the register of KEY: write VALUE if its version is N (VALUE - reads standard input)",
		Long: `cas writes VALUE to the register of KEY if the register's version is --expected
(0: the register is absent); the version becomes N+1. It prints
"ok version=N+1 value=VALUE" and exits 0, or, when the register had another
version, "failed version=M value=CURRENT" (the register as it is) and exits 1.
An empty VALUE deletes: the register keeps counting versions for --ttl.

Registers (versioned, compare-and-set, linearizable) are apart from the values of
put and get. They need --protocol xmlrpc or http.

When the answer is lost (a timeout, a broken connection) the cas may or may not
have taken effect: dhtctl says OUTCOME UNKNOWN, exits 1, and does not retry.
Read the register before trying again.`,
		Example: `  dhtctl read mykey                        # version=0 value= (absent)
  dhtctl cas --expected 0 mykey first      # ok version=1 value=first
  dhtctl cas --expected 1 mykey second     # ok version=2 value=second
  dhtctl cas --expected 1 mykey third      # failed version=2 value=second
  dhtctl cas --expected 2 --ttl 24h mykey ""  # delete, remembered for a day`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("expected") {
				return usageError{Err: errors.New("cas needs --expected N, the version the register must have (0: absent; dhtctl read shows it)")}
			}
			key, err := g.key(args[0])
			if err != nil {
				return err
			}
			val, err := g.value(args[1])
			if err != nil {
				return err
			}
			return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
				res, err := c.CAS(ctx, key, expected, val, ttl.d)
				if err != nil {
					return g.registerError("cas", key, err)
				}
				if g.jsonOut {
					jr := newJSONRegister("cas", key, res.Versioned)
					jr.OK = &res.OK
					if err := g.printJSON(jr); err != nil {
						return err
					}
				} else if res.OK {
					fmt.Fprintf(g.out, "ok %s\n", showRegister(res.Versioned))
				} else {
					fmt.Fprintf(g.out, "failed %s\n", showRegister(res.Versioned))
				}
				if !res.OK {
					return fmt.Errorf("cas %s: %w: the register is at version %d, not %d", key, errCASFailed, res.Version, expected)
				}
				return nil
			})
		},
	}
	c.Flags().Uint64Var(&expected, "expected", 0, "the version the register must have: 0 if absent (required)")
	c.Flags().Var(&ttl, "ttl", "time to live of the register from this write: seconds or a duration (clamped by the gateway to a week)")
	return c
}

func readCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "read KEY",
		Short: "Print the version and value of the register of KEY",
		Long: `read prints the register of KEY as "version=N value=V": version 0 means absent,
an empty value with a version means deleted. The read is linearizable: it sees
every cas that finished before it started. It needs --protocol xmlrpc or http.`,
		Example: `  dhtctl read mykey
  dhtctl read --json mykey`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.key(args[0])
			if err != nil {
				return err
			}
			return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
				v, err := c.Read(ctx, key)
				if err != nil {
					return g.registerError("read", key, err)
				}
				if g.jsonOut {
					return g.printJSON(newJSONRegister("", key, v))
				}
				fmt.Fprintln(g.out, showRegister(v))
				return nil
			})
		},
	}
}
