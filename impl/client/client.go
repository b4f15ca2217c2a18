// Package client is the Go client of the OpenDHT gateways: put, put with a
// secret, get (one page, or every value through an iterator that follows
// placemarks), get_details and rm, over any of the three gateway
// protocols: the original XML-RPC (node port + 1) and Sun RPC (node port +
// 2) interfaces, or the HTTP/JSON API (node port + 1, under /api/v1/).
// With XMLRPC or SunRPC it talks to any gateway that speaks the original
// OpenDHT client API, not only this project's. It also does compare-and-set
// and reads on this project's versioned registers (spec/SPEC.md section
// 11) over XMLRPC and HTTP.
//
// Calls are context-aware. A call that ends with status 2 ("try again":
// the write waited too long in a storage node's queue) is retried with
// exponential backoff and jitter; a gateway that does not answer is marked
// down for a while and the call fails over to the next one. Retrying is
// safe because every operation is idempotent: a put of the same value
// under the same key and secret is the same item (PUT-4), a remove of the
// same item the same tombstone, and gets do not change anything. Status 1
// (over capacity) and rejected arguments are returned at once: retrying
// them cannot succeed.
//
// A cas is not idempotent: repeated after it took effect, it fails (the
// version moved) or, worse, succeeds again on a later version. So CAS
// retries nothing. It moves on to the next gateway only when the request
// surely never left the client (the connection could not be made), and
// returns every other failure at once. When the request was sent but no
// answer came back (a timeout, a lost connection, a gateway reporting an
// unknown outcome) it returns ErrUnknownOutcome: the cas may or may not
// have taken effect, and the caller must Read the register before it
// decides what to do. Read is retried and fails over like a get.
//
// A get reads from a read quorum of the key's replicas and returns every
// value whose put was acknowledged before it (spec/SPEC.md RD-7). The
// FastRead option asks instead for a fast read (RD-14): the values of the
// first replicas to answer, sooner, which may miss a value just put or
// return one just removed, over XMLRPC (get_details_fast) and HTTP
// (?read=fast); Sun RPC has no fast read.
package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/largevalue"
)

// Protocol names a gateway protocol.
type Protocol string

// The gateway protocols.
const (
	// XMLRPC is the original XML-RPC interface (node port + 1).
	XMLRPC Protocol = "xmlrpc"
	// SunRPC is the original ONC RPC interface (node port + 2).
	SunRPC Protocol = "sunrpc"
	// HTTP is the JSON API under /api/v1/ (node port + 1).
	HTTP Protocol = "http"
)

// Protocols lists the supported protocols.
var Protocols = []Protocol{XMLRPC, SunRPC, HTTP}

// ParseProtocol returns the protocol named s.
func ParseProtocol(s string) (Protocol, error) {
	for _, p := range Protocols {
		if strings.EqualFold(s, string(p)) {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown protocol %q (want xmlrpc, sunrpc or http)", s)
}

// DefaultPort returns the gateway port of the protocol for a node on
// nodePort: +1 for XML-RPC and HTTP, +2 for Sun RPC.
func (p Protocol) DefaultPort(nodePort int) int {
	if p == SunRPC {
		return nodePort + 2
	}
	return nodePort + 1
}

// DefaultNodePort is the UDP port of a node started with the defaults;
// its gateways are on DefaultPort(DefaultNodePort).
const DefaultNodePort = 5850

// GatewayAddr completes a gateway address given without a port with the
// protocol's default one (5851, or 5852 for Sun RPC), so that "localhost"
// means the gateway of a node with the default ports, not port 80. An
// address with a port, or one that is not a host name or IP, is returned
// as it is.
func (p Protocol) GatewayAddr(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil || addr == "" {
		return addr
	}
	host := strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")
	if _, err := netip.ParseAddr(host); err != nil && strings.ContainsAny(host, ":/[]@ ") {
		return addr // not a host: let the dial say what is wrong
	}
	return net.JoinHostPort(host, strconv.Itoa(p.DefaultPort(DefaultNodePort)))
}

// Config configures a Client.
type Config struct {
	// Gateways lists gateway addresses (host:port). Calls are spread over
	// them round-robin and fail over from one to the next.
	Gateways []string
	// Protocol is the protocol every gateway is spoken to with.
	Protocol Protocol
	// Application is sent with every call, as the original API asks (the
	// gateway logs it).
	Application string
	// ClientLibrary is sent with Sun RPC calls.
	ClientLibrary string
	// SunRPCVersion is the program version Sun RPC calls use: 3, the
	// default (0 means 3), has every operation; 2 is the first interface,
	// still spoken by old clients and served beside 3: put without a secret
	// and get of bare values (no TTL or secret hash), so PutRemovable and
	// Remove fail with ErrNotSupported.
	SunRPCVersion int
	// CallTimeout bounds one attempt at one gateway.
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one call, retries and failovers
	// together; the context can end it sooner.
	MaxAttempts int
	// InitialBackoff and MaxBackoff bound the wait before a retry: the
	// n-th retry waits a random time up to min(MaxBackoff,
	// InitialBackoff*2^n).
	InitialBackoff, MaxBackoff time.Duration
	// DownFor is how long a gateway that failed is skipped, unless every
	// gateway is down.
	DownFor time.Duration
	// Conns is the number of connections kept per gateway (Sun RPC
	// connections carry one call at a time; HTTP keeps this many idle).
	Conns int
	// PageSize is the maxvals of every get page the iterator asks for.
	PageSize int
	// Large configures the large-value calls (PutLarge, GetLarge); nil is
	// DefaultLargeConfig().
	Large *largevalue.Config
	// APIKey, if set, is sent with every XML-RPC and HTTP call in an
	// "Authorization: Bearer" header, so that a gateway with accounts
	// charges the calls to the key's account (spec section 20). Sun RPC
	// cannot carry it: New refuses the two together. Empty: anonymous, as
	// every client of the original service.
	APIKey string
}

// DefaultConfig returns the defaults for the given gateways, speaking
// XML-RPC.
func DefaultConfig(gateways ...string) Config {
	return Config{
		Gateways:       gateways,
		Protocol:       XMLRPC,
		Application:    "opendht-go",
		ClientLibrary:  "opendht-go/client",
		SunRPCVersion:  3,
		CallTimeout:    30 * time.Second,
		MaxAttempts:    8,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     5 * time.Second,
		DownFor:        10 * time.Second,
		Conns:          16,
		PageSize:       10,
	}
}

// Validate rejects configurations the client cannot work with.
func (c Config) Validate() error {
	switch {
	case len(c.Gateways) == 0:
		return errors.New("client: no gateway given")
	case c.CallTimeout <= 0:
		return fmt.Errorf("client: call timeout must be positive, got %v", c.CallTimeout)
	case c.MaxAttempts < 1:
		return fmt.Errorf("client: max attempts must be at least 1, got %d", c.MaxAttempts)
	case c.InitialBackoff <= 0 || c.MaxBackoff < c.InitialBackoff:
		return fmt.Errorf("client: backoff must satisfy 0 < initial (%v) <= max (%v)", c.InitialBackoff, c.MaxBackoff)
	case c.DownFor < 0:
		return fmt.Errorf("client: down-for must not be negative, got %v", c.DownFor)
	case c.Conns < 1:
		return fmt.Errorf("client: conns must be at least 1, got %d", c.Conns)
	case c.PageSize < 1:
		return fmt.Errorf("client: page size must be at least 1, got %d", c.PageSize)
	case c.SunRPCVersion != 0 && c.SunRPCVersion != 2 && c.SunRPCVersion != 3:
		return fmt.Errorf("client: Sun RPC version must be 2 or 3, got %d", c.SunRPCVersion)
	case len(c.Application) > 255 || len(c.ClientLibrary) > 255:
		return errors.New("client: application and client library names are limited to 255 bytes")
	case c.APIKey != "" && c.Protocol == SunRPC:
		return errors.New("client: Sun RPC cannot carry an API key: use xmlrpc or http")
	case strings.ContainsAny(c.APIKey, "\r\n"):
		return errors.New("client: an API key cannot hold a line break")
	}
	if _, err := ParseProtocol(string(c.Protocol)); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if c.Large != nil {
		if err := c.Large.Validate(); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
	for _, g := range c.Gateways {
		if g == "" {
			return errors.New("client: empty gateway address")
		}
	}
	return nil
}

// Errors a call ends with; test them with errors.Is.
var (
	// ErrOverCapacity: status 1, the storage nodes refuse the write
	// (FST-6, FST-7). It is not retried.
	ErrOverCapacity = errors.New("over capacity (status 1)")
	// ErrTryAgain: status 2 on every attempt (FST-8).
	ErrTryAgain = errors.New("try again (status 2)")
	// ErrInvalid: the gateway rejected the arguments; the error text says
	// why. It is not retried.
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable: no gateway gave an answer.
	ErrUnavailable = errors.New("no gateway answered")
	// ErrUnknownOutcome: a cas was sent but its answer never came (or
	// came unreadable): it may or may not have taken effect (CAS-11). Read
	// the register before trying again. It is never retried.
	ErrUnknownOutcome = errors.New("cas outcome unknown: read the register before trying again")
	// ErrNotSupported: the protocol or the gateway does not offer the
	// operation (registers over Sun RPC, or on a gateway of the original
	// API). It is not retried.
	ErrNotSupported = errors.New("not supported")
	// ErrOverQuota: the write would take the account of Config.APIKey over
	// its quota at a storage node (spec section 20, AC-7). It is not
	// retried; the error is also an ErrInvalid.
	ErrOverQuota = dht.ErrOverQuota
	// ErrKeyRequired: the gateway charges for writes and Config.APIKey is
	// empty (AC-3); ErrUnknownKey: the gateway knows no such key (AC-2).
	// Both are also ErrInvalid.
	ErrKeyRequired = dht.ErrKeyRequired
	ErrUnknownKey  = dht.ErrUnknownKey
)

// unknownOutcomeError is a cas whose outcome is unknown; err says why.
type unknownOutcomeError struct{ err error }

func (e *unknownOutcomeError) Error() string {
	return fmt.Sprintf("%v: %v", ErrUnknownOutcome, e.err)
}

// trimOutcome drops gateway.UnknownOutcomeText from a gateway's text, so
// that an error does not say it twice: what remains says why.
func trimOutcome(s string) string {
	rest, ok := strings.CutPrefix(s, gateway.UnknownOutcomeText)
	if !ok {
		return s
	}
	rest = strings.TrimSpace(rest)
	if strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")") {
		rest = rest[1 : len(rest)-1]
	}
	return rest
}
func (e *unknownOutcomeError) Is(target error) bool { return target == ErrUnknownOutcome }
func (e *unknownOutcomeError) Unwrap() error        { return e.err }

// failedError is a gateway's answer that a call failed for a reason of the
// DHT, not of the arguments. For a cas it means that the cas was not sent
// to any replica (gateway.RegisterBackend): nothing changed.
type failedError struct{ msg string }

func (e *failedError) Error() string { return e.msg }

// notSent reports whether err shows that a call never left the client: the
// connection to the gateway could not be made, so the gateway received
// nothing. (Go's HTTP client resends a request on a reused connection only
// when it wrote none of it.)
func notSent(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// casOutcome classifies the error of one attempt at a cas. A refusal, an
// unsupported call, a request never sent and a failure the gateway
// reports keep their meaning; anything else (no answer, an unreadable
// one) leaves the outcome unknown.
func casOutcome(err error) error {
	var fe *failedError
	if err == nil || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotSupported) || errors.Is(err, ErrUnknownOutcome) ||
		notSent(err) || errors.As(err, &fe) {
		return err
	}
	return &unknownOutcomeError{err}
}

// invalidError carries the gateway's own text for a rejected request.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return true
	case ErrOverQuota, ErrKeyRequired, ErrUnknownKey: // the gateways' texts (AC-2, AC-3, AC-7)
		return strings.Contains(e.msg, target.Error())
	}
	return false
}

func invalid(format string, a ...any) error { return &invalidError{fmt.Sprintf(format, a...)} }

// Value is one stored value as get_details returns it.
type Value struct {
	// Data is the value itself.
	Data []byte
	// TTL is the time it has left; zero where the protocol does not say
	// (Sun RPC version 2 returns bare values).
	TTL time.Duration
	// SecretHash is the SHA-1 of the secret it was put with; zero for a
	// value put without one (not removable).
	SecretHash dht.Hash
}

// Removable reports whether the value was put with a secret.
func (v Value) Removable() bool { return v.SecretHash != dht.ZeroHash }

// Page is one get reply: values and the placemark to continue from.
type Page struct {
	Values []Value
	// Placemark continues the get; empty means there is no more.
	Placemark []byte
}

// TextKey derives a key from text as the original client scripts did: the
// SHA-1 of the text.
func TextKey(text string) dht.Key { return dht.Key(dht.SHA1([]byte(text))) }

// transport carries calls to one gateway. Implementations return a status,
// an error made with invalid() for a rejected request, or another error
// for a failure of the gateway or the network.
type transport interface {
	put(ctx context.Context, p dht.Put) (dht.Status, error)
	remove(ctx context.Context, r dht.Remove) (dht.Status, error)
	get(ctx context.Context, key dht.Key, maxvals int, placemark []byte, fast bool) (Page, error)
	// cas returns errors classified by casOutcome.
	cas(ctx context.Context, c dht.CAS) (dht.CASResult, error)
	readRegister(ctx context.Context, key dht.Key) (dht.Versioned, error)
	ping(ctx context.Context) error
	close() error
}

type gatewayConn struct {
	addr      string
	t         transport
	downUntil atomic.Int64 // unix nanoseconds
}

// Client calls the DHT through gateways. It is safe for concurrent use.
type Client struct {
	cfg  Config
	gws  []*gatewayConn
	next atomic.Uint64
	mu   sync.Mutex // guards rnd
	rnd  *rand.Rand

	calls, attempts, tryAgain, failovers atomic.Uint64 // Stats
}

// Stats counts a client's work since New, for load generators and loaders
// that report how hard the DHT pushed back. Every field only grows.
type Stats struct {
	// Calls is the number of operations started (Put, Get pages, CAS, ...).
	Calls uint64
	// Attempts is the number of requests sent to gateways for them: one
	// per call, plus one per retry and failover.
	Attempts uint64
	// TryAgain counts answers of status 2 that were retried after a
	// backoff (FST-8).
	TryAgain uint64
	// Failovers counts attempts that failed at a gateway (no answer,
	// broken connection) and moved on to the next one.
	Failovers uint64
}

// Retries is the number of attempts beyond the first of each call.
func (s Stats) Retries() uint64 { return s.Attempts - s.Calls }

// Stats returns the client's counters so far.
func (c *Client) Stats() Stats {
	return Stats{Calls: c.calls.Load(), Attempts: c.attempts.Load(), TryAgain: c.tryAgain.Load(), Failovers: c.failovers.Load()}
}

// New returns a client of the configured gateways. It does not connect
// until the first call.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x0D47))}
	cfg.Gateways = slices.Clone(cfg.Gateways)
	for i, addr := range cfg.Gateways {
		addr = cfg.Protocol.GatewayAddr(addr)
		cfg.Gateways[i] = addr
		var t transport
		switch cfg.Protocol {
		case XMLRPC:
			t = newXMLRPC(addr, cfg)
		case SunRPC:
			t = newSunRPC(addr, cfg)
		case HTTP:
			t = newHTTP(addr, cfg)
		}
		c.gws = append(c.gws, &gatewayConn{addr: addr, t: t})
	}
	c.next.Store(uint64(c.rnd.IntN(len(c.gws))))
	return c, nil
}

// Close releases the client's connections.
func (c *Client) Close() error {
	var errs []error
	for _, g := range c.gws {
		errs = append(errs, g.t.close())
	}
	return errors.Join(errs...)
}

// Put stores value under key for ttl (rounded down to seconds, at least
// one). It cannot be removed.
func (c *Client) Put(ctx context.Context, key dht.Key, value []byte, ttl time.Duration) error {
	return c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) {
		return t.put(ctx, dht.Put{Key: key, Value: value, TTL: seconds(ttl)})
	})
}

// PutRemovable stores value under key for ttl; whoever knows secret can
// remove it (put_removable with SHA-1).
func (c *Client) PutRemovable(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	if len(secret) == 0 {
		return invalid("a removable put needs a non-empty secret")
	}
	sh := dht.SHA1(secret)
	return c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) {
		return t.put(ctx, dht.Put{Key: key, Value: value, TTL: seconds(ttl), SecretHash: sh})
	})
}

// Remove removes the value put under key with secret. The tombstone lives
// for ttl, which should be at least the value's remaining TTL (RM-3).
func (c *Client) Remove(ctx context.Context, key dht.Key, value, secret []byte, ttl time.Duration) error {
	return c.RemoveHash(ctx, key, dht.SHA1(value), secret, ttl)
}

// RemoveHash is Remove given the SHA-1 of the value instead of the value.
func (c *Client) RemoveHash(ctx context.Context, key dht.Key, valueHash dht.Hash, secret []byte, ttl time.Duration) error {
	return c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) {
		return t.remove(ctx, dht.Remove{Key: key, ValueHash: valueHash, Secret: secret, TTL: seconds(ttl)})
	})
}

// GetOption changes how a get reads (GetPage, Values, Get).
type GetOption func(*getOptions)

type getOptions struct {
	fast bool
}

// FastRead makes a get a fast read (spec/SPEC.md RD-14): the gateway
// answers with the merged values of the first replicas of the key to
// answer (one by default), not of a read quorum. It is faster (often the
// gateway's own store answers) but it does not read your writes: it may
// miss a value whose put was just acknowledged, or return one whose
// remove was, until the write reached every replica. It never returns a
// value that was not put or an authenticated value that does not verify,
// and once the DHT was quiet for its settle time it returns what a
// default get returns. Every page of the get is a fast read. Over Sun RPC
// a fast get fails with ErrNotSupported.
func FastRead() GetOption { return func(o *getOptions) { o.fast = true } }

func getOpts(opts []GetOption) getOptions {
	var o getOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// GetPage reads up to maxvals values under key from placemark (nil for
// the first page).
func (c *Client) GetPage(ctx context.Context, key dht.Key, maxvals int, placemark []byte, opts ...GetOption) (Page, error) {
	if maxvals < 1 {
		return Page{}, invalid("maxvals must be positive, got %d", maxvals)
	}
	o := getOpts(opts)
	var page Page
	err := c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) {
		var err error
		page, err = t.get(ctx, key, maxvals, placemark, o.fast)
		return dht.StatusOK, err
	})
	return page, err
}

// Values iterates over every value under key, following placemarks page
// by page (PageSize values per call). The iteration stops at the first
// error, which it yields.
func (c *Client) Values(ctx context.Context, key dht.Key, opts ...GetOption) iter.Seq2[Value, error] {
	return func(yield func(Value, error) bool) {
		var pm []byte
		for {
			page, err := c.GetPage(ctx, key, c.cfg.PageSize, pm, opts...)
			if err != nil {
				yield(Value{}, err)
				return
			}
			for _, v := range page.Values {
				if !yield(v, nil) {
					return
				}
			}
			if len(page.Placemark) == 0 {
				return
			}
			pm = page.Placemark
		}
	}
}

// Get returns every value under key (following placemarks).
func (c *Client) Get(ctx context.Context, key dht.Key, opts ...GetOption) ([]Value, error) {
	var out []Value
	for v, err := range c.Values(ctx, key, opts...) {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// CAS is a compare-and-set on the register of key (spec/SPEC.md section
// 11, CAS-3): if the register's version is expected (0: absent), it
// becomes expected+1 with value, live for ttl (rounded down to seconds, at
// least one; a successful cas renews the ttl). The result says whether it
// took effect, and carries the new version and value, or the current ones
// when it did not. An empty value deletes: the register becomes a
// tombstone that keeps counting versions for ttl (CAS-6).
//
// A read-modify-write loop reads, computes, and calls CAS with the
// version read; on a result that is not OK it computes again from the
// result's current version and value. The errors: ErrInvalid for a
// refused request (nothing changed; "expected version is out of range"
// for math.MaxUint64), ErrUnknownOutcome when the cas may or may not have
// taken effect (Read before deciding), ErrNotSupported over Sun RPC, and
// others when it surely did not take effect. A cas is never repeated (see
// the package comment).
func (c *Client) CAS(ctx context.Context, key dht.Key, expected uint64, value []byte, ttl time.Duration) (dht.CASResult, error) {
	req := dht.CAS{Key: key, Expected: expected, Value: value, TTL: seconds(ttl)}
	var last error
	c.calls.Add(1)
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return dht.CASResult{}, errors.Join(err, last)
		}
		c.attempts.Add(1)
		g, up := c.pick()
		if attempt > 0 && !up {
			if err := c.sleep(ctx, attempt); err != nil {
				return dht.CASResult{}, errors.Join(err, last)
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		res, err := g.t.cas(actx, req)
		cancel()
		switch {
		case err == nil:
			g.downUntil.Store(0)
			return res, nil
		case notSent(err) && ctx.Err() != nil:
			return dht.CASResult{}, errors.Join(ctx.Err(), err)
		case notSent(err):
			// The gateway received nothing: another one may run the cas.
			c.failovers.Add(1)
			g.downUntil.Store(time.Now().Add(c.cfg.DownFor).UnixNano())
			last = fmt.Errorf("%w: gateway %s: %w", ErrUnavailable, g.addr, err)
		case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotSupported):
			return dht.CASResult{}, err
		default:
			return dht.CASResult{}, fmt.Errorf("gateway %s: %w", g.addr, err)
		}
	}
	return dht.CASResult{}, last
}

// Read returns the register of key: its version and value, version 0 and
// no value when it is absent (CAS-7). The read is linearizable: it sees
// every cas that completed before it began. It changes nothing, so it is
// retried and fails over like a get.
func (c *Client) Read(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	var v dht.Versioned
	err := c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) {
		var err error
		v, err = t.readRegister(ctx, key)
		return dht.StatusOK, err
	})
	return v, err
}

// PingResult is the answer of one gateway to Ping.
type PingResult struct {
	Gateway string
	RTT     time.Duration
	Err     error
}

// Ping asks every gateway for a trivial answer (Sun RPC NULL, HTTP status,
// an XML-RPC get of one value under an empty key) and reports the round
// trip times.
func (c *Client) Ping(ctx context.Context) []PingResult {
	out := make([]PingResult, len(c.gws))
	var wg sync.WaitGroup
	for i, g := range c.gws {
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
			defer cancel()
			start := time.Now()
			err := g.t.ping(actx)
			out[i] = PingResult{Gateway: g.addr, RTT: time.Since(start), Err: err}
		})
	}
	wg.Wait()
	return out
}

func seconds(d time.Duration) int64 { return max(int64(d/time.Second), 1) }

// call runs op on the gateways until it gives status 0, a final answer or
// the attempts are used up. Status 2 is retried after a backoff; a failed
// gateway is marked down and the next one is tried at once, with a
// backoff only once every gateway is down.
func (c *Client) call(ctx context.Context, op func(context.Context, transport) (dht.Status, error)) error {
	var last error
	retries := 0
	c.calls.Add(1)
	for attempt := 0; attempt < c.cfg.MaxAttempts; attempt++ {
		c.attempts.Add(1)
		g, up := c.pick()
		if attempt > 0 && (!up || errors.Is(last, ErrTryAgain)) {
			retries++
			if err := c.sleep(ctx, retries); err != nil {
				return errors.Join(err, last)
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		st, err := op(actx, g.t)
		cancel()
		switch {
		case err == nil && st == dht.StatusOK:
			g.downUntil.Store(0)
			return nil
		case err == nil && st == dht.StatusOverCapacity:
			return ErrOverCapacity
		case err == nil && st == dht.StatusTryAgain:
			c.tryAgain.Add(1)
			last = ErrTryAgain
		case err == nil:
			return fmt.Errorf("gateway %s: unknown status %d", g.addr, st)
		case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotSupported):
			return err
		case ctx.Err() != nil:
			return errors.Join(ctx.Err(), err)
		default:
			c.failovers.Add(1)
			g.downUntil.Store(time.Now().Add(c.cfg.DownFor).UnixNano())
			last = fmt.Errorf("%w: gateway %s: %w", ErrUnavailable, g.addr, err)
		}
	}
	return last
}

// pick returns the next gateway round-robin that is not marked down and
// true, or the next one and false if all are down.
func (c *Client) pick() (*gatewayConn, bool) {
	n := uint64(len(c.gws))
	start := c.next.Add(1)
	now := time.Now().UnixNano()
	for i := range n {
		g := c.gws[(start+i)%n]
		if g.downUntil.Load() <= now {
			return g, true
		}
	}
	return c.gws[start%n], false
}

// sleep waits the backoff before retry n (n >= 1), or until ctx ends.
func (c *Client) sleep(ctx context.Context, n int) error {
	ceiling := c.cfg.MaxBackoff
	if n-1 < 30 {
		ceiling = min(c.cfg.MaxBackoff, c.cfg.InitialBackoff<<(n-1))
	}
	c.mu.Lock()
	d := time.Duration(c.rnd.Int64N(int64(ceiling)) + 1)
	c.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
