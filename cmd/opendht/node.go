package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/testbed"
)

type nodeFlags struct {
	listen, advertise, bootstrap, data, logLevel string
	xmlrpc, sunrpc                               string
	capacity                                     int64
	replicas, writeAcks                          int
	rmw                                          string
}

func (f *nodeFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.listen, "listen", "127.0.0.1:5850", "UDP address to listen on")
	c.Flags().StringVar(&f.advertise, "advertise", "", "address other nodes reach this one at (default: --listen)")
	c.Flags().StringVar(&f.bootstrap, "bootstrap", "", "comma-separated ip:port of nodes to join through (empty: start a new ring)")
	c.Flags().StringVar(&f.data, "data", "./data/node0", "data directory of the node's store")
	c.Flags().Int64Var(&f.capacity, "capacity", 1<<30, "storage capacity C in bytes")
	c.Flags().IntVar(&f.replicas, "replicas", 4, "replica set size, root included")
	c.Flags().IntVar(&f.writeAcks, "write-acks", 2, "replica acknowledgements before a write succeeds")
	c.Flags().StringVar(&f.rmw, "rmw", rmw.Default, "read-modify-write protocol of the registers (cas, read): "+strings.Join(rmw.Names(), ", ")+"; every node of a ring must run the same")
	c.Flags().StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	c.Flags().StringVar(&f.xmlrpc, "xmlrpc", "+1", "TCP address of the XML-RPC gateway, which also serves the HTTP/JSON API under /api/; +N means the node's port + N; empty: none")
	c.Flags().StringVar(&f.sunrpc, "sunrpc", "+2", "TCP address of the Sun RPC gateway; +N means the node's port + N; empty: none")
}

// gatewayAddr resolves "+N" against the node's listen address.
func gatewayAddr(spec, listen string) (string, error) {
	if !strings.HasPrefix(spec, "+") {
		return spec, nil
	}
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return "", fmt.Errorf("gateway %q relative to --listen %q: %w", spec, listen, err)
	}
	var off int
	if _, err := fmt.Sscanf(spec, "+%d", &off); err != nil || off < 1 || int(ap.Port())+off > 65535 {
		return "", fmt.Errorf("gateway %q: want +N with a port that fits", spec)
	}
	return netip.AddrPortFrom(ap.Addr(), ap.Port()+uint16(off)).String(), nil
}

func logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func parseBootstrap(s string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		a, err := netip.ParseAddrPort(part)
		if err != nil {
			return nil, fmt.Errorf("--bootstrap %q: %w", part, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (f *nodeFlags) config(log *slog.Logger) (driver.ServerConfig, error) {
	boot, err := parseBootstrap(f.bootstrap)
	if err != nil {
		return driver.ServerConfig{}, err
	}
	nc := node.DefaultConfig()
	nc.Replicas, nc.WriteAcks, nc.RMW = f.replicas, f.writeAcks, f.rmw
	nc.ReadQuorum = min(nc.ReadQuorum, f.replicas)
	sc := store.DefaultConfig(f.data)
	sc.Capacity = f.capacity
	if err := sc.Validate(); err != nil {
		return driver.ServerConfig{}, err
	}
	xa, err := gatewayAddr(f.xmlrpc, f.listen)
	if err != nil {
		return driver.ServerConfig{}, err
	}
	sa, err := gatewayAddr(f.sunrpc, f.listen)
	if err != nil {
		return driver.ServerConfig{}, err
	}
	return driver.ServerConfig{Node: nc, Listen: f.listen, Advertise: f.advertise, Bootstrap: boot, Store: sc, Logger: log, XMLRPC: xa, SunRPC: sa}, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func nodeCmd() *cobra.Command {
	f := &nodeFlags{}
	c := &cobra.Command{
		Use:   "node",
		Short: "Run one DHT node until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := logger(f.logLevel)
			if err != nil {
				return err
			}
			cfg, err := f.config(log)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			s, err := driver.Start(ctx, cfg)
			if err != nil {
				return err
			}
			<-ctx.Done()
			log.Info("shutting down")
			return s.Close()
		},
	}
	f.register(c)
	return c
}

func testbedCmd() *cobra.Command {
	var n, basePort int
	var dataDir, host, logLevel, pprofAddr, rmwName string
	var capacity int64
	var netns bool
	nf := &netnsFlags{}
	c := &cobra.Command{
		Use:   "testbed",
		Short: "Run N nodes on this machine (node i on UDP port base+10*i), or N node processes in network namespaces with wide-area delays (--netns), until interrupted",
		Long: `Without --netns: N nodes in this process on loopback, node i on UDP port
base+10*i, its XML-RPC/JSON gateway on +1 and Sun RPC on +2.

With --netns: N processes of "opendht node", each in a network namespace of
its own (odtb-NAME-i, address .10+i of --subnet), with the round-trip times of
an RTT matrix between them (generated, PlanetLab-like, median --median-rtt,
or --rtt-file), packet loss, and faults applied from outside while it runs
("opendht testbed ctl"). Needs root and iproute2; delays come from tc netem
when the kernel has it, else from a user-space switch over TUN devices
(--shaper). "opendht testbed down" removes what a crashed testbed left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if netns {
				if n < 2 || n > testbed.MaxNodes {
					return fmt.Errorf("-n must be in [2, %d] with --netns, got %d", testbed.MaxNodes, n)
				}
				if !cmd.Flags().Changed("data") {
					dataDir = "./data/netns"
				}
				ctx, stop := signalContext()
				defer stop()
				return runNetns(ctx, nf, n, dataDir, rmwName, logLevel)
			}
			if n < 1 || n > 1000 {
				return fmt.Errorf("-n must be in [1, 1000], got %d", n)
			}
			if basePort < 1 || basePort+10*(n-1)+2 > 65535 {
				return fmt.Errorf("--base-port %d leaves no room for %d nodes", basePort, n)
			}
			log, err := logger(logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			if err := servePprof(ctx, pprofAddr); err != nil {
				return err
			}
			var servers []*driver.Server
			defer func() {
				for _, s := range servers {
					_ = s.Close()
				}
			}()
			var boot string
			for i := range n {
				addr := fmt.Sprintf("%s:%d", host, basePort+10*i)
				f := &nodeFlags{listen: addr, bootstrap: boot, data: filepath.Join(dataDir, fmt.Sprintf("node%d", i)), capacity: capacity, replicas: 4, writeAcks: 2, rmw: rmwName, xmlrpc: "+1", sunrpc: "+2"}
				cfg, err := f.config(log.With("node", i))
				if err != nil {
					return err
				}
				s, err := driver.Start(ctx, cfg)
				if err != nil {
					return fmt.Errorf("node %d: %w", i, err)
				}
				servers = append(servers, s)
				if i == 0 {
					boot = addr
				}
				id := s.Self().ID
				fmt.Printf("node %d  udp %s  xml-rpc http://%s/  json http://%[3]s/api/v1/  sun-rpc tcp %s  id %x\n", i, addr, cfg.XMLRPC, cfg.SunRPC, id[:8])
			}
			fmt.Printf("%d nodes running; Ctrl-C stops them\n\n", n)
			gws := make([]string, len(servers))
			for i, s := range servers {
				gws[i] = s.XMLRPCAddr()
			}
			fmt.Printf(`Try a client. Keys are SHA-1 of text, as in the original user guide.
  dhtctl (go build -o bin/dhtctl ./cmd/dhtctl; make run builds it):
    bin/dhtctl put hello world
    bin/dhtctl get --details hello
    bin/dhtctl --gateway %[2]s ping
    bin/dhtctl --gateway %[2]s bench --duration 10s
  Python's standard library, the original XML-RPC API:
    python3 -c 'import xmlrpc.client as x, hashlib as h; s=x.ServerProxy("http://%[1]s/"); k=x.Binary(h.sha1(b"hello").digest()); print(s.put(k, x.Binary(b"world"), 3600, "demo")); print(s.get(k, 10, x.Binary(b""), "demo"))'
  curl, the HTTP/JSON API (the key is hex: printf %%s hello | sha1sum):
    curl -s -X POST http://%[1]s/api/v1/keys/aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d -d '{"value":"d29ybGQ=","ttl":3600}'
    curl -s http://%[1]s/api/v1/keys/aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d
    curl -s http://%[1]s/api/v1/status
  curl, XML-RPC:
    curl -s http://%[1]s/ -d '<methodCall><methodName>get</methodName><params><param><value><base64>qvTGHdzF6KLavt4PO0gs2a6pQ00=</base64></value></param><param><value><int>10</int></value></param><param><value><base64></base64></value></param><param><value>curl</value></param></params></methodCall>'
`, servers[0].XMLRPCAddr(), strings.Join(gws, ","))
			<-ctx.Done()
			return nil
		},
	}
	c.Flags().IntVarP(&n, "nodes", "n", 8, "number of nodes")
	c.Flags().IntVar(&basePort, "base-port", 5850, "UDP port of node 0; node i uses base+10*i")
	c.Flags().StringVar(&host, "host", "127.0.0.1", "address to bind")
	c.Flags().StringVar(&dataDir, "data", "./data/testbed", "directory holding one data directory per node")
	c.Flags().Int64Var(&capacity, "capacity", 1<<30, "storage capacity of each node in bytes")
	c.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	c.Flags().StringVar(&rmwName, "rmw", rmw.Default, "read-modify-write protocol of the registers: "+strings.Join(rmw.Names(), ", "))
	c.Flags().StringVar(&pprofAddr, "pprof", "", "serve Go's profiles (net/http/pprof) on this TCP address, e.g. 127.0.0.1:6060")
	c.Flags().BoolVar(&netns, "netns", false, "run each node as a process in its own network namespace, with wide-area delays and faults (root)")
	nf.register(c)
	c.AddCommand(testbedCtlCmd(), testbedDownCmd(), testbedRTTCmd())
	return c
}

// servePprof serves the runtime profiles on addr until ctx ends; "" serves
// nothing.
func servePprof(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	return nil
}
