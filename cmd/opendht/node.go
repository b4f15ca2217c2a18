package main

import (
	"context"
	"errors"
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

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/buildinfo"
	"github.com/opendht-go/opendht/impl/driver"
	"github.com/opendht-go/opendht/impl/gateway/accounts"
	"github.com/opendht-go/opendht/impl/metrics"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/rmw"
	"github.com/opendht-go/opendht/impl/store"
	"github.com/opendht-go/opendht/impl/testbed"
)

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

// logger returns the node's logger: structured lines on stderr, text or
// JSON.
func logger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, cli.Usagef("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, cli.Usagef("--log-format must be text or json, got %q", format)
}

func parseBootstrap(addrs []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, part := range addrs {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		a, err := netip.ParseAddrPort(part)
		if err != nil {
			return nil, cli.Usagef("--bootstrap %q: want ip:port", part)
		}
		out = append(out, a)
	}
	return out, nil
}

// serverConfig turns the node's configuration into the driver's; every
// error is the user's (a usage error).
func (cfg NodeConfig) serverConfig(log *slog.Logger) (driver.ServerConfig, error) {
	listen, advertise, err := cfg.resolve()
	if err != nil {
		return driver.ServerConfig{}, err
	}
	boot, err := parseBootstrap(cfg.Bootstrap)
	if err != nil {
		return driver.ServerConfig{}, err
	}
	nc := node.DefaultConfig()
	nc.Replicas, nc.WriteAcks, nc.ReadQuorum, nc.RMW = cfg.Replicas, cfg.WriteAcks, min(cfg.ReadQuorum, cfg.Replicas), cfg.RMW
	nc.RequestTimeout, nc.Attempts, nc.ReplicaTimeout = time.Duration(cfg.RequestTimeout), cfg.Attempts, time.Duration(cfg.ReplicaTimeout)
	nc.ReadWait, nc.AntiEntropyPeriod, nc.MemberHold = time.Duration(cfg.ReadWait), time.Duration(cfg.AntiEntropyPeriod), time.Duration(cfg.MemberHold)
	nc.ParallelReads, nc.FastReadAnswers, nc.FastReadDirect = cfg.ParallelReads, cfg.FastReadAnswers, cfg.FastReadDirect
	oc := &nc.Overlay
	oc.ProximityRouting = cfg.ProximityRouting
	oc.LeafSetSize, oc.LeafSetPeriod, oc.NearPeriod = cfg.LeafSetSize, time.Duration(cfg.LeafSetPeriod), time.Duration(cfg.NearPeriod)
	oc.FarPeriod, oc.PingPeriod, oc.InitialRTO = time.Duration(cfg.FarPeriod), time.Duration(cfg.PingPeriod), time.Duration(cfg.InitialRTO)
	oc.MinRTO = time.Duration(cfg.MinRTO)
	oc.MaxRTO, oc.DeadAfter = time.Duration(cfg.MaxRTO), cfg.DeadAfter
	oc.JoinRetry, oc.JoinRetryMax = time.Duration(cfg.JoinRetry), time.Duration(cfg.JoinRetryMax)
	oc.DigitBits, oc.RouteTries, oc.LookupTimeout, oc.LookupTries = cfg.DigitBits, cfg.RouteTries, time.Duration(cfg.LookupTimeout), cfg.LookupTries
	oc.RevivePeriod, oc.PeersPerHost = time.Duration(cfg.RevivePeriod), cfg.PeersPerHost
	oc.MaxChallenges, oc.HostChallenges, oc.StrangerRate, oc.StrangerBurst = cfg.MaxChallenges, cfg.HostChallenges, cfg.StrangerRate, cfg.StrangerBurst
	if err := nc.Validate(); err != nil {
		return driver.ServerConfig{}, cli.UsageError{Err: err}
	}
	sc := store.DefaultConfig(cfg.Data)
	sc.Capacity, sc.MaxTTL, sc.QueueLimit, sc.QueueTimeout = cfg.Capacity, cfg.MaxTTL, cfg.QueueLimit, cfg.QueueTimeout
	sc.CacheSize, sc.MemTableSize, sc.ReadCacheSize = cfg.CacheSize, cfg.MemTableSize, cfg.ReadCacheSize
	if err := sc.Validate(); err != nil {
		return driver.ServerConfig{}, cli.UsageError{Err: err}
	}
	xa, err := gatewayAddr(cfg.XMLRPC, listen.String())
	if err != nil {
		return driver.ServerConfig{}, cli.UsageError{Err: fmt.Errorf("--xmlrpc: %w", err)}
	}
	sa, err := gatewayAddr(cfg.SunRPC, listen.String())
	if err != nil {
		return driver.ServerConfig{}, cli.UsageError{Err: fmt.Errorf("--sunrpc: %w", err)}
	}
	var acc *accounts.Set
	if cfg.Accounts != "" {
		if acc, err = accounts.Load(cfg.Accounts); err != nil {
			return driver.ServerConfig{}, cli.UsageError{Err: fmt.Errorf("--accounts: %w", err)}
		}
	}
	return driver.ServerConfig{Node: nc, Listen: listen.String(), Advertise: advertise.String(), Bootstrap: boot, Store: sc,
		Logger: log, XMLRPC: xa, SunRPC: sa, Metrics: metrics.New(), StatusPage: cfg.StatusPage, Accounts: acc}, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func nodeCmd() *cobra.Command {
	fromFlags := DefaultNodeConfig()
	var configPath string
	var print bool
	c := &cobra.Command{
		Use:   "node",
		Short: "Run one DHT node until SIGINT or SIGTERM",
		Long: `Run one DHT node: the overlay on UDP, its store, and its gateways (XML-RPC
with the HTTP/JSON API, the status page and /metrics on port + 1, Sun RPC on
port + 2). Settings come from the defaults, then --config FILE (TOML), then
the flags given. --print-config prints the result as a config file.
Every setting is in cmd/opendht/OPERATIONS.md with its default.

On SIGTERM or SIGINT the node drains its gateways (calls in progress finish,
up to --shutdown-timeout), stops, and closes its store.`,
		Example: `  opendht node --listen 127.0.0.1:6850 --bootstrap 127.0.0.1:5850 --data ./data/extra
  opendht node --listen :5850 --advertise 192.0.2.7:5850 --bootstrap 192.0.2.1:5850
  opendht node --config /etc/opendht/node.toml --log-level debug
  opendht node --print-config > node.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(configPath, cmd.Flags(), fromFlags)
			if err != nil {
				return err
			}
			if print {
				fmt.Fprint(cmd.OutOrStdout(), printConfig(cfg))
				return nil
			}
			log, err := logger(cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			scfg, err := cfg.serverConfig(log)
			if err != nil {
				return err
			}
			return runNode(cmd.Context(), cfg, scfg, log)
		},
	}
	register(c.Flags(), &fromFlags)
	c.Flags().StringVar(&configPath, "config", "", "TOML file of settings (keys as the flags, with _ for -); flags given override it")
	c.Flags().BoolVar(&print, "print-config", false, "print the settings as a config file and exit")
	return c
}

// runNode runs the node until a signal, then shuts it down gracefully.
func runNode(ctx context.Context, cfg NodeConfig, scfg driver.ServerConfig, log *slog.Logger) error {
	sig, stop := signalContext()
	defer stop()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := servePprof(sig, cfg.Pprof, log); err != nil {
		return err
	}
	log.Info("starting", "version", buildinfo.Get().String(), "data", scfg.Store.Dir, "bootstrap", cfg.Bootstrap)
	// The node runs until Shutdown, not until the signal: the gateways
	// drain first.
	s, err := driver.Start(context.WithoutCancel(ctx), scfg)
	if err != nil {
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("%w\n(stop the other node, or give this one its own --data)", err)
		}
		return err
	}
	<-sig.Done()
	log.Info("shutting down: draining the gateways", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
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
				return cli.Usagef("-n must be in [1, 1000], got %d", n)
			}
			if basePort < 1 || basePort+10*(n-1)+2 > 65535 {
				return cli.Usagef("--base-port %d leaves no room for %d nodes", basePort, n)
			}
			log, err := logger(logLevel, "text")
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			if err := servePprof(ctx, pprofAddr, log); err != nil {
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
				nc := DefaultNodeConfig()
				if _, err := applyNodeArgs(&nc, nf.nodeArgs); err != nil {
					return err
				}
				nc.Listen, nc.Data, nc.Capacity, nc.RMW = addr, filepath.Join(dataDir, fmt.Sprintf("node%d", i)), capacity, rmwName
				if boot != "" {
					nc.Bootstrap = []string{boot}
				}
				cfg, err := nc.serverConfig(log.With("node", i))
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
				fmt.Printf("node %d  udp %s  status page and xml-rpc http://%s/  json http://%[3]s/api/v1/  sun-rpc tcp %s  id %x\n", i, addr, cfg.XMLRPC, cfg.SunRPC, id[:8])
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

// servePprof serves the runtime profiles on addr, a listener of their
// own, until ctx ends; "" serves nothing.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return cli.Usagef("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	log.Info("listening", "what", "pprof", "tcp", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}
