// Package xmlrpc is the XML-RPC client gateway of a node (node port + 1):
// the original OpenDHT methods put, put_removable, get, get_details and rm
// over HTTP POST (spec/CLIENT-API.md), and cas and read on versioned
// registers, executed on a gateway.Backend.
//
// It is deliberately liberal in what it accepts, as the deployed gateway
// had to be: any request path, HTTP/1.0 and 1.1, values without a type
// element (strings), <param> elements without <params>, base64 with line
// breaks, keys as base64 strings, integers as strings. It is strict about
// sizes: the body is limited before it is read, and the parser bounds the
// nesting depth and the number of values.
//
// Bad arguments give an XML-RPC fault whose faultString is the original
// text ("value is longer than 1024 bytes", "key is longer than 20 bytes",
// "unknown secret hash algorithm", ...). The client a write is charged to
// (FST-5) is the remote IP address of the HTTP connection.
//
// Two methods beyond the original API read fast (spec/SPEC.md RD-14):
// get_fast and get_details_fast take the arguments of get and
// get_details and answer in their form, with the merged answers of the
// first replicas to answer instead of a read quorum, so without
// read-your-acknowledged-writes (RD-7); get and get_details keep RD-7.
//
// Two methods beyond the original API serve the versioned registers of
// spec/SPEC.md section 11, when the Backend is a gateway.RegisterBackend
// (else they fault with FaultUnknownMethod):
//
//	cas(base64 key, expected, base64 value, int ttl_sec, string application)
//	    -> struct {ok: boolean, version, value: base64}
//	read(base64 key, string application) -> struct {version, value: base64}
//
// Versions are unsigned 64-bit integers. expected may come as <int>,
// <i4>, <i8> or a decimal <string> (Python's xmlrpc.client cannot send an
// int beyond 2^31-1; send str(n)); a version is answered as an <int> when
// it fits in 32 bits, else an <i8> (Python reads both as int). A cas that
// failed answers ok false with the current version and value; a refused
// one a FaultBadParams with the original text ("expected version is out of
// range" for 2^64-1, CAS-8), having changed nothing. A cas the DHT did not
// answer in time answers FaultOutcomeUnknown, "outcome unknown: read the
// register before trying again (...)": it may or may not have taken
// effect, so the client reads before it retries. Any other failure is
// FaultInternal, and then the cas did not take effect.
//
// The port is shared with the HTTP/JSON API (impl/gateway/httpapi): when
// Config.API is set, requests whose path starts with APIPrefix go to it,
// under the same timeouts and body limit; every other path is XML-RPC.
package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/gateway"
)

// Config holds the gateway's HTTP parameters.
type Config struct {
	// MaxBodyBytes is the largest request body accepted, in bytes. The
	// largest legitimate call (put_removable of a 1024-byte value) is under
	// 2 KiB even with generous whitespace.
	MaxBodyBytes int64
	// ReadHeaderTimeout bounds reading the request headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response, so it includes the backend call.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for the
	// next request.
	IdleTimeout time.Duration
	// CallTimeout bounds one backend call; the client then gets a fault.
	// It must be below WriteTimeout so that the fault can still be sent.
	CallTimeout time.Duration
	// Logger receives one debug line per call and warnings; nil discards.
	Logger *slog.Logger
	// API, if set, serves every request whose path starts with APIPrefix:
	// the HTTP/JSON API on the gateway's port. The server's timeouts apply
	// to it and its body is cut at MaxBodyBytes before it sees it; it
	// should bound its own body and calls more tightly (its calls must end
	// before WriteTimeout). Nil: those paths are XML-RPC like all others.
	API http.Handler
	// Pages, if set, serves the GET and HEAD requests outside APIPrefix
	// (a browser that opens the gateway's address lands on the node's
	// status page); XML-RPC is POST only. Nil: they get 405, use POST.
	Pages http.Handler
	// Middleware, if set, wraps the whole port (XML-RPC, API and pages):
	// a gateway with accounts authenticates every request's API key in it
	// (spec section 20, AC-2) before any method sees the request.
	Middleware func(http.Handler) http.Handler
}

// BodyLimiter is an API handler that sets the body limit of its requests
// itself (large values stream bodies of many megabytes); for any other
// API handler the limit is MaxBodyBytes.
type BodyLimiter interface {
	BodyLimit(r *http.Request) int64
}

// APIPrefix is the path prefix that goes to Config.API. No original client
// used it: they posted to "/" or "/RPC2".
const APIPrefix = "/api/"

// DefaultConfig returns the gateway defaults.
func DefaultConfig() Config {
	return Config{
		// 64 KiB: 30 times the largest legitimate call, small enough
		// that many concurrent hostile bodies cost little memory.
		MaxBodyBytes: 64 << 10,
		// Slow-loris protection; real clients send headers in one packet.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// A put waits in the admission queue up to its timeout (W = 5 s
		// by default) plus the replication round trips.
		CallTimeout:  15 * time.Second,
		WriteTimeout: 20 * time.Second,
		// Clients of the user guide open one connection per call; an
		// idle keep-alive connection is cheap but not free.
		IdleTimeout: 60 * time.Second,
	}
}

// Validate rejects settings the gateway cannot work with.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes < 1024:
		return fmt.Errorf("xmlrpc: max body bytes must be at least 1024, got %d", c.MaxBodyBytes)
	case c.ReadHeaderTimeout <= 0:
		return fmt.Errorf("xmlrpc: read header timeout must be positive, got %v", c.ReadHeaderTimeout)
	case c.ReadTimeout <= 0:
		return fmt.Errorf("xmlrpc: read timeout must be positive, got %v", c.ReadTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("xmlrpc: write timeout must be positive, got %v", c.WriteTimeout)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("xmlrpc: idle timeout must be positive, got %v", c.IdleTimeout)
	case c.CallTimeout <= 0 || c.CallTimeout >= c.WriteTimeout:
		return fmt.Errorf("xmlrpc: call timeout must be positive and below the write timeout (%v), got %v", c.WriteTimeout, c.CallTimeout)
	}
	return nil
}

// Server is the XML-RPC gateway.
type Server struct {
	b   gateway.Backend
	cfg Config
	log *slog.Logger
}

// New returns a gateway serving on b. It panics if cfg is invalid: call
// cfg.Validate first when cfg comes from a user.
func New(b gateway.Backend, cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{b: b, cfg: cfg, log: log}
}

// Handler returns the HTTP handler: POST on any path, except the paths
// under APIPrefix when Config.API is set, and GET and HEAD when
// Config.Pages is set.
func (s *Server) Handler() http.Handler {
	if s.cfg.API == nil && s.cfg.Pages == nil {
		return http.HandlerFunc(s.serveHTTP)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := s.cfg.API != nil && strings.HasPrefix(r.URL.Path, APIPrefix)
		if !api && s.cfg.Pages != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.cfg.Pages.ServeHTTP(w, r)
			return
		}
		if !api {
			s.serveHTTP(w, r)
			return
		}
		if r.Body != nil {
			limit := s.cfg.MaxBodyBytes
			if bl, ok := s.cfg.API.(BodyLimiter); ok {
				limit = bl.BodyLimit(r)
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		s.cfg.API.ServeHTTP(w, r)
	})
}

// HTTPServer returns an http.Server for s with the configured timeouts.
func (s *Server) HTTPServer() *http.Server {
	h := s.Handler()
	if s.cfg.Middleware != nil {
		h = s.cfg.Middleware(h)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Serve listens on addr and serves until ctx is done; see ServeListener.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("xmlrpc: %w", err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx is done, then shuts down, letting
// calls in progress finish for up to the write timeout. It returns nil after
// a shutdown caused by ctx.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer()
	done := make(chan error, 1)
	go func() { done <- hs.Serve(sniffListener{ln}) }()
	select {
	case err := <-done:
		return fmt.Errorf("xmlrpc: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("xmlrpc: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("xmlrpc: shutdown: %w", err)
	}
	return nil
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "XML-RPC gateway: use POST", http.StatusMethodNotAllowed)
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		s.log.Debug("xmlrpc: reading body", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	client := gateway.ClientOf(r)
	mc, err := ParseMethodCall(body)
	if err != nil {
		s.log.Debug("xmlrpc: bad call", "client", client, "err", err)
		s.reply(w, EncodeFault(&Fault{Code: FaultParse, String: err.Error()}))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CallTimeout)
	defer cancel()
	v, f := Dispatch(ctx, s.b, client, mc)
	if f != nil {
		s.log.Debug("xmlrpc: fault", "client", client, "method", mc.Method, "code", f.Code, "fault", f.String)
		s.reply(w, EncodeFault(f))
		return
	}
	s.log.Debug("xmlrpc: call", "client", client, "method", mc.Method)
	s.reply(w, EncodeResponse(v))
}

func (s *Server) reply(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if _, err := w.Write(body); err != nil {
		s.log.Debug("xmlrpc: writing reply", "err", err)
	}
}
