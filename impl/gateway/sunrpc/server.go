package sunrpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// Config holds the gateway's limits and timeouts.
type Config struct {
	// MaxRecordSize is the largest call record accepted, in bytes, summed
	// over its fragments. The largest valid call (a put) is under 2 KiB;
	// 64 KiB leaves room for verbose credentials and stops a client from
	// making the server buffer much.
	MaxRecordSize int
	// IdleTimeout is how long a connection may wait between calls before
	// the server closes it. Two minutes lets a client reuse a connection
	// across a pause without idle sockets piling up.
	IdleTimeout time.Duration
	// ReadTimeout is how long the rest of a record may take once its first
	// header arrived. Ten seconds is far beyond any honest client.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one reply, so a client that stops
	// reading cannot hold a goroutine for ever.
	WriteTimeout time.Duration
	// CallTimeout bounds the Backend's work for one call; a put or rm that
	// takes longer is answered with SYSTEM_ERR. 30 s covers a queued write
	// that waits for admission in a loaded node.
	CallTimeout time.Duration
	// Logger receives one line per connection error; nil means discard.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		MaxRecordSize: 64 << 10,
		IdleTimeout:   2 * time.Minute,
		ReadTimeout:   10 * time.Second,
		WriteTimeout:  10 * time.Second,
		CallTimeout:   30 * time.Second,
	}
}

// minRecordSize must hold the largest valid call: header with two
// maximal auth bodies plus put arguments.
const minRecordSize = 4096

// Validate rejects a config the server cannot run with.
func (c Config) Validate() error {
	if c.MaxRecordSize < minRecordSize {
		return fmt.Errorf("sunrpc: MaxRecordSize %d is below %d bytes, too small for a put", c.MaxRecordSize, minRecordSize)
	}
	if c.MaxRecordSize >= lastFragment {
		return fmt.Errorf("sunrpc: MaxRecordSize %d does not fit a record mark", c.MaxRecordSize)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"IdleTimeout", c.IdleTimeout}, {"ReadTimeout", c.ReadTimeout}, {"WriteTimeout", c.WriteTimeout}, {"CallTimeout", c.CallTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("sunrpc: %s must be positive, got %v", d.name, d.v)
		}
	}
	return nil
}

// Server serves the gateway program on TCP connections.
type Server struct {
	b   gateway.Backend
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New returns a server executing calls on b. It panics on an invalid
// config: that is a programming error, caught by Validate beforehand.
func New(b gateway.Backend, cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{b: b, cfg: cfg, log: log, conns: map[net.Conn]struct{}{}}
}

// ListenAndServe listens on the TCP address addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx ends or ln fails, then closes
// ln and every open connection and waits for their goroutines. A Server
// serves one listener at a time. It returns
// nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	closeAll := func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer func() {
		stop()
		closeAll()
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serveConn(ctx, c)
		})
	}
}

// readBufferSize is the read buffer of a connection: a put record (about
// 1.1 kB) and a few pipelined gets.
const readBufferSize = 4096

// clientID is FST-5: the client a write is charged to is its IP address.
func clientID(addr net.Addr) dht.ClientID {
	if a, ok := addr.(*net.TCPAddr); ok {
		return dht.ClientID(a.IP.String())
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return dht.ClientID(addr.String())
	}
	return dht.ClientID(host)
}

// serveConn answers calls on c one after another until c fails, idles out,
// or sends something that is not a call.
//
// Reads go through a buffer, so that a record's mark and body (and the
// next calls a client pipelined) come in one read. Every record gets its
// own memory, which the decoded arguments share (a put's value goes to
// the Backend without a copy); replies are built in one buffer reused for
// the connection's life.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	client := clientID(c.RemoteAddr())
	br := bufio.NewReaderSize(c, readBufferSize)
	var out []byte
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		rec, err := readRecord(br, s.cfg.MaxRecordSize, func() {
			c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		})
		if err != nil {
			if errors.Is(err, ErrHTTPRequest) {
				_, _ = io.WriteString(c, HTTPRefusal)
			}
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				s.log.Debug("sunrpc: closing connection", "client", client, "err", err)
			}
			return
		}
		reply, ok := s.handle(ctx, client, rec)
		if !ok {
			s.log.Debug("sunrpc: not a call, closing connection", "client", client)
			return
		}
		c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if out, err = appendRecord(out[:0], reply); err == nil {
			_, err = c.Write(out)
		}
		if err != nil {
			s.log.Debug("sunrpc: write failed", "client", client, "err", err)
			return
		}
	}
}

// handle answers one call message. It returns false for a message that
// cannot be answered (too short for a call header, or not a call), after
// which the connection is closed: the stream can no longer be trusted.
func (s *Server) handle(ctx context.Context, client dht.ClientID, msg []byte) ([]byte, bool) {
	r := xdrReader{b: msg}
	xid, mtype := r.uint32(), r.uint32()
	if r.err != nil || mtype != msgCall {
		return nil, false
	}
	if v := r.uint32(); r.err == nil && v != rpcVersion {
		return deniedReply(xid, rejectRPCMismatch, rpcVersion, rpcVersion), true
	}
	prog, vers, proc := r.uint32(), r.uint32(), r.uint32()
	credFlavor := r.uint32()
	r.opaque(maxAuthBody, "credential")
	r.uint32()
	r.opaque(maxAuthBody, "verifier")
	if r.err != nil {
		return deniedReply(xid, rejectAuthError, authBadCred), true
	}
	if credFlavor != authNone && credFlavor != authSys {
		return deniedReply(xid, rejectAuthError, authBadCred), true
	}
	if prog != Program {
		return acceptedReply(xid, acceptProgUnavail, nil), true
	}
	if vers != Version2 && vers != Version3 {
		var w xdrWriter
		w.uint32(LowVersion)
		w.uint32(HighVersion)
		return acceptedReply(xid, acceptProgMismatch, w.b), true
	}
	stat, res := s.dispatch(ctx, client, vers, proc, msg[r.off:])
	return acceptedReply(xid, stat, res), true
}

// dispatch runs one procedure of version vers (2 or 3) and returns its
// accept_stat and results.
func (s *Server) dispatch(ctx context.Context, client dht.ClientID, vers, proc uint32, args []byte) (uint32, []byte) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	switch {
	case proc == 0 || proc == ProcNull:
		if len(args) != 0 {
			return acceptGarbageArgs, nil
		}
		return acceptSuccess, nil
	case proc == ProcPut && vers == Version2:
		var a PutArgsV2
		if a.decodeXDR(args, true) != nil {
			return acceptGarbageArgs, nil
		}
		return s.put(ctx, PutArgs{Key: a.Key, Value: a.Value, TTLSec: a.TTLSec}, client)
	case proc == ProcPut:
		var a PutArgs
		if a.decodeXDR(args, true) != nil {
			return acceptGarbageArgs, nil
		}
		return s.put(ctx, a, client)
	case proc == ProcRm && vers == Version3:
		var a RmArgs
		if a.decodeXDR(args, true) != nil {
			return acceptGarbageArgs, nil
		}
		rm, err := a.toRemove(client)
		if err != nil {
			return acceptGarbageArgs, nil
		}
		st, err := s.b.Remove(ctx, rm)
		return s.status(st, err)
	case proc == ProcGet:
		var a GetArgs
		if a.decodeXDR(args, true) != nil {
			return acceptGarbageArgs, nil
		}
		g := dht.Get{Key: a.Key, MaxVals: int(a.MaxVals), Placemark: a.Placemark}
		if g.Validate() != nil {
			return acceptGarbageArgs, nil
		}
		rep, err := s.b.Get(ctx, g)
		if err != nil {
			return s.failure(err), nil
		}
		if err := checkGetReply(rep); err != nil {
			s.log.Error("sunrpc: backend reply does not fit the wire", "err", err)
			return acceptSystemErr, nil
		}
		if vers == Version2 {
			return acceptSuccess, getResultV2(rep).MarshalXDR()
		}
		return acceptSuccess, getResult(rep).MarshalXDR()
	}
	// Version 2's RM was withdrawn; anything else was never defined.
	return acceptProcUnavail, nil
}

func (s *Server) put(ctx context.Context, a PutArgs, client dht.ClientID) (uint32, []byte) {
	p, err := a.toPut(client)
	if err != nil {
		return acceptGarbageArgs, nil
	}
	st, err := s.b.Put(ctx, p)
	return s.status(st, err)
}

func (s *Server) status(st dht.Status, err error) (uint32, []byte) {
	if errors.Is(err, dht.ErrKeyRequired) || errors.Is(err, dht.ErrOverQuota) || err == nil && st == dht.StatusOverQuota {
		// Sun RPC clients are anonymous and know statuses 0-2 (AC-3, AC-7).
		return acceptSuccess, encodeStatus(dht.StatusOverCapacity)
	}
	if err != nil {
		return s.failure(err), nil
	}
	return acceptSuccess, encodeStatus(st)
}

// validationErrors are the errors that mean the client sent bad arguments.
var validationErrors = []error{
	dht.ErrKeyTooLong, dht.ErrValueTooLong, dht.ErrSecretTooLong, dht.ErrUnknownHashAlg,
	dht.ErrBadTTL, dht.ErrBadMaxVals, dht.ErrBadPlacemark, dht.ErrBadSecretHash,
	dht.ErrBadValueHash, dht.ErrZeroSecretHash,
}

// failure maps a Backend error: the client's fault is GARBAGE_ARGS, anything
// else (timeouts, shutdown) SYSTEM_ERR.
func (s *Server) failure(err error) uint32 {
	for _, v := range validationErrors {
		if errors.Is(err, v) {
			return acceptGarbageArgs
		}
	}
	s.log.Debug("sunrpc: backend failed", "err", err)
	return acceptSystemErr
}

// isSHA1 reports whether a hash algorithm name means SHA-1: "SHA", as
// every original client sends, or "SHA1", which the original interface
// definition also names (LIM-4).
func isSHA1(alg string) bool { return alg == dht.HashAlgSHA || alg == "SHA1" }

// toPut maps put arguments to a dht.Put. An empty secret hash is a plain
// put whatever algorithm it names (clients send "SHA" or nothing, and the
// original gateway looked only at the hash); a non-empty one must be
// SHA-1's 20 non-zero bytes, a put_removable.
func (a PutArgs) toPut(client dht.ClientID) (dht.Put, error) {
	p := dht.Put{Client: client, Key: a.Key, Value: a.Value, TTL: int64(a.TTLSec)}
	if len(a.SecretHash.Hash) > 0 {
		if !isSHA1(a.SecretHash.Algorithm) {
			return p, dht.ErrUnknownHashAlg
		}
		h, ok := dht.ParseHash(a.SecretHash.Hash)
		if !ok {
			return p, dht.ErrBadSecretHash
		}
		if h.IsZero() {
			return p, dht.ErrZeroSecretHash
		}
		p.SecretHash = h
	}
	return p, p.Validate()
}

// toRemove maps rm arguments to a dht.Remove. The value hash must be
// SHA-1's 20 bytes; its algorithm may also be left empty, since the item
// is named by SHA-1 in any case (PUT-1).
func (a RmArgs) toRemove(client dht.ClientID) (dht.Remove, error) {
	rm := dht.Remove{Client: client, Key: a.Key, Secret: a.Secret, TTL: int64(a.TTLSec)}
	if !isSHA1(a.SecretHashAlg) || (a.ValueHash.Algorithm != "" && !isSHA1(a.ValueHash.Algorithm)) {
		return rm, dht.ErrUnknownHashAlg
	}
	h, ok := dht.ParseHash(a.ValueHash.Hash)
	if !ok {
		return rm, dht.ErrBadValueHash
	}
	rm.ValueHash = h
	return rm, rm.Validate()
}

// checkGetReply refuses a Backend reply that the wire cannot carry.
func checkGetReply(rep dht.GetReply) error {
	if len(rep.Placemark) > dht.MaxPlacemarkLen {
		return dht.ErrBadPlacemark
	}
	for _, v := range rep.Values {
		if len(v.Value) > dht.MaxValueLen || v.TTLRemaining < 0 || v.TTLRemaining > dht.MaxTTL {
			return fmt.Errorf("sunrpc: value of %d bytes with ttl %d", len(v.Value), v.TTLRemaining)
		}
	}
	return nil
}

// getResult is a checked reply in version 3's form, with details.
func getResult(rep dht.GetReply) GetResult {
	res := GetResult{Placemark: rep.Placemark, Values: make([]GetValue, 0, len(rep.Values))}
	for _, v := range rep.Values {
		gv := GetValue{Value: v.Value, TTLSecRem: int32(v.TTLRemaining)}
		if alg := v.HashAlg(); alg != "" {
			gv.SecretHash = Hash{Algorithm: alg, Hash: bytes.Clone(v.SecretHash[:])}
		}
		res.Values = append(res.Values, gv)
	}
	return res
}

// getResultV2 is a checked reply in version 2's form: bare values.
func getResultV2(rep dht.GetReply) GetResultV2 {
	res := GetResultV2{Placemark: rep.Placemark, Values: make([][]byte, 0, len(rep.Values))}
	for _, v := range rep.Values {
		res.Values = append(res.Values, v.Value)
	}
	return res
}
