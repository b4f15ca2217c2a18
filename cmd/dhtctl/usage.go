package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/client"
)

// usageCmd prints a gateway's usage report (spec section 20, AC-8).
func usageCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "usage",
		Short: "the usage report of your account (or, with the provider's admin key, of every account) at a gateway that charges",
		Long: `usage asks a gateway with accounts for its usage report (GET /api/v1/usage):
with an account's key (--api-key or $OPENDHT_API_KEY) that account's row, with
the provider's admin key every account of the provider. A row holds the quota
(bytes at any one node), the gateway's ledger of the account's writes (answered
ok, over quota, failed; bytes and byte-seconds of those answered ok) and what
the gateway's node stores for the account.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, nil, func(ctx context.Context, c *client.Client) error {
				rep, err := c.Usage(ctx)
				if err != nil {
					return err
				}
				if g.jsonOut {
					return g.printJSON(rep)
				}
				tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "provider %s\n", rep.Provider)
				fmt.Fprintln(tw, "account\tquota\tstored\titems\tok\tover_quota\tfailed\tbytes\tbyte_seconds")
				for _, a := range rep.Accounts {
					l := a.Ledger
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", a.Account, a.QuotaBytes, a.StoredBytes, a.StoredItems,
						l.OK, l.OverQuota, l.Failed, l.Bytes, l.ByteSeconds)
				}
				return tw.Flush()
			})
		},
	}
}
