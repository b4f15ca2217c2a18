package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/redir"
)

// ReDiR namespaces by hand (impl/redir, spec/SPEC.md section 14): register
// a member once, look up a key's successor or predecessor, list members.

type redirFlags struct {
	branching, levels, start int
}

func (f *redirFlags) config(ttl time.Duration) (redir.Config, error) {
	cfg := redir.DefaultConfig()
	cfg.Branching, cfg.Levels, cfg.StartLevel = f.branching, f.levels, f.start
	if ttl > 0 {
		cfg.TTL = ttl
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{Err: err}
	}
	return cfg, nil
}

// withRedir runs f with a ReDiR client over the configured gateways.
func (g *globals) withRedir(cmd *cobra.Command, rf *redirFlags, ttl time.Duration, f func(context.Context, *redir.Redir) error) error {
	cfg, err := rf.config(ttl)
	if err != nil {
		return err
	}
	return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
		r, err := redir.New(redir.NewClientDHT(c), cfg, nil)
		if err != nil {
			return usageError{Err: err}
		}
		return f(ctx, r)
	})
}

type jsonMember struct {
	ID      string `json:"id"`
	Payload []byte `json:"payload"`
	Text    string `json:"text,omitempty"`
	Gets    int    `json:"gets,omitempty"`
	Level   *int   `json:"level,omitempty"`
}

func newJSONMember(r redir.Record) jsonMember {
	jm := jsonMember{ID: r.ID.String(), Payload: r.Payload}
	if jm.Payload == nil {
		jm.Payload = []byte{}
	}
	if printable(r.Payload) {
		jm.Text = string(r.Payload)
	}
	return jm
}

func redirCmd(g *globals) *cobra.Command {
	rf := &redirFlags{}
	d := redir.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "redir",
		Short: "ReDiR namespaces: register, lookup, members",
		Long: `redir works on ReDiR namespaces, kept in the DHT with plain puts and gets:
members register an ID (text hashed with SHA-1, or hex with --raw-key) and a
payload such as an address; a lookup finds the member whose ID succeeds a key.
Every user of a namespace must give the same --branching, --levels and
--start-level.`,
	}
	pf := cmd.PersistentFlags()
	pf.IntVar(&rf.branching, "branching", d.Branching, "branching factor of the tree (a power of two)")
	pf.IntVar(&rf.levels, "levels", d.Levels, "levels of the tree")
	pf.IntVar(&rf.start, "start-level", d.StartLevel, "start level")
	cmd.AddCommand(redirRegisterCmd(g, rf), redirLookupCmd(g, rf), redirMembersCmd(g, rf))
	return cmd
}

func redirRegisterCmd(g *globals, rf *redirFlags) *cobra.Command {
	ttl := ttlFlag{d: 10 * time.Minute}
	cmd := &cobra.Command{
		Use:   "register NAMESPACE ID PAYLOAD",
		Short: "Register a member once; it stays listed for --ttl",
		Long: `register writes the member's records once; nothing refreshes them, so the
member is listed until --ttl passes (a program would refresh every ttl/3).
PAYLOAD "-" reads standard input.`,
		Example: `  dhtctl redir register printers laser-3 10.0.0.7:631
  dhtctl redir register --ttl 1h printers laser-4 10.0.0.8:631`,
		Args: exactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := g.key(args[1])
			if err != nil {
				return err
			}
			payload, err := g.value(args[2])
			if err != nil {
				return err
			}
			if len(payload) > redir.MaxPayload {
				return usageError{Err: fmt.Errorf("payload of %d bytes; at most %d", len(payload), redir.MaxPayload)}
			}
			return g.withRedir(cmd, rf, ttl.d, func(ctx context.Context, r *redir.Redir) error {
				_, w, err := r.Register(ctx, args[0], id, payload)
				if err != nil {
					return err
				}
				if g.jsonOut {
					return g.printJSON(map[string]any{"namespace": args[0], "id": id.String(), "levels": w.Levels, "gets": w.Gets, "puts": w.Puts, "ttl": int(ttl.d / time.Second)})
				}
				fmt.Fprintf(g.out, "registered %s in %s at levels %v (%d gets, %d puts), for %s\n", id, args[0], w.Levels, w.Gets, w.Puts, ttl.d)
				return nil
			})
		},
	}
	cmd.Flags().Var(&ttl, "ttl", "how long the records live, seconds or a duration (default 10m)")
	return cmd
}

func redirLookupCmd(g *globals, rf *redirFlags) *cobra.Command {
	var predecessor bool
	cmd := &cobra.Command{
		Use:   "lookup NAMESPACE KEY",
		Short: "Print the member whose ID succeeds KEY (or precedes it)",
		Long: `lookup prints the member of NAMESPACE whose ID is the first at or after KEY
on the circle (--predecessor: the last before it), its payload, and how many
gets the lookup took. A namespace with no members is a failed call (exit 1).`,
		Example: `  dhtctl redir lookup printers some-document
  dhtctl redir lookup --predecessor --json printers some-document`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := g.key(args[1])
			if err != nil {
				return err
			}
			return g.withRedir(cmd, rf, 0, func(ctx context.Context, r *redir.Redir) error {
				find := r.Lookup
				if predecessor {
					find = r.Predecessor
				}
				res, err := find(ctx, args[0], key)
				if err != nil {
					return err
				}
				if g.jsonOut {
					jm := newJSONMember(res.Record)
					jm.Gets, jm.Level = res.Gets, &res.Level
					return g.printJSON(jm)
				}
				fmt.Fprintf(g.out, "%s\t%s\tgets=%d level=%d\n", res.ID, showValue(res.Payload), res.Gets, res.Level)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&predecessor, "predecessor", false, "find the member before KEY instead")
	return cmd
}

func redirMembersCmd(g *globals, rf *redirFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "members NAMESPACE",
		Short: "List the members of NAMESPACE, in ID order",
		Long: `members reads the tree nodes of the start level, which list every member,
and prints one member a line: ID and payload.`,
		Example: `  dhtctl redir members printers`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withRedir(cmd, rf, 0, func(ctx context.Context, r *redir.Redir) error {
				ms, err := r.Members(ctx, args[0])
				if err != nil {
					return err
				}
				if g.jsonOut {
					out := make([]jsonMember, len(ms))
					for i, m := range ms {
						out[i] = newJSONMember(m)
					}
					return g.printJSON(out)
				}
				for _, m := range ms {
					fmt.Fprintf(g.out, "%s\t%s\n", m.ID, showValue(m.Payload))
				}
				return nil
			})
		},
	}
}
