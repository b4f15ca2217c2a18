package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// maxResponseBytes bounds a gateway's reply body: a get page of a few
// thousand maximal values.
const maxResponseBytes = 8 << 20

// xmlrpcTransport speaks the original XML-RPC API: put, put_removable,
// get_details and rm.
type xmlrpcTransport struct {
	url string
	app string
	hc  *http.Client
}

func newHTTPClient(cfg Config) *http.Client {
	var rt http.RoundTripper = &http.Transport{
		MaxIdleConns:        cfg.Conns * len(cfg.Gateways),
		MaxIdleConnsPerHost: cfg.Conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	if cfg.APIKey != "" {
		rt = keyed{rt, "Bearer " + cfg.APIKey}
	}
	return &http.Client{Transport: rt}
}

// keyed sends the API key with every request (spec section 20, AC-2): one
// header serves XML-RPC and the JSON API alike.
type keyed struct {
	rt   http.RoundTripper
	auth string
}

func (k keyed) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", k.auth)
	return k.rt.RoundTrip(r)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport beneath.
func (k keyed) CloseIdleConnections() {
	if c, ok := k.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func newXMLRPC(addr string, cfg Config) *xmlrpcTransport {
	return &xmlrpcTransport{url: "http://" + addr + "/", app: cfg.Application, hc: newHTTPClient(cfg)}
}

func (x *xmlrpcTransport) close() error {
	x.hc.CloseIdleConnections()
	return nil
}

// invoke calls method and returns its single result.
func (x *xmlrpcTransport) invoke(ctx context.Context, method string, params ...xmlrpc.Value) (xmlrpc.Value, error) {
	body := xmlrpc.EncodeMethodCall(&xmlrpc.MethodCall{Method: method, Params: params})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.url, bytes.NewReader(body))
	if err != nil {
		return xmlrpc.Value{}, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := x.hc.Do(req)
	if err != nil {
		return xmlrpc.Value{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return xmlrpc.Value{}, err
	}
	if len(data) > maxResponseBytes {
		return xmlrpc.Value{}, fmt.Errorf("%s: reply larger than %d bytes", method, maxResponseBytes)
	}
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return xmlrpc.Value{}, invalid("%s: HTTP %s: %s", method, resp.Status, firstLine(data))
	case resp.StatusCode != http.StatusOK:
		return xmlrpc.Value{}, fmt.Errorf("%s: HTTP %s", method, resp.Status)
	}
	mr, err := xmlrpc.ParseMethodResponse(data)
	if err != nil {
		return xmlrpc.Value{}, fmt.Errorf("%s: %w", method, err)
	}
	if f := mr.Fault; f != nil {
		switch f.Code {
		case xmlrpc.FaultInternal:
			return xmlrpc.Value{}, &failedError{fmt.Sprintf("%s: gateway fault %d: %s", method, f.Code, f.String)}
		case xmlrpc.FaultOutcomeUnknown:
			return xmlrpc.Value{}, &unknownOutcomeError{fmt.Errorf("gateway fault %d: %s", f.Code, trimOutcome(f.String))}
		case xmlrpc.FaultUnknownMethod:
			return xmlrpc.Value{}, fmt.Errorf("%s: %w by the gateway: %s", method, ErrNotSupported, f.String)
		}
		return xmlrpc.Value{}, invalid("%s", f.String)
	}
	if len(mr.Params) != 1 {
		return xmlrpc.Value{}, fmt.Errorf("%s: %d results, want 1", method, len(mr.Params))
	}
	return mr.Params[0], nil
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(bytes.TrimSpace(b))
}

func (x *xmlrpcTransport) status(ctx context.Context, method string, params ...xmlrpc.Value) (dht.Status, error) {
	v, err := x.invoke(ctx, method, params...)
	if err != nil {
		return 0, err
	}
	n, err := xmlInt(v)
	if err != nil {
		return 0, fmt.Errorf("%s: status: %w", method, err)
	}
	return dht.Status(n), nil
}

func (x *xmlrpcTransport) put(ctx context.Context, p dht.Put) (dht.Status, error) {
	if p.SecretHash == dht.ZeroHash {
		return x.status(ctx, "put", xmlrpc.Base64Value(p.Key[:]), xmlrpc.Base64Value(p.Value),
			xmlrpc.IntValue(clampInt32(p.TTL)), xmlrpc.StringValue(x.app))
	}
	return x.status(ctx, "put_removable", xmlrpc.Base64Value(p.Key[:]), xmlrpc.Base64Value(p.Value),
		xmlrpc.StringValue("SHA"), xmlrpc.Base64Value(p.SecretHash[:]), xmlrpc.IntValue(clampInt32(p.TTL)), xmlrpc.StringValue(x.app))
}

func (x *xmlrpcTransport) remove(ctx context.Context, r dht.Remove) (dht.Status, error) {
	return x.status(ctx, "rm", xmlrpc.Base64Value(r.Key[:]), xmlrpc.Base64Value(r.ValueHash[:]), xmlrpc.StringValue("SHA"),
		xmlrpc.Base64Value(r.Secret), xmlrpc.IntValue(clampInt32(r.TTL)), xmlrpc.StringValue(x.app))
}

func (x *xmlrpcTransport) get(ctx context.Context, key dht.Key, maxvals int, placemark []byte, fast bool) (Page, error) {
	method := "get_details"
	if fast {
		method = "get_details_fast" // RD-14: not in the original API
	}
	v, err := x.invoke(ctx, method, xmlrpc.Base64Value(key[:]), xmlrpc.IntValue(clampInt32(int64(maxvals))),
		xmlrpc.Base64Value(placemark), xmlrpc.StringValue(x.app))
	if err != nil {
		return Page{}, err
	}
	return parseDetails(v)
}

func (x *xmlrpcTransport) cas(ctx context.Context, c dht.CAS) (dht.CASResult, error) {
	// An expected version beyond 32 bits goes as a decimal string, which
	// the gateway reads like an int (an <i8> is not in every XML-RPC).
	expected := xmlrpc.IntValue(int64(c.Expected))
	if c.Expected > math.MaxInt32 {
		expected = xmlrpc.StringValue(strconv.FormatUint(c.Expected, 10))
	}
	v, err := x.invoke(ctx, "cas", xmlrpc.Base64Value(c.Key[:]), expected, xmlrpc.Base64Value(c.Value),
		xmlrpc.IntValue(clampInt32(c.TTL)), xmlrpc.StringValue(x.app))
	if err != nil {
		return dht.CASResult{}, casOutcome(err)
	}
	m, err := members(v, "ok", "version", "value")
	if err != nil {
		return dht.CASResult{}, casOutcome(fmt.Errorf("cas: malformed reply: %w", err))
	}
	if m[0].Kind != xmlrpc.Bool {
		return dht.CASResult{}, casOutcome(errors.New("cas: malformed reply: ok is not a boolean"))
	}
	reg, err := versioned(m[1], m[2])
	if err != nil {
		return dht.CASResult{}, casOutcome(fmt.Errorf("cas: malformed reply: %w", err))
	}
	return dht.CASResult{OK: m[0].Bool, Versioned: reg}, nil
}

func (x *xmlrpcTransport) readRegister(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	v, err := x.invoke(ctx, "read", xmlrpc.Base64Value(key[:]), xmlrpc.StringValue(x.app))
	if err != nil {
		return dht.Versioned{}, err
	}
	m, err := members(v, "version", "value")
	if err != nil {
		return dht.Versioned{}, fmt.Errorf("read: malformed reply: %w", err)
	}
	reg, err := versioned(m[0], m[1])
	if err != nil {
		return dht.Versioned{}, fmt.Errorf("read: malformed reply: %w", err)
	}
	return reg, nil
}

// members returns the members of struct v with the given names, in their
// order; each must be there.
func members(v xmlrpc.Value, names ...string) ([]xmlrpc.Value, error) {
	if v.Kind != xmlrpc.Struct {
		return nil, fmt.Errorf("want a struct, got %v", v.Kind)
	}
	out := make([]xmlrpc.Value, len(names))
	for i, name := range names {
		found := false
		for _, m := range v.Members {
			if m.Name == name {
				out[i], found = m.Value, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no member %q", name)
		}
	}
	return out, nil
}

// versioned reads a register's version (an int, or a decimal string
// beyond 63 bits) and value.
func versioned(version, value xmlrpc.Value) (dht.Versioned, error) {
	var r dht.Versioned
	switch version.Kind {
	case xmlrpc.Int:
		if version.Int < 0 {
			return r, fmt.Errorf("negative version %d", version.Int)
		}
		r.Version = uint64(version.Int)
	case xmlrpc.String:
		n, err := strconv.ParseUint(version.Str, 10, 64)
		if err != nil {
			return r, fmt.Errorf("version %q", version.Str)
		}
		r.Version = n
	default:
		return r, fmt.Errorf("version is a %v", version.Kind)
	}
	b, err := xmlBytes(value)
	if err != nil {
		return r, fmt.Errorf("value: %w", err)
	}
	if len(b) > 0 {
		r.Value = b
	}
	return r, nil
}

// ping gets one value under the zero key: the original API has no ping.
func (x *xmlrpcTransport) ping(ctx context.Context) error {
	_, err := x.get(ctx, dht.Key{}, 1, nil, false)
	return err
}

// parseDetails reads [[[value, ttl_remaining, hash_alg, secret_hash], ...],
// placemark].
func parseDetails(v xmlrpc.Value) (Page, error) {
	bad := func(what string) (Page, error) { return Page{}, fmt.Errorf("get_details: malformed reply: %s", what) }
	if v.Kind != xmlrpc.Array || len(v.Array) != 2 || v.Array[0].Kind != xmlrpc.Array {
		return bad("want [values, placemark]")
	}
	var p Page
	for _, e := range v.Array[0].Array {
		if e.Kind != xmlrpc.Array || len(e.Array) != 4 {
			return bad("want [value, ttl, hash_alg, secret_hash]")
		}
		data, err := xmlBytes(e.Array[0])
		if err != nil {
			return bad("value: " + err.Error())
		}
		ttl, err := xmlInt(e.Array[1])
		if err != nil {
			return bad("ttl: " + err.Error())
		}
		sh, err := xmlBytes(e.Array[3])
		if err != nil {
			return bad("secret hash: " + err.Error())
		}
		val := Value{Data: data, TTL: time.Duration(ttl) * time.Second}
		if len(sh) > 0 {
			h, ok := dht.ParseHash(sh)
			if !ok {
				return bad(fmt.Sprintf("secret hash of %d bytes", len(sh)))
			}
			val.SecretHash = h
		}
		p.Values = append(p.Values, val)
	}
	pm, err := xmlBytes(v.Array[1])
	if err != nil {
		return bad("placemark: " + err.Error())
	}
	p.Placemark = pm
	return p, nil
}

func xmlBytes(v xmlrpc.Value) ([]byte, error) {
	switch v.Kind {
	case xmlrpc.Base64:
		return v.Bytes, nil
	case xmlrpc.String:
		return xmlrpc.DecodeBase64(v.Str)
	}
	return nil, errors.New("not base64")
}

func xmlInt(v xmlrpc.Value) (int64, error) {
	switch v.Kind {
	case xmlrpc.Int:
		return v.Int, nil
	case xmlrpc.String:
		return strconv.ParseInt(v.Str, 10, 32)
	}
	return 0, errors.New("not an int")
}

func clampInt32(n int64) int64 { return min(max(n, -1<<31), 1<<31-1) }
