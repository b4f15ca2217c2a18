package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// httpTransport speaks the JSON API under /api/v1/.
type httpTransport struct {
	base string
	app  string
	hc   *http.Client
}

func newHTTP(addr string, cfg Config) *httpTransport {
	return &httpTransport{base: "http://" + addr + "/api/v1", app: cfg.Application, hc: newHTTPClient(cfg)}
}

func (h *httpTransport) close() error {
	h.hc.CloseIdleConnections()
	return nil
}

// apiReply is every field any /api/v1 reply may carry.
type apiReply struct {
	Status *int   `json:"status"`
	Error  string `json:"error"`
	Values []struct {
		Value        []byte `json:"value"`
		TTLRemaining int64  `json:"ttl_remaining"`
		HashAlg      string `json:"hash_alg"`
		SecretHash   string `json:"secret_hash"`
	} `json:"values"`
	Placemark string `json:"placemark"`
}

// do sends a request and decodes the JSON reply. 4xx answers are invalid
// requests, except 429; 507 and 503 carry status 1 and 2.
func (h *httpTransport) do(ctx context.Context, method, path string, body any) (apiReply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiReply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return apiReply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return apiReply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return apiReply{}, err
	}
	if len(data) > maxResponseBytes {
		return apiReply{}, fmt.Errorf("%s %s: reply larger than %d bytes", method, path, maxResponseBytes)
	}
	var r apiReply
	jerr := json.Unmarshal(data, &r)
	switch {
	case resp.StatusCode == http.StatusOK && jerr == nil:
		return r, nil
	case (resp.StatusCode == http.StatusInsufficientStorage || resp.StatusCode == http.StatusServiceUnavailable) && jerr == nil && r.Status != nil:
		return r, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		msg := r.Error
		if jerr != nil || msg == "" {
			msg = firstLine(data)
		}
		return apiReply{}, invalid("%s", msg)
	case jerr != nil:
		return apiReply{}, fmt.Errorf("%s %s: HTTP %s: %w", method, path, resp.Status, jerr)
	}
	return apiReply{}, fmt.Errorf("%s %s: HTTP %s: %s", method, path, resp.Status, r.Error)
}

func keyPath(k dht.Key) string { return "/keys/" + hex.EncodeToString(k[:]) }

func (h *httpTransport) status(r apiReply) (dht.Status, error) {
	if r.Status == nil {
		return 0, fmt.Errorf("reply without a status")
	}
	if r.Error == dht.ErrOverQuota.Error() { // status 1 to the original API, over quota to us (AC-7)
		return 0, invalid("%s", r.Error)
	}
	return dht.Status(*r.Status), nil
}

func (h *httpTransport) put(ctx context.Context, p dht.Put) (dht.Status, error) {
	body := map[string]any{"value": p.Value, "ttl": p.TTL, "application": h.app}
	if p.SecretHash != dht.ZeroHash {
		body["secret_hash"] = p.SecretHash[:]
	}
	r, err := h.do(ctx, http.MethodPost, keyPath(p.Key), body)
	if err != nil {
		return 0, err
	}
	return h.status(r)
}

func (h *httpTransport) remove(ctx context.Context, rm dht.Remove) (dht.Status, error) {
	body := map[string]any{"value_hash": rm.ValueHash[:], "secret": rm.Secret, "ttl": rm.TTL}
	if rm.Secret == nil {
		body["secret"] = []byte{}
	}
	r, err := h.do(ctx, http.MethodDelete, keyPath(rm.Key), body)
	if err != nil {
		return 0, err
	}
	return h.status(r)
}

func (h *httpTransport) get(ctx context.Context, key dht.Key, maxvals int, placemark []byte, fast bool) (Page, error) {
	q := url.Values{"maxvals": {strconv.Itoa(maxvals)}}
	if fast {
		q.Set("read", "fast") // RD-14
	}
	if len(placemark) > 0 {
		q.Set("placemark", base64.RawURLEncoding.EncodeToString(placemark))
	}
	r, err := h.do(ctx, http.MethodGet, keyPath(key)+"?"+q.Encode(), nil)
	if err != nil {
		return Page{}, err
	}
	var p Page
	for _, v := range r.Values {
		val := Value{Data: v.Value, TTL: time.Duration(v.TTLRemaining) * time.Second}
		if v.SecretHash != "" {
			b, err := decodeB64(v.SecretHash)
			h, ok := dht.ParseHash(b)
			if err != nil || !ok {
				return Page{}, fmt.Errorf("get: malformed secret hash %q", v.SecretHash)
			}
			val.SecretHash = h
		}
		p.Values = append(p.Values, val)
	}
	if r.Placemark != "" {
		pm, err := decodeB64(r.Placemark)
		if err != nil {
			return Page{}, fmt.Errorf("get: malformed placemark %q", r.Placemark)
		}
		p.Placemark = pm
	}
	return p, nil
}

// registerReply is every field a /registers/ reply may carry; absent
// fields stay nil, so that a reply missing one is malformed. Versions are
// read into a uint64: exact up to 2^64-1.
type registerReply struct {
	OK      *bool   `json:"ok"`
	Version *uint64 `json:"version"`
	Value   *string `json:"value"`
	Error   string  `json:"error"`
	Outcome string  `json:"outcome"`
}

// doRegister sends a request to a register and decodes the reply. A 4xx
// is a refused request (nothing changed), a 501 a node without registers,
// a 500 with an error the gateway's report of a failure (a cas that
// failed so was not sent anywhere); the rest is an error that casOutcome
// turns into an unknown outcome.
func (h *httpTransport) doRegister(ctx context.Context, method, path string, body any) (registerReply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return registerReply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return registerReply{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return registerReply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return registerReply{}, err
	}
	if len(data) > maxResponseBytes {
		return registerReply{}, fmt.Errorf("%s %s: reply larger than %d bytes", method, path, maxResponseBytes)
	}
	var r registerReply
	jerr := json.Unmarshal(data, &r)
	msg := r.Error
	if jerr != nil || msg == "" {
		msg = firstLine(data)
	}
	switch {
	case resp.StatusCode == http.StatusOK && jerr == nil:
		return r, nil
	case resp.StatusCode == http.StatusNotImplemented:
		return registerReply{}, fmt.Errorf("%s %s: %w by the gateway: %s", method, path, ErrNotSupported, msg)
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return registerReply{}, invalid("%s", msg)
	case resp.StatusCode == http.StatusInternalServerError && jerr == nil && r.Error != "":
		return registerReply{}, &failedError{fmt.Sprintf("%s %s: HTTP %s: %s", method, path, resp.Status, msg)}
	case jerr != nil && resp.StatusCode == http.StatusOK:
		return registerReply{}, fmt.Errorf("%s %s: HTTP %s: %w", method, path, resp.Status, jerr)
	case r.Outcome == "unknown":
		return registerReply{}, &unknownOutcomeError{fmt.Errorf("HTTP %s: %s", resp.Status, trimOutcome(msg))}
	}
	return registerReply{}, fmt.Errorf("%s %s: HTTP %s: %s", method, path, resp.Status, msg)
}

func registerPath(k dht.Key) string { return "/registers/" + hex.EncodeToString(k[:]) }

// versioned reads the version and value of a register reply.
func (r registerReply) versioned() (dht.Versioned, error) {
	if r.Version == nil || r.Value == nil {
		return dht.Versioned{}, errors.New("malformed reply: no version or value")
	}
	v := dht.Versioned{Version: *r.Version}
	if *r.Value != "" {
		b, err := decodeB64(*r.Value)
		if err != nil {
			return dht.Versioned{}, fmt.Errorf("malformed reply: value %w", err)
		}
		v.Value = b
	}
	return v, nil
}

func (h *httpTransport) cas(ctx context.Context, c dht.CAS) (dht.CASResult, error) {
	body := map[string]any{"expected": c.Expected, "value": c.Value, "ttl": c.TTL, "application": h.app}
	r, err := h.doRegister(ctx, http.MethodPost, registerPath(c.Key), body)
	if err != nil {
		return dht.CASResult{}, casOutcome(err)
	}
	v, err := r.versioned()
	if err == nil && r.OK == nil {
		err = errors.New("malformed reply: no ok")
	}
	if err != nil {
		return dht.CASResult{}, casOutcome(fmt.Errorf("cas: %w", err))
	}
	return dht.CASResult{OK: *r.OK, Versioned: v}, nil
}

func (h *httpTransport) readRegister(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	r, err := h.doRegister(ctx, http.MethodGet, registerPath(key), nil)
	if err != nil {
		return dht.Versioned{}, err
	}
	v, err := r.versioned()
	if err != nil {
		return dht.Versioned{}, fmt.Errorf("read: %w", err)
	}
	return v, nil
}

func (h *httpTransport) ping(ctx context.Context) error {
	_, err := h.do(ctx, http.MethodGet, "/status", nil)
	return err
}

// decodeB64 accepts both base64 alphabets, padded or not.
func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not base64: %q", s)
}
