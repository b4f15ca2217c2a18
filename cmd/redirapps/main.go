// Command redirapps runs three applications of ReDiR (impl/redir) against a
// running DHT, each in one process whose parts talk over real sockets and
// find each other only through ReDiR lookups in the DHT:
//
//	redirapps rendezvous   i3-style indirection: servers register in a
//	                       namespace, a receiver inserts a trigger (id -> its
//	                       UDP address) at the server responsible for id, a
//	                       sender sends packets to id; servers join and leave
//	redirapps multicast    MOOD: members join a group, a message is forwarded
//	                       down a tree read from the ReDiR hierarchy; delivery
//	                       ratio, tree depth and fan-out, with member churn
//	redirapps placelab     Place Lab routing: servers register, clients submit
//	                       samples keyed by location over TCP, each sample must
//	                       reach the one responsible server (checked by brute
//	                       force over the registered servers)
//
// Each ends with one summary line (app=... ok=true|false ...). The exit
// status is 0 when the run met its check, 1 when it did not or the DHT
// failed, 2 on bad usage.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/client"
	"github.com/opendht-go/opendht/impl/redir"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: redirapps rendezvous|multicast|placelab [flags]   (redirapps CMD -h for flags)`

// common are the flags every application has.
type common struct {
	gateways  string
	protocol  string
	namespace string
	ttl       time.Duration
	start     int
	duration  time.Duration
	churn     time.Duration
	seed      uint64
	verbose   bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.gateways, "gateway", "127.0.0.1:5851", "gateways host:port, comma-separated")
	fs.StringVar(&c.protocol, "protocol", "xmlrpc", "gateway protocol: xmlrpc, sunrpc or http")
	fs.StringVar(&c.namespace, "namespace", "", "ReDiR namespace (default: the application's name and a random suffix)")
	fs.DurationVar(&c.ttl, "ttl", 30*time.Second, "record TTL; members refresh every TTL/3")
	fs.IntVar(&c.start, "start-level", redir.DefaultConfig().StartLevel, "ReDiR start level: its nodes list every member, each about members/2^level records that every refresh reads")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long to run after warm-up")
	fs.DurationVar(&c.churn, "churn", 0, "replace one server or member this often (0: no churn)")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the run's random choices (0: random)")
	fs.BoolVar(&c.verbose, "v", false, "log events")
}

// env is what an application runs with: the DHT client, ReDiR's shape, a
// namespace, the run's timing, a seed and where to log.
type env struct {
	client   *client.Client
	cfg      redir.Config
	ns       string
	duration time.Duration // of the measured run, after warm-up
	churn    time.Duration // between two joins or departures; 0: none
	seed     uint64
	log      io.Writer
}

func (e env) logf(format string, args ...any) {
	if e.log != nil {
		fmt.Fprintf(e.log, format+"\n", args...)
	}
}

// redir returns a ReDiR client of its own, as each independent party of an
// application would have.
func (e env) redir() *redir.Redir {
	r, err := redir.New(redir.NewClientDHT(e.client), e.cfg, nil)
	if err != nil {
		panic(fmt.Sprintf("redirapps: config validated earlier: %v", err))
	}
	return r
}

func (c *common) env(app string, stderr io.Writer) (env, error) {
	p, err := client.ParseProtocol(c.protocol)
	if err != nil {
		return env{}, err
	}
	ccfg := client.DefaultConfig(strings.Split(c.gateways, ",")...)
	ccfg.Protocol = p
	ccfg.Application = "redirapps-" + app
	ccfg.Conns = 16
	if err := ccfg.Validate(); err != nil {
		return env{}, err
	}
	cl, err := client.New(ccfg)
	if err != nil {
		return env{}, err
	}
	cfg := redir.DefaultConfig()
	cfg.TTL = c.ttl
	cfg.StartLevel = c.start
	if err := cfg.Validate(); err != nil {
		return env{}, err
	}
	ns := c.namespace
	if ns == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		ns = app + "-" + hex.EncodeToString(b[:])
	}
	seed := c.seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		for _, x := range b {
			seed = seed<<8 | uint64(x)
		}
	}
	e := env{client: cl, cfg: cfg, ns: ns, duration: c.duration, churn: c.churn, seed: seed}
	if c.verbose {
		e.log = stderr
	}
	return e, nil
}

// summary is what every application returns: one line, and whether the run
// met its check.
type summary interface {
	Line() string
	OK() bool
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var c common
	fs := flag.NewFlagSet("redirapps "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	var start func(context.Context, env) (summary, error)
	switch args[0] {
	case "rendezvous":
		o := rendezvousOpts{}
		o.register(fs)
		start = func(ctx context.Context, e env) (summary, error) { return runRendezvous(ctx, e, o) }
	case "multicast":
		o := multicastOpts{}
		o.register(fs)
		start = func(ctx context.Context, e env) (summary, error) { return runMulticast(ctx, e, o) }
	case "placelab":
		o := placelabOpts{}
		o.register(fs)
		start = func(ctx context.Context, e env) (summary, error) { return runPlacelab(ctx, e, o) }
	default:
		fmt.Fprintf(stderr, "redirapps: unknown application %q\n%s\n", args[0], usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "redirapps: unexpected arguments %q\n", fs.Args())
		return 2
	}
	e, err := c.env(args[0], stderr)
	if err != nil {
		fmt.Fprintln(stderr, "redirapps:", err)
		return 2
	}
	defer e.client.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := start(ctx, e)
	if err != nil {
		fmt.Fprintln(stderr, "redirapps:", err)
		return 1
	}
	fmt.Fprintln(stdout, s.Line())
	if !s.OK() {
		return 1
	}
	return 0
}
