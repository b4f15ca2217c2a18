package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/testbed"
)

// netnsFlags are the flags of `opendht testbed --netns`.
type netnsFlags struct {
	name, subnet, rttFile, shaper, socket string
	nodeArgs                              string
	seed                                  uint64
	median, clientRTT                     time.Duration
	loss                                  float64
}

func (f *netnsFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.name, "name", "tb", "with --netns: the testbed's name (1-6 of a-z0-9); its namespaces are odtb-NAME-i")
	c.Flags().StringVar(&f.subnet, "subnet", "10.213.0.0/16", "with --netns: the testbed's network; the host is .1, node i is .10+i")
	c.Flags().Uint64Var(&f.seed, "seed", 1, "with --netns: seed of the generated RTT matrix and of packet loss")
	c.Flags().DurationVar(&f.median, "median-rtt", 140*time.Millisecond, "with --netns: median RTT of the generated matrix")
	c.Flags().StringVar(&f.rttFile, "rtt-file", "", "with --netns: read the RTT matrix (milliseconds, one row a line) instead of generating it")
	c.Flags().DurationVar(&f.clientRTT, "client-rtt", 0, "with --netns: RTT between this host and every gateway (0: a client next to its gateway)")
	c.Flags().Float64Var(&f.loss, "loss", 0, "with --netns: probability that a packet is lost, on every path")
	c.Flags().StringVar(&f.shaper, "shaper", "auto", "with --netns: netem (bridge, veths, tc netem per destination), tun (a user-space switch), or auto")
	c.Flags().StringVar(&f.nodeArgs, "node-args", "", "more flags for every node, space-separated (with or without --netns), e.g. \"--parallel-reads=false --proximity-routing=false\"")
	c.Flags().StringVar(&f.socket, "socket", "", "with --netns: control socket (default: "+filepath.Join(os.TempDir(), "opendht-testbed-NAME.sock")+")")
}

func socketPath(socket, name string) string {
	if socket != "" {
		return socket
	}
	return filepath.Join(os.TempDir(), "opendht-testbed-"+name+".sock")
}

// runNetns runs the wide-area testbed until ctx ends.
func runNetns(ctx context.Context, f *netnsFlags, n int, dataDir, rmwName, logLevel string) error {
	log, err := logger(logLevel, "text")
	if err != nil {
		return err
	}
	cfg := testbed.DefaultConfig(n)
	cfg.Name, cfg.Seed, cfg.ClientRTT, cfg.Loss, cfg.Shaper, cfg.Logger = f.name, f.seed, f.clientRTT, f.loss, f.shaper, log
	cfg.Dir = dataDir
	if cfg.Subnet, err = netip.ParsePrefix(f.subnet); err != nil {
		return fmt.Errorf("--subnet: %w", err)
	}
	cfg.NodeArgs = []string{"--rmw", rmwName}
	extra, err := checkNodeArgs(f.nodeArgs)
	if err != nil {
		return err
	}
	cfg.NodeArgs = append(cfg.NodeArgs, extra...)
	if f.rttFile != "" {
		r, err := os.Open(f.rttFile)
		if err != nil {
			return fmt.Errorf("--rtt-file: %w", err)
		}
		cfg.RTT, err = testbed.ParseMatrix(r)
		r.Close()
		if err != nil {
			return fmt.Errorf("--rtt-file %s: %w", f.rttFile, err)
		}
	} else if cfg.RTT, err = testbed.Generate(testbed.GenConfig{Nodes: n, Seed: f.seed, Median: f.median}); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	tb, err := testbed.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer tb.Close()
	sock := socketPath(f.socket, f.name)
	if err := tb.Serve(ctx, sock); err != nil {
		return err
	}
	for _, s := range tb.Status() {
		fmt.Printf("node %d  udp %s  xml-rpc/json http://%s/  namespace %s  pid %d\n", s.Node, s.Addr, s.Gateway, s.Namespace, s.PID)
	}
	fmt.Printf("%d nodes in network namespaces (shaper %s); this host is %s\nrtt %s\n", n, tb.Shaper(), tb.Host(), tb.RTT().Summary())
	fmt.Printf(`
Faults, from another terminal (opendht testbed ctl help lists them all):
  %[1]s testbed ctl --name %[2]s partition 0-%[3]d %[4]d-%[5]d
  %[1]s testbed ctl --name %[2]s heal
  %[1]s testbed ctl --name %[2]s kill 3      and later: restart 3
  %[1]s testbed ctl --name %[2]s slow 2 delay 200ms cpu 20
A client on this host reaches every gateway:
  bin/dhtctl --gateway %[6]s bench --duration 30s
Ctrl-C stops the nodes and removes the namespaces; after a crash: %[1]s testbed down
`, os.Args[0], f.name, n/2-1, n/2, n-1, strings.Join(tb.Gateways(), ","))
	<-ctx.Done()
	fmt.Println("stopping the nodes and removing the namespaces")
	return nil
}

// checkNodeArgs splits --node-args and parses them as `opendht node`
// would, so that a typo stops the testbed before it starts rather than
// every node.
func checkNodeArgs(s string) ([]string, error) {
	cfg := DefaultNodeConfig()
	return applyNodeArgs(&cfg, s)
}

// applyNodeArgs sets the knobs --node-args names in cfg (the testbed in
// one process runs its nodes with it) and returns the arguments split.
func applyNodeArgs(cfg *NodeConfig, s string) ([]string, error) {
	args := strings.Fields(s)
	fs := pflag.NewFlagSet("node-args", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs, cfg)
	if err := fs.Parse(args); err != nil {
		return nil, cli.UsageError{Err: fmt.Errorf("--node-args: %w", err)}
	}
	if fs.NArg() > 0 {
		return nil, cli.UsageError{Err: fmt.Errorf("--node-args: %q is not a flag", fs.Arg(0))}
	}
	for _, owned := range []string{"listen", "advertise", "bootstrap", "data", "rmw"} {
		if fs.Changed(owned) {
			return nil, cli.UsageError{Err: fmt.Errorf("--node-args: --%s is the testbed's to set", owned)}
		}
	}
	return args, nil
}

func testbedCtlCmd() *cobra.Command {
	var name, socket string
	c := &cobra.Command{
		Use:   "ctl COMMAND [ARGS...]",
		Short: "Send a command to a running netns testbed (ctl help lists them)",
		Long:  "Send one command to a running `opendht testbed --netns` over its control socket:\n\n" + testbed.Help,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := testbed.Ctl(socketPath(socket, name), strings.Join(args, " "))
			if out != "" {
				fmt.Println(out)
			}
			return err
		},
	}
	c.Flags().StringVar(&name, "name", "tb", "the testbed's name")
	c.Flags().StringVar(&socket, "socket", "", "its control socket (default: from --name)")
	return c
}

func testbedDownCmd() *cobra.Command {
	var name string
	var all bool
	c := &cobra.Command{
		Use:   "down",
		Short: "Remove what a netns testbed left behind (namespaces and their processes, links, cgroups)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := testbed.Check("tun"); err != nil && os.Geteuid() != 0 {
				return err
			}
			if all {
				name = ""
			}
			removed, err := testbed.Cleanup(name)
			for _, r := range removed {
				fmt.Println("removed", r)
			}
			if len(removed) == 0 && err == nil {
				fmt.Println("nothing to remove")
			}
			_ = os.Remove(socketPath("", name))
			return err
		},
	}
	c.Flags().StringVar(&name, "name", "tb", "the testbed's name")
	c.Flags().BoolVar(&all, "all", false, "every testbed's leftovers, whatever its name")
	return c
}

func testbedRTTCmd() *cobra.Command {
	var n, replicas, port int
	var seed uint64
	var median time.Duration
	var floor bool
	var subnet string
	c := &cobra.Command{
		Use:   "rtt",
		Short: "Print a generated RTT matrix (the format --rtt-file reads) and its distribution, or the floor of get latency on it",
		Long: `Print a generated RTT matrix (the format --rtt-file reads) and its distribution.

With --get-floor, print instead how fast a get could be on a testbed with this
matrix, with a client next to its gateway: for each read quorum R, the R-th
smallest round trip from the gateway to the members of the key's replica set
(zero for the gateway itself), over random keys and gateways. The ring's node
IDs come from the nodes' addresses, so give the testbed's --subnet.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := testbed.Generate(testbed.GenConfig{Nodes: n, Seed: seed, Median: median})
			if err != nil {
				return err
			}
			if !floor {
				return m.Format(os.Stdout)
			}
			p, err := netip.ParsePrefix(subnet)
			if err != nil {
				return cli.UsageError{Err: fmt.Errorf("--subnet: %w", err)}
			}
			if err := getFloor(os.Stdout, m, p, port, replicas, 20000, seed); err != nil {
				return cli.UsageError{Err: err}
			}
			return nil
		},
	}
	c.Flags().IntVarP(&n, "nodes", "n", 16, "number of nodes")
	c.Flags().Uint64Var(&seed, "seed", 1, "seed")
	c.Flags().DurationVar(&median, "median-rtt", 140*time.Millisecond, "median RTT over the pairs")
	c.Flags().BoolVar(&floor, "get-floor", false, "print the floor of get latency on this matrix instead of the matrix")
	c.Flags().StringVar(&subnet, "subnet", "10.213.0.0/16", "with --get-floor: the testbed's network (node IDs come from the addresses)")
	c.Flags().IntVar(&port, "port", 5850, "with --get-floor: the nodes' UDP port")
	c.Flags().IntVar(&replicas, "replicas", node.DefaultConfig().Replicas, "with --get-floor: replica set size")
	return c
}
