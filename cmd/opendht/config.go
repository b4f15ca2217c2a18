package main

import (
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/opendht-go/opendht/cmd/internal/cli"
	"github.com/opendht-go/opendht/impl/node"
	"github.com/opendht-go/opendht/impl/store"
)

// NodeConfig is the configuration of `opendht node`: every key of its
// TOML file (--config) is a field here, and every field is also a flag of
// the same name with '-' for '_'. A flag given on the command line
// overrides the file, which overrides the default. The table of
// cmd/opendht/OPERATIONS.md is generated from these tags and defaults
// (TestConfigDocMatchesTheStruct).
type NodeConfig struct {
	Listen     string   `toml:"listen" help:"UDP address the node listens on; :PORT or 0.0.0.0:PORT listens on every interface and needs advertise"`
	Advertise  string   `toml:"advertise" help:"ip:port other nodes reach this one at (needed when listen is a wildcard or behind NAT); empty: listen"`
	Bootstrap  []string `toml:"bootstrap" help:"ip:port of nodes to join through (comma-separated as a flag); empty starts a new ring"`
	Data       string   `toml:"data" help:"data directory of the node's store"`
	XMLRPC     string   `toml:"xmlrpc" help:"TCP address of the XML-RPC gateway, which also serves the HTTP/JSON API, the status page and /metrics; +N is the node's port + N; empty: none"`
	SunRPC     string   `toml:"sunrpc" help:"TCP address of the Sun RPC gateway; +N is the node's port + N; empty: none"`
	Accounts   string   `toml:"accounts" help:"accounts file (TOML) of this node's provider: API keys and quotas of the gateways' users (SPEC section 20); empty: open gateways"`
	StatusPage bool     `toml:"status_page" help:"serve the status page (GET /) and the Prometheus metrics (GET /metrics) on the XML-RPC gateway's port"`
	Pprof      string   `toml:"pprof" help:"serve Go's profiles (net/http/pprof) on this TCP address, e.g. 127.0.0.1:6060; empty: none"`
	LogLevel   string   `toml:"log_level" help:"debug, info, warn or error"`
	LogFormat  string   `toml:"log_format" help:"text or json"`

	Capacity          int64    `toml:"capacity" help:"storage capacity C in bytes, shared fairly among clients"`
	MaxTTL            int64    `toml:"max_ttl" help:"TTL clamp T in seconds (and the horizon of Fair Space-Time)"`
	QueueLimit        int      `toml:"queue_limit" help:"writes one client may have waiting for admission"`
	QueueTimeout      int64    `toml:"queue_timeout" help:"seconds a write may wait for admission before it is answered try again"`
	CacheSize         int64    `toml:"cache_size" help:"Pebble block cache in bytes"`
	MemTableSize      int64    `toml:"memtable_size" help:"Pebble memtable in bytes"`
	ReadCacheSize     int64    `toml:"read_cache_size" help:"read cache of recently read keys in bytes; 0 turns it off"`
	Replicas          int      `toml:"replicas" help:"replica set size, root included"`
	WriteAcks         int      `toml:"write_acks" help:"replica acknowledgements (besides the root) before a write succeeds"`
	ReadQuorum        int      `toml:"read_quorum" help:"replicas a get reads from, root included (at most replicas)"`
	ParallelReads     bool     `toml:"parallel_reads" help:"gets go to the first node that knows the key's replica set, which asks every replica at once; the gateway answers once the root and the fastest read_quorum have (false: the root asks read_quorum-1 others)"`
	FastReadAnswers   int      `toml:"fast_read_answers" help:"replicas whose answers a fast get waits for (spec RD-14; fast gets are a client's choice: ?read=fast, get_fast); 1 to replicas"`
	FastReadDirect    int      `toml:"fast_read_direct" help:"nodes nearest the key that a gateway not knowing a key's replica set also sends a fast get to directly; a member among them answers without the route (spec RD-14); 0 to 16, 0 none"`
	RMW               string   `toml:"rmw" help:"read-modify-write protocol of the registers; every node of a ring must run the same"`
	RequestTimeout    Duration `toml:"request_timeout" help:"how long a gateway waits for the root before it routes a request again"`
	Attempts          int      `toml:"attempts" help:"how many times a gateway routes a request before it answers try again"`
	ReplicaTimeout    Duration `toml:"replica_timeout" help:"how long a root waits for replica acknowledgements"`
	ReadWait          Duration `toml:"read_wait" help:"how long a gateway waits for more replicas after the root answered a get"`
	AntiEntropyPeriod Duration `toml:"anti_entropy_period" help:"mean period of anti-entropy rounds with a neighbour"`
	MemberHold        Duration `toml:"member_hold" help:"how long a peer that left the leaf set stays in the registers' membership"`
	ProximityRouting  bool     `toml:"proximity_routing" help:"delay-aware routing: the next hop is the peer closer to the key with the least expected delay to it (false: the routing-table entry of the key's next digit)"`
	LeafSetSize       int      `toml:"leaf_set_size" help:"leaves on each side of the node"`
	LeafSetPeriod     Duration `toml:"leaf_set_period" help:"mean period of leaf-set exchange"`
	NearPeriod        Duration `toml:"near_period" help:"mean period of near routing-table tuning"`
	FarPeriod         Duration `toml:"far_period" help:"mean period of far routing-table tuning"`
	PingPeriod        Duration `toml:"ping_period" help:"mean period of liveness probes of routing-table entries"`
	InitialRTO        Duration `toml:"initial_rto" help:"retransmission timeout toward a peer without RTT samples"`
	MinRTO            Duration `toml:"min_rto" help:"least retransmission timeout toward a measured peer (a busy peer answers late, not never)"`
	MaxRTO            Duration `toml:"max_rto" help:"cap of the retransmission timeout with backoff"`
	DeadAfter         int      `toml:"dead_after" help:"consecutive timeouts after which a peer is declared dead"`
	JoinRetry         Duration `toml:"join_retry" help:"wait for the answer to a join before the next one (doubles while unanswered)"`
	JoinRetryMax      Duration `toml:"join_retry_max" help:"cap of the wait between joins"`
	DigitBits         int      `toml:"digit_bits" help:"b: routing-table digits are base 2^b (1, 2, 4 or 8)"`
	RouteTries        int      `toml:"route_tries" help:"next hops a routed message tries before it is dropped (the origin retries end to end; at most 100)"`
	LookupTimeout     Duration `toml:"lookup_timeout" help:"how long the origin of a lookup waits for its answer before it sends the lookup again"`
	LookupTries       int      `toml:"lookup_tries" help:"how many times the origin sends a lookup before it gives up (at most 100)"`
	RevivePeriod      Duration `toml:"revive_period" help:"mean period of probing one peer declared dead (how the halves of a healed partition find each other)"`
	PeersPerHost      int      `toml:"peers_per_host" help:"peers with one IP address that each side of the leaf set, and the routing table, may hold (1 to 256; loopback is exempt)"`
	MaxChallenges     int      `toml:"max_challenges" help:"address challenges (pings that check a stranger's claimed address) outstanding at once (at most 65536)"`
	HostChallenges    int      `toml:"host_challenges" help:"address challenges outstanding to one IP address (at most max_challenges)"`
	StrangerRate      float64  `toml:"stranger_rate" help:"datagrams per second taken from one IP address while no ID is bound to it (at most 1e6; loopback is exempt)"`
	StrangerBurst     int      `toml:"stranger_burst" help:"datagrams taken at once from such an address (at most 1048576)"`
	ShutdownTimeout   Duration `toml:"shutdown_timeout" help:"on SIGTERM or SIGINT, how long calls in progress may take to finish before the node stops"`
}

// Duration is a time.Duration written as "5s", "1m30s" in the file and
// the flags.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText reads a duration from the TOML file.
func (d *Duration) UnmarshalText(b []byte) error { return d.Set(string(b)) }

// MarshalText writes it back (--print-config).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Set parses a flag value.
func (d *Duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration like 5s or 1m: %q", s)
	}
	if v <= 0 {
		return fmt.Errorf("want a positive duration, got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Type names the flag's kind in --help.
func (d *Duration) Type() string { return "duration" }

// DefaultNodeConfig is every knob's default: the defaults of the node,
// overlay and store packages (each says why there), and these for the
// binary.
func DefaultNodeConfig() NodeConfig {
	nc, sc := node.DefaultConfig(), store.DefaultConfig("./data/node0")
	oc := nc.Overlay
	return NodeConfig{
		Listen: "127.0.0.1:5850", Data: sc.Dir,
		// By convention the gateways are on the node's port + 1 and + 2.
		XMLRPC: "+1", SunRPC: "+2",
		StatusPage: true, LogLevel: "info", LogFormat: "text",
		Capacity: sc.Capacity, MaxTTL: sc.MaxTTL, QueueLimit: sc.QueueLimit, QueueTimeout: sc.QueueTimeout,
		CacheSize: sc.CacheSize, MemTableSize: sc.MemTableSize, ReadCacheSize: sc.ReadCacheSize,
		Replicas: nc.Replicas, WriteAcks: nc.WriteAcks, ReadQuorum: nc.ReadQuorum, ParallelReads: nc.ParallelReads, FastReadAnswers: nc.FastReadAnswers, FastReadDirect: nc.FastReadDirect, RMW: nc.RMW,
		RequestTimeout: Duration(nc.RequestTimeout), Attempts: nc.Attempts, ReplicaTimeout: Duration(nc.ReplicaTimeout),
		ReadWait: Duration(nc.ReadWait), AntiEntropyPeriod: Duration(nc.AntiEntropyPeriod), MemberHold: Duration(nc.MemberHold),
		ProximityRouting: oc.ProximityRouting, LeafSetSize: oc.LeafSetSize, LeafSetPeriod: Duration(oc.LeafSetPeriod), NearPeriod: Duration(oc.NearPeriod),
		FarPeriod: Duration(oc.FarPeriod), PingPeriod: Duration(oc.PingPeriod), InitialRTO: Duration(oc.InitialRTO),
		MinRTO: Duration(oc.MinRTO), MaxRTO: Duration(oc.MaxRTO), DeadAfter: oc.DeadAfter, JoinRetry: Duration(oc.JoinRetry), JoinRetryMax: Duration(oc.JoinRetryMax),
		DigitBits: oc.DigitBits, RouteTries: oc.RouteTries, LookupTimeout: Duration(oc.LookupTimeout), LookupTries: oc.LookupTries,
		RevivePeriod: Duration(oc.RevivePeriod), PeersPerHost: oc.PeersPerHost, MaxChallenges: oc.MaxChallenges,
		HostChallenges: oc.HostChallenges, StrangerRate: oc.StrangerRate, StrangerBurst: oc.StrangerBurst,
		// Longer than a call's own timeout (15 s), so that calls in
		// progress end with their answer, not with the node.
		ShutdownTimeout: Duration(20 * time.Second),
	}
}

// knob is one field of NodeConfig: its TOML key, flag name and help.
type knob struct {
	Key, Flag, Help string
	index           int
}

func knobs() []knob {
	t := reflect.TypeFor[NodeConfig]()
	out := make([]knob, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		out = append(out, knob{Key: key, Flag: strings.ReplaceAll(key, "_", "-"), Help: f.Tag.Get("help"), index: i})
	}
	return out
}

// register adds a flag for every knob, bound to the fields of into
// (which holds the defaults).
func register(fs *pflag.FlagSet, into *NodeConfig) {
	v := reflect.ValueOf(into).Elem()
	for _, k := range knobs() {
		switch p := v.Field(k.index).Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, k.Flag, *p, k.Help)
		case *bool:
			fs.BoolVar(p, k.Flag, *p, k.Help)
		case *int:
			fs.IntVar(p, k.Flag, *p, k.Help)
		case *int64:
			fs.Int64Var(p, k.Flag, *p, k.Help)
		case *float64:
			fs.Float64Var(p, k.Flag, *p, k.Help)
		case *[]string:
			fs.StringSliceVar(p, k.Flag, *p, k.Help)
		case *Duration:
			fs.Var(p, k.Flag, k.Help)
		default:
			panic(fmt.Sprintf("opendht: config field %s has a type the flags do not handle", k.Key))
		}
	}
}

// defaultText is how a knob's default is written in the docs.
func defaultText(k knob, def NodeConfig) string {
	f := reflect.ValueOf(def).Field(k.index)
	switch x := f.Interface().(type) {
	case string:
		return strconv.Quote(x)
	case []string:
		return "[]"
	case Duration:
		return strconv.Quote(x.String())
	}
	return fmt.Sprint(f.Interface())
}

// loadConfig builds the configuration: the defaults, then the file (if
// path is not empty; an unknown key is an error), then the flags of fs
// that were given, whose values are in fromFlags.
func loadConfig(path string, fs *pflag.FlagSet, fromFlags NodeConfig) (NodeConfig, error) {
	cfg := DefaultNodeConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, cli.Usagef("--config: %w", err)
		}
		md, err := toml.Decode(string(b), &cfg)
		if err != nil {
			return cfg, cli.Usagef("--config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return cfg, cli.Usagef("--config %s: unknown key %q (the keys are in cmd/opendht/OPERATIONS.md, or: opendht node --print-config)", path, und[0].String())
		}
	}
	dst, src := reflect.ValueOf(&cfg).Elem(), reflect.ValueOf(fromFlags)
	for _, k := range knobs() {
		if f := fs.Lookup(k.Flag); f != nil && f.Changed {
			dst.Field(k.index).Set(src.Field(k.index))
		}
	}
	return cfg, nil
}

// printConfig writes cfg as a TOML file with each knob's help above it.
func printConfig(cfg NodeConfig) string {
	var b strings.Builder
	b.WriteString("# opendht node configuration (opendht node --config FILE); flags override it.\n")
	v := reflect.ValueOf(cfg)
	for _, k := range knobs() {
		fmt.Fprintf(&b, "\n# %s\n", k.Help)
		var one strings.Builder
		if err := toml.NewEncoder(&one).Encode(map[string]any{k.Key: v.Field(k.index).Interface()}); err != nil {
			panic(err)
		}
		b.WriteString(one.String())
	}
	return b.String()
}

// parseListen reads the listen address: ip:port, or :port for every
// interface.
func parseListen(s string) (netip.AddrPort, error) {
	if strings.HasPrefix(s, ":") {
		s = "0.0.0.0" + s
	}
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, cli.Usagef("--listen %q: want ip:port or :port", s)
	}
	return a, nil
}

// resolve checks the addresses of cfg and returns the listen address and
// the advertised one; a wildcard listen address needs --advertise.
func (cfg NodeConfig) resolve() (listen, advertise netip.AddrPort, err error) {
	listen, err = parseListen(cfg.Listen)
	if err != nil {
		return
	}
	if cfg.Advertise == "" {
		if listen.Addr().IsUnspecified() {
			return listen, advertise, cli.Usagef("--listen %s listens on every interface, so other nodes need to be told where to reach this one: add --advertise IP:%d with this host's address (e.g. --advertise 192.0.2.7:%d)", cfg.Listen, listen.Port(), listen.Port())
		}
		return listen, listen, nil
	}
	advertise, err = netip.ParseAddrPort(cfg.Advertise)
	switch {
	case err != nil:
		return listen, advertise, cli.Usagef("--advertise %q: want ip:port", cfg.Advertise)
	case advertise.Addr().IsUnspecified():
		return listen, advertise, cli.Usagef("--advertise %s: give the address other nodes reach this one at, not a wildcard", cfg.Advertise)
	}
	return listen, advertise, nil
}
