package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/largevalue"
)

// SecretHeader carries the secret of a removable large value, in base64
// (a header, not the query, so that it stays out of access logs).
const SecretHeader = "X-OpenDHT-Secret"

// Headers of a large value's GET and PUT answers.
const (
	// SizeHeader is the value's length in bytes (also Content-Length).
	SizeHeader = "X-OpenDHT-Size"
	// TTLHeader is the seconds the value has left.
	TTLHeader = "X-OpenDHT-TTL-Remaining"
	// VersionHeader names the write: the SHA-1 of its root manifest, hex.
	VersionHeader = "X-OpenDHT-Version"
)

// LargeResponse is the body of a successful PUT or DELETE of a large
// value.
type LargeResponse struct {
	Status int    `json:"status"`
	Result string `json:"result"`
	// Size, Blocks, TTL and Version describe the value a PUT stored: its
	// length in bytes, its data blocks, the seconds it lives and the SHA-1
	// of its root manifest in hex.
	Size    int64  `json:"size,omitempty"`
	Blocks  int64  `json:"blocks,omitempty"`
	TTL     int64  `json:"ttl,omitempty"`
	Version string `json:"version,omitempty"`
}

// BodyLimit is the largest request body the API reads on r's path, for the
// server it shares a port with: a large value's PUT reads up to the
// large-value layer's MaxSize (and refuses a byte more itself), every other
// request the API's MaxBodyBytes.
func (h *Handler) BodyLimit(r *http.Request) int64 {
	if strings.HasPrefix(r.URL.Path, Prefix+"large/") {
		return h.cfg.Large.MaxSize + 1
	}
	return h.cfg.MaxBodyBytes
}

// chargedBackend is the large-value layer's DHT at a gateway: every put
// and rm is charged to the client of the HTTP connection (FST-5, LV-8),
// and every call is bounded by the call timeout.
type chargedBackend struct {
	b       gateway.Backend
	client  dht.ClientID
	timeout time.Duration
}

func (c chargedBackend) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p.Client = c.client
	return c.b.Put(ctx, p)
}

func (c chargedBackend) Remove(ctx context.Context, r dht.Remove) (dht.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	r.Client = c.client
	return c.b.Remove(ctx, r)
}

func (c chargedBackend) Get(ctx context.Context, g dht.Get) (dht.GetReply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return c.b.Get(ctx, g)
}

// large serves /api/v1/large/{key}.
func (h *Handler) large(w http.ResponseWriter, r *http.Request, key dht.Key) {
	select {
	case h.streams <- struct{}{}:
		defer func() { <-h.streams }()
	default:
		w.Header().Set("Retry-After", "1")
		h.fail(w, r, http.StatusServiceUnavailable, fmt.Sprintf("the gateway serves %d large values at once: try again", cap(h.streams)))
		return
	}
	l := largevalue.New(chargedBackend{h.b, gateway.ClientOf(r), h.cfg.CallTimeout}, h.cfg.Large)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.largeGet(w, r, l, key)
	case http.MethodPut, http.MethodPost:
		h.largePut(w, r, l, key)
	case http.MethodDelete:
		h.largeRemove(w, r, l, key)
	}
}

// secret reads the secret header: nil when absent.
func (h *Handler) secret(r *http.Request) ([]byte, error) {
	v := r.Header.Get(SecretHeader)
	if v == "" {
		return nil, nil
	}
	return decodeBase64(SecretHeader, v, dht.MaxSecretLen, dht.ErrSecretTooLong)
}

// progress moves a connection's deadline on as bytes flow, so that a large
// value may take as long as it needs while a stalled one is cut after
// LargeIdle.
type progress struct {
	set  func(time.Time) error
	idle time.Duration
	last time.Time
}

func (p *progress) tick() {
	now := time.Now()
	if now.Sub(p.last) < p.idle/8 {
		return
	}
	p.last = now
	_ = p.set(now.Add(p.idle)) // not every ResponseWriter can: then the server's timeouts stay
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr progressReader) Read(b []byte) (int, error) {
	pr.p.tick()
	return pr.r.Read(b)
}

func (h *Handler) largePut(w http.ResponseWriter, r *http.Request, l *largevalue.Layer, key dht.Key) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("query is malformed: %v", err))
		return
	}
	ttl := int64(DefaultTTL)
	for name, vs := range q {
		if name != "ttl" || len(vs) != 1 {
			h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("unknown or repeated query parameter %q (the parameter is ttl)", truncate(name)))
			return
		}
		if ttl, err = strconv.ParseInt(vs[0], 10, 64); err != nil || ttl <= 0 {
			h.fail(w, r, http.StatusBadRequest, dht.ErrBadTTL.Error())
			return
		}
	}
	secret, err := h.secret(r)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if r.ContentLength > h.cfg.Large.MaxSize {
		h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("value is larger than %d bytes", h.cfg.Large.MaxSize))
		return
	}
	rc := http.NewResponseController(w)
	body := progressReader{r.Body, &progress{set: rc.SetReadDeadline, idle: h.cfg.LargeIdle}}
	wp := &progress{set: rc.SetWriteDeadline, idle: h.cfg.LargeIdle}
	wp.tick()
	info, err := l.Put(r.Context(), key, body, largevalue.PutOptions{TTL: ttl, Secret: secret, Client: gateway.ClientOf(r)})
	wp.last = time.Time{}
	wp.tick()
	h.log.Debug("httpapi: put large", "client", gateway.ClientOf(r), "key", key, "size", info.Size, "err", err)
	if err != nil {
		h.largeFailed(w, r, "put", err)
		return
	}
	h.reply(w, http.StatusOK, LargeResponse{Status: 0, Result: "success", Size: info.Size, Blocks: info.Blocks,
		TTL: int64(info.TTL / time.Second), Version: info.Version.String()})
}

func (h *Handler) largeRemove(w http.ResponseWriter, r *http.Request, l *largevalue.Layer, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	secret, err := h.secret(r)
	if err == nil && secret == nil {
		err = fmt.Errorf("a remove needs the value's secret in the %s header (base64)", SecretHeader)
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	err = l.Remove(r.Context(), key, secret, gateway.ClientOf(r))
	h.log.Debug("httpapi: rm large", "client", gateway.ClientOf(r), "key", key, "err", err)
	if err != nil {
		h.largeFailed(w, r, "rm", err)
		return
	}
	h.reply(w, http.StatusOK, LargeResponse{Status: 0, Result: "success"})
}

// headerWriter writes the headers of a large value's GET before its first
// byte, so that an error found before then is still a JSON error, and
// moves the write deadline on as bytes flow.
type headerWriter struct {
	w       http.ResponseWriter
	info    largevalue.Info
	started bool
	p       *progress
}

func (hw *headerWriter) start() {
	hw.started = true
	hd := hw.w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(hw.info.Size, 10))
	hd.Set(SizeHeader, strconv.FormatInt(hw.info.Size, 10))
	hd.Set(TTLHeader, strconv.FormatInt(int64(hw.info.TTL/time.Second), 10))
	hd.Set(VersionHeader, hw.info.Version.String())
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hw.w.WriteHeader(http.StatusOK)
}

func (hw *headerWriter) Write(b []byte) (int, error) {
	if !hw.started {
		hw.start()
	}
	hw.p.tick()
	return hw.w.Write(b)
}

func (h *Handler) largeGet(w http.ResponseWriter, r *http.Request, l *largevalue.Layer, key dht.Key) {
	if !h.noQuery(w, r) {
		return
	}
	hw := &headerWriter{w: w, p: &progress{set: http.NewResponseController(w).SetWriteDeadline, idle: h.cfg.LargeIdle}}
	hw.p.tick()
	var err error
	if r.Method == http.MethodHead {
		hw.info, err = l.Stat(r.Context(), key)
	} else {
		_, err = l.Get(r.Context(), key, hw, func(i largevalue.Info) { hw.info = i })
	}
	h.log.Debug("httpapi: get large", "client", gateway.ClientOf(r), "key", key, "size", hw.info.Size, "err", err)
	switch {
	case err == nil && !hw.started:
		hw.start()
	case err != nil && !hw.started:
		h.largeFailed(w, r, "get", err)
	case err != nil:
		// The status and part of the body are sent: cut the connection, so
		// that the client sees a body shorter than its Content-Length and
		// never takes it for the value (LV-4).
		panic(http.ErrAbortHandler)
	}
}

// largeFailed answers a large-value operation's error: 404 for no value,
// 400 and 413 for the request's fault, 507 and 503 for status 1 and 2,
// 502 for a block that is missing or corrupt (the error names it), 504 for
// a timeout, 500 otherwise.
func (h *Handler) largeFailed(w http.ResponseWriter, r *http.Request, op string, err error) {
	var status *int
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, largevalue.ErrNotFound), errors.Is(err, largevalue.ErrNotRemovable):
		code = http.StatusNotFound
	case errors.Is(err, largevalue.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, largevalue.ErrTTLTooShort), errors.Is(err, largevalue.ErrBadSecret), gateway.RequestError(err) != nil:
		code = http.StatusBadRequest
	case errors.Is(err, largevalue.ErrOverCapacity):
		code, status = http.StatusInsufficientStorage, new(int(dht.StatusOverCapacity))
	case errors.Is(err, largevalue.ErrTryAgain):
		code, status = http.StatusServiceUnavailable, new(int(dht.StatusTryAgain))
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, largevalue.ErrMissing), errors.Is(err, largevalue.ErrCorrupt), errors.Is(err, largevalue.ErrMalformed):
		code = http.StatusBadGateway
	case gateway.IsTimeout(err):
		code = http.StatusGatewayTimeout
	case errors.Is(err, largevalue.ErrReading):
		code = http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			code = http.StatusRequestEntityTooLarge
		}
	}
	msg := fmt.Sprintf("%s large: %v", op, err)
	if status != nil {
		h.reply(w, code, struct {
			Status int    `json:"status"`
			Result string `json:"result"`
			Error  string `json:"error"`
		}{*status, dht.Status(*status).String(), msg})
		return
	}
	h.fail(w, r, code, msg)
}
