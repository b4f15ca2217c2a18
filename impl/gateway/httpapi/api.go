package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/largevalue"
)

// Version is the API version: the path prefix /api/v1/ and the "version"
// of the status.
const Version = "v1"

// Prefix is the path under which every endpoint lives.
const Prefix = "/api/" + Version + "/"

// Config holds the API's parameters. The HTTP server's timeouts are the
// XML-RPC gateway's (xmlrpc.Config): the API shares its port.
type Config struct {
	// MaxBodyBytes is the largest request body accepted, in bytes. The
	// largest legitimate body (a 1024-byte value and a 40-byte secret in
	// base64, with line breaks) is under 2 KiB.
	MaxBodyBytes int64
	// CallTimeout bounds one backend call, after which the client gets a
	// 504. It must be below the HTTP server's write timeout so that the
	// answer can still be sent.
	CallTimeout time.Duration
	// MaxValsCap is the largest maxvals a get passes on; a larger one is
	// lowered to it. A reply holds about 1 KiB of values anyway (GET-3),
	// but empty values cost no bytes: this bounds their number.
	MaxValsCap int
	// Status describes the node for GET /api/v1/status; nil reports only
	// the version. It is called on the request's goroutine and must not
	// block on the node's loop.
	Status func(ctx context.Context) (Status, error)
	// Large configures the large-value layer behind /api/v1/large/ (spec
	// section 17): blocks in flight per value, the largest value, retries.
	Large largevalue.Config
	// LargeIdle is how long a large value's transfer may make no progress
	// before the connection is cut; while bytes flow, the server's read
	// and write timeouts are moved on (a 64 MiB value takes longer than
	// them).
	LargeIdle time.Duration
	// MaxLargeStreams bounds the large values the gateway moves at once;
	// one more is answered 503. Each holds Large.Parallel blocks (1 KiB
	// each) in memory.
	MaxLargeStreams int
	// Usage answers GET /api/v1/usage on a gateway with accounts (spec
	// section 20, AC-8) for the request's context; nil: the gateway has no
	// accounts and the endpoint answers 404.
	Usage func(ctx context.Context) (gateway.UsageReport, error)
	// Logger receives one debug line per request; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the API defaults.
func DefaultConfig() Config {
	return Config{
		// 16 KiB: 8 times the largest legitimate body, small enough that
		// many concurrent hostile bodies cost little memory.
		MaxBodyBytes: 16 << 10,
		// As the XML-RPC gateway: a put may wait in its admission queue up
		// to W = 5 s, plus the replication round trips, and the gateway's
		// write timeout is 20 s.
		CallTimeout: 15 * time.Second,
		// 1000 values of a few bytes are a reply of tens of KiB.
		MaxValsCap: 1000,
		Large:      largevalue.DefaultConfig(),
		// As long as a whole small call may take (CallTimeout): a block's
		// put that waits in an admission queue stalls the stream that long.
		LargeIdle: 30 * time.Second,
		// 64 streams of 32 KiB of blocks: 2 MiB of buffers at most.
		MaxLargeStreams: 64,
	}
}

// Validate rejects settings the API cannot work with.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes < 2048:
		return fmt.Errorf("httpapi: max body bytes must be at least 2048 (a maximal put), got %d", c.MaxBodyBytes)
	case c.CallTimeout <= 0:
		return fmt.Errorf("httpapi: call timeout must be positive, got %v", c.CallTimeout)
	case c.MaxValsCap < 1:
		return fmt.Errorf("httpapi: maxvals cap must be at least 1, got %d", c.MaxValsCap)
	case c.LargeIdle <= 0:
		return fmt.Errorf("httpapi: large idle timeout must be positive, got %v", c.LargeIdle)
	case c.MaxLargeStreams < 1:
		return fmt.Errorf("httpapi: max large streams must be at least 1, got %d", c.MaxLargeStreams)
	}
	if err := c.Large.Validate(); err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	return nil
}

// Status is the body of GET /api/v1/status.
type Status struct {
	// Version is "v1".
	Version string `json:"version"`
	// NodeID is the node's 160-bit identifier in 40 hex digits.
	NodeID string `json:"node_id"`
	// Address is the node's advertised UDP address, ip:port.
	Address string `json:"address"`
	// Joined reports whether the node has joined the ring.
	Joined bool `json:"joined"`
	// LeafSetPeers and RoutingTablePeers count the node's neighbours (a
	// node copies them from its loop, so they may be a second old).
	LeafSetPeers      int `json:"leaf_set_peers"`
	RoutingTablePeers int `json:"routing_table_peers"`
	// UptimeSeconds is the time since the node started.
	UptimeSeconds int64 `json:"uptime_seconds"`
	// Store is the node's storage.
	Store StoreStatus `json:"store"`
}

// StoreStatus describes a node's store.
type StoreStatus struct {
	// CapacityBytes is C, the storage shared among clients (FST-1).
	CapacityBytes int64 `json:"capacity_bytes"`
	// UsedBytes is B(now): the charged bytes of every live item and
	// tombstone (FST-2).
	UsedBytes int64 `json:"used_bytes"`
	// QueuedWrites is the number of writes waiting for admission (FST-4).
	QueuedWrites int `json:"queued_writes"`
}

// WriteResponse is the body of a POST or DELETE that reached the DHT.
type WriteResponse struct {
	// Status is the original status code: 0 success, 1 over capacity, 2
	// try again.
	Status int `json:"status"`
	// Result names the status: "success", "over capacity", "try again".
	Result string `json:"result"`
	// Error repeats Result when the write was not applied.
	Error string `json:"error,omitempty"`
}

// GetResponse is the body of a successful GET of a key.
type GetResponse struct {
	Values []Value `json:"values"`
	// Placemark continues the read; empty when there is no more.
	Placemark string `json:"placemark"`
}

// Value is one value of a GetResponse, with its details (get_details).
type Value struct {
	Value        string `json:"value"`
	TTLRemaining int64  `json:"ttl_remaining"`
	// HashAlg is "SHA" for a removable value, "" otherwise.
	HashAlg string `json:"hash_alg"`
	// SecretHash is the SHA-1 of the secret in base64, "" for an
	// unremovable value.
	SecretHash string `json:"secret_hash"`
}

// CASResponse is the body of a cas that reached the DHT (POST to a
// register), whether it succeeded or failed (CAS-3).
type CASResponse struct {
	// OK reports whether the cas took effect.
	OK bool `json:"ok"`
	// Version is the register's version after a successful cas (expected
	// + 1), or its current version after a failed one: 0 for an absent
	// register. It is an unsigned 64-bit integer.
	Version uint64 `json:"version"`
	// Value is the register's value, in base64, as Version.
	Value string `json:"value"`
}

// RegisterResponse is the body of a read of a register (CAS-7).
type RegisterResponse struct {
	// Version is the register's version, 0 when it is absent.
	Version uint64 `json:"version"`
	// Value is its value in base64, "" when it is absent.
	Value string `json:"value"`
}

// ErrorResponse is the body of every error.
type ErrorResponse struct {
	Error string `json:"error"`
	// Outcome is "unknown" on the answer (504) to a cas that may or may
	// not have taken effect: read the register before trying again.
	Outcome string `json:"outcome,omitempty"`
}

// Handler serves the API on a gateway.Backend.
type Handler struct {
	b       gateway.Backend
	cfg     Config
	log     *slog.Logger
	streams chan struct{} // a slot per large value being moved
}

// New returns the API on b. It panics if cfg is invalid: call cfg.Validate
// first when cfg comes from a user.
func New(b gateway.Backend, cfg Config) *Handler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{b: b, cfg: cfg, log: log, streams: make(chan struct{}, cfg.MaxLargeStreams)}
}

// ServeHTTP routes a request: the endpoint from the path (404), the method
// (405), then the request itself.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	switch {
	case !ok:
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("no endpoint %s: the API is under %s", quotePath(r.URL.Path), Prefix))
	case rest == "":
		if h.allow(w, r, "GET, HEAD", http.MethodGet, http.MethodHead) {
			h.reply(w, http.StatusOK, Index())
		}
	case rest == "status":
		if h.allow(w, r, "GET, HEAD", http.MethodGet, http.MethodHead) {
			h.status(w, r)
		}
	case rest == "usage":
		if h.allow(w, r, "GET, HEAD", http.MethodGet, http.MethodHead) {
			h.usage(w, r)
		}
	case strings.HasPrefix(rest, "keys/") && !strings.Contains(rest[len("keys/"):], "/"):
		if !h.allow(w, r, "GET, HEAD, POST, DELETE", http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete) {
			return
		}
		key, err := parseKey(rest[len("keys/"):])
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h.get(w, r, key)
		case http.MethodPost:
			h.put(w, r, key)
		case http.MethodDelete:
			h.remove(w, r, key)
		}
	case strings.HasPrefix(rest, "large/") && !strings.Contains(rest[len("large/"):], "/"):
		if !h.allow(w, r, "GET, HEAD, PUT, POST, DELETE", http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete) {
			return
		}
		key, err := parseKey(rest[len("large/"):])
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		h.large(w, r, key)
	case strings.HasPrefix(rest, "registers/") && !strings.Contains(rest[len("registers/"):], "/"):
		if !h.allow(w, r, "GET, HEAD, POST", http.MethodGet, http.MethodHead, http.MethodPost) {
			return
		}
		rb, err := gateway.Registers(h.b)
		if err != nil {
			h.fail(w, r, http.StatusNotImplemented, err.Error())
			return
		}
		key, err := parseKey(rest[len("registers/"):])
		if err != nil {
			h.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
		if r.Method == http.MethodPost {
			h.cas(w, r, rb, key)
		} else {
			h.read(w, r, rb, key)
		}
	case h.serveAuth(w, r, rest): // auth.go: immutable/ and signed/
	default:
		h.fail(w, r, http.StatusNotFound, fmt.Sprintf("no endpoint %s: the endpoints are %skeys/{key}, %slarge/{key}, %sregisters/{key}, %simmutable, %ssigned/{key}, %sstatus and %susage",
			quotePath(r.URL.Path), Prefix, Prefix, Prefix, Prefix, Prefix, Prefix, Prefix))
	}
}

// IndexReply is the answer to GET /api/v1/: what the API offers, for a
// person or a program that starts at the API's address.
type IndexReply struct {
	Version   string            `json:"version"`
	Endpoints map[string]string `json:"endpoints"`
	Keys      string            `json:"keys"`
	Docs      string            `json:"docs"`
}

// Index returns the answer to GET /api/v1/.
func Index() IndexReply {
	return IndexReply{
		Version: Version,
		Endpoints: map[string]string{
			"GET " + Prefix + "keys/{key}?maxvals=N&placemark=P": "get: values with their details; ask again with the placemark until it is empty; &read=fast: the first replica to answer (no read-your-writes)",
			"POST " + Prefix + "keys/{key}":                      `put or put_removable: {"value": base64, "ttl": seconds, "secret": base64}`,
			"DELETE " + Prefix + "keys/{key}":                    `rm: {"value" or "value_hash": base64, "secret": base64}`,
			"GET " + Prefix + "registers/{key}":                  "read a register: version and value",
			"POST " + Prefix + "registers/{key}":                 `cas: {"expected": version, "value": base64, "ttl": seconds}`,
			"GET " + Prefix + "status":                           "the node: id, address, peers, store usage, uptime",
			"GET " + Prefix + "usage":                            "with an API key: the account's usage (gateways with accounts)",
			"POST " + Prefix + "immutable":                       "put_immutable: the key is the hash of the value",
			"GET/POST " + Prefix + "signed/{key}":                "get_signed, put_signed and rm_signed: ed25519-signed records",
			"PUT/GET " + Prefix + "large/{key}":                  "large values, streamed as the raw body",
		},
		Keys: "2 to 40 hex digits; a text key is its SHA-1 (printf %s mykey | sha1sum)",
		Docs: "go doc github.com/opendht-go/opendht/impl/gateway/httpapi; the node's status page is at /",
	}
}

func quotePath(p string) string { return strconv.Quote(truncate(p)) }

// allow answers 405 unless the method is one of methods.
func (h *Handler) allow(w http.ResponseWriter, r *http.Request, header string, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", header)
	h.fail(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed here: use %s", truncate(r.Method), header))
	return false
}

// noQuery answers 400 if a request that takes no parameters has some: a
// typo must not go unnoticed.
func (h *Handler) noQuery(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return true
	}
	h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("%s %s takes no query parameters", r.Method, quotePath(r.URL.Path)))
	return false
}

// body reads the request body up to the limit, answering 413 beyond it.
func (h *Handler) body(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	tooLarge := fmt.Sprintf("request body is larger than %d bytes", h.cfg.MaxBodyBytes)
	if r.ContentLength > h.cfg.MaxBodyBytes {
		h.fail(w, r, http.StatusRequestEntityTooLarge, tooLarge)
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, tooLarge)
			return nil, false
		}
		h.log.Debug("httpapi: reading body", "remote", r.RemoteAddr, "err", err)
		h.fail(w, r, http.StatusBadRequest, "cannot read the request body")
		return nil, false
	}
	return b, true
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	p, app, err := decodePut(gateway.ClientOf(r), key, body)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	st, err := h.b.Put(ctx, p)
	op := "put"
	if !p.SecretHash.IsZero() {
		op = "put_removable"
	}
	h.log.Debug("httpapi: "+op, "client", p.Client, "key", key, "application", truncate(app), "status", st, "err", err)
	h.written(w, r, op, st, err)
}

func (h *Handler) remove(w http.ResponseWriter, r *http.Request, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	rm, app, err := decodeRemove(gateway.ClientOf(r), key, body)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	st, err := h.b.Remove(ctx, rm)
	h.log.Debug("httpapi: rm", "client", rm.Client, "key", key, "application", truncate(app), "status", st, "err", err)
	h.written(w, r, "rm", st, err)
}

// written answers a write with its status (ST-1) or the backend's error.
func (h *Handler) written(w http.ResponseWriter, r *http.Request, op string, st dht.Status, err error) {
	if err == nil && st == dht.StatusOverQuota { // AC-7
		err = dht.ErrOverQuota
	}
	if err != nil {
		h.failed(w, r, op, err)
		return
	}
	switch st {
	case dht.StatusOK:
		h.reply(w, http.StatusOK, WriteResponse{Status: int(st), Result: "success"})
	case dht.StatusOverCapacity:
		h.reply(w, http.StatusInsufficientStorage, WriteResponse{Status: int(st), Result: st.String(), Error: st.String()})
	case dht.StatusTryAgain:
		w.Header().Set("Retry-After", "1")
		h.reply(w, http.StatusServiceUnavailable, WriteResponse{Status: int(st), Result: st.String(), Error: st.String()})
	default:
		h.fail(w, r, http.StatusInternalServerError, fmt.Sprintf("%s failed: unknown status %d", op, int(st)))
	}
}

// failed answers a backend error: 507 with status 1 for a write over its
// account's quota (AC-7), 401 for a write that needs an API key (AC-3),
// 400 for an argument the backend refused (it validates again), 504 for a
// timeout, 500 otherwise.
func (h *Handler) failed(w http.ResponseWriter, r *http.Request, op string, err error) {
	switch {
	case errors.Is(err, dht.ErrOverQuota):
		h.reply(w, http.StatusInsufficientStorage, WriteResponse{Status: int(dht.StatusOverCapacity), Result: "over quota", Error: dht.ErrOverQuota.Error()})
		return
	case errors.Is(err, dht.ErrKeyRequired), errors.Is(err, dht.ErrUnknownKey):
		w.Header().Set("WWW-Authenticate", `Bearer realm="opendht"`)
		h.fail(w, r, http.StatusUnauthorized, gateway.RequestError(err).Error())
		return
	}
	if re := gateway.RequestError(err); re != nil {
		h.fail(w, r, http.StatusBadRequest, re.Error())
		return
	}
	code := http.StatusInternalServerError
	if gateway.IsTimeout(err) {
		code = http.StatusGatewayTimeout
	}
	h.fail(w, r, code, fmt.Sprintf("%s failed: %v", op, err))
}

// cas serves POST /api/v1/registers/{key} (CAS-3, CAS-8, CAS-11).
func (h *Handler) cas(w http.ResponseWriter, r *http.Request, rb gateway.RegisterBackend, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	body, ok := h.body(w, r)
	if !ok {
		return
	}
	c, app, err := decodeCAS(key, body)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	res, err := rb.CAS(ctx, c)
	h.log.Debug("httpapi: cas", "client", gateway.ClientOf(r), "key", key, "expected", c.Expected, "application", truncate(app), "result", res, "err", err)
	switch {
	case err == nil:
		h.reply(w, http.StatusOK, CASResponse{OK: res.OK, Version: res.Version, Value: base64.StdEncoding.EncodeToString(res.Value)})
	case gateway.RequestError(err) == nil && gateway.IsTimeout(err):
		h.reply(w, http.StatusGatewayTimeout, ErrorResponse{
			Error: fmt.Sprintf("%s (cas: %v)", gateway.UnknownOutcomeText, err), Outcome: "unknown"})
	default:
		h.failed(w, r, "cas", err)
	}
}

// read serves GET /api/v1/registers/{key} (CAS-7). A read changes
// nothing: one that times out is a 504 like a get's, and may be repeated.
func (h *Handler) read(w http.ResponseWriter, r *http.Request, rb gateway.RegisterBackend, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	v, err := rb.ReadRegister(ctx, key)
	h.log.Debug("httpapi: read", "client", gateway.ClientOf(r), "key", key, "register", v, "err", err)
	if err != nil {
		h.failed(w, r, "read", err)
		return
	}
	h.reply(w, http.StatusOK, RegisterResponse{Version: v.Version, Value: base64.StdEncoding.EncodeToString(v.Value)})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, key dht.Key) {
	g, err := decodeGet(key, r.URL.RawQuery, h.cfg.MaxValsCap)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	rep, err := h.b.Get(ctx, g)
	h.log.Debug("httpapi: get", "client", gateway.ClientOf(r), "key", key, "maxvals", g.MaxVals, "fast", g.Fast, "values", len(rep.Values), "err", err)
	if err != nil {
		h.failed(w, r, "get", err)
		return
	}
	out := GetResponse{Values: make([]Value, 0, len(rep.Values)), Placemark: base64.RawURLEncoding.EncodeToString(rep.Placemark)}
	for _, v := range rep.Values {
		var sh string
		if v.HashAlg() != "" {
			sh = base64.StdEncoding.EncodeToString(v.SecretHash[:])
		}
		out.Values = append(out.Values, Value{
			Value:        base64.StdEncoding.EncodeToString(v.Value),
			TTLRemaining: v.TTLRemaining,
			HashAlg:      v.HashAlg(),
			SecretHash:   sh,
		})
	}
	h.reply(w, http.StatusOK, out)
}

// usage serves GET /api/v1/usage (AC-8).
func (h *Handler) usage(w http.ResponseWriter, r *http.Request) {
	if !h.noQuery(w, r) {
		return
	}
	if h.cfg.Usage == nil {
		h.fail(w, r, http.StatusNotFound, "this gateway has no accounts: usage reports are served by nodes started with --accounts")
		return
	}
	rep, err := h.cfg.Usage(r.Context())
	if err != nil {
		h.failed(w, r, "usage", err)
		return
	}
	h.reply(w, http.StatusOK, rep)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	if !h.noQuery(w, r) {
		return
	}
	var st Status
	if h.cfg.Status != nil {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
		defer cancel()
		var err error
		if st, err = h.cfg.Status(ctx); err != nil {
			h.failed(w, r, "status", err)
			return
		}
	}
	st.Version = Version
	h.reply(w, http.StatusOK, st)
}

// fail answers an error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h.log.Debug("httpapi: error", "remote", r.RemoteAddr, "method", truncate(r.Method), "path", truncate(r.URL.Path), "code", code, "err", msg)
	h.reply(w, code, ErrorResponse{Error: msg})
}

func (h *Handler) reply(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("httpapi: a response of type %T does not encode: %v", v, err))
	}
	body = append(body, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if _, err := w.Write(body); err != nil {
		h.log.Debug("httpapi: writing reply", "err", err)
	}
}
