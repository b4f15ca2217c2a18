package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        cfg.Conns * len(cfg.Gateways),
		MaxIdleConnsPerHost: cfg.Conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}}
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
		if f.Code == xmlrpc.FaultInternal {
			return xmlrpc.Value{}, fmt.Errorf("%s: gateway fault %d: %s", method, f.Code, f.String)
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

func (x *xmlrpcTransport) get(ctx context.Context, key dht.Key, maxvals int, placemark []byte) (Page, error) {
	v, err := x.invoke(ctx, "get_details", xmlrpc.Base64Value(key[:]), xmlrpc.IntValue(clampInt32(int64(maxvals))),
		xmlrpc.Base64Value(placemark), xmlrpc.StringValue(x.app))
	if err != nil {
		return Page{}, err
	}
	return parseDetails(v)
}

// ping gets one value under the zero key: the original API has no ping.
func (x *xmlrpcTransport) ping(ctx context.Context) error {
	_, err := x.get(ctx, dht.Key{}, 1, nil)
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
