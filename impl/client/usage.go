package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// Usage returns a gateway's usage report (spec section 20, AC-8): the row
// of the account of Config.APIKey, or with the provider's admin key the
// rows of every account of the provider. It is served by gateways with
// accounts, over XML-RPC's port and the HTTP API (GET /api/v1/usage); over
// Sun RPC it is ErrNotSupported. The report is the answering gateway's:
// its ledger and its node's store.
func (c *Client) Usage(ctx context.Context) (gateway.UsageReport, error) {
	var rep gateway.UsageReport
	err := c.call(ctx, func(ctx context.Context, t transport) (dht.Status, error) {
		var get func(ctx context.Context) (gateway.UsageReport, error)
		switch t := t.(type) {
		case *httpTransport:
			get = func(ctx context.Context) (gateway.UsageReport, error) { return usageAt(ctx, t.hc, t.base+"/usage") }
		case *xmlrpcTransport:
			get = func(ctx context.Context) (gateway.UsageReport, error) {
				return usageAt(ctx, t.hc, strings.TrimSuffix(t.url, "/")+"/api/v1/usage")
			}
		default:
			return 0, fmt.Errorf("usage: %w over %s (use xmlrpc or http)", ErrNotSupported, c.cfg.Protocol)
		}
		r, err := get(ctx)
		rep = r
		return dht.StatusOK, err
	})
	return rep, err
}

func usageAt(ctx context.Context, hc *http.Client, url string) (gateway.UsageReport, error) {
	var rep gateway.UsageReport
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return rep, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return rep, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return rep, err
	}
	if len(data) > maxResponseBytes {
		return rep, fmt.Errorf("usage: reply larger than %d bytes", maxResponseBytes)
	}
	var e struct {
		Error string `json:"error"`
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_ = json.Unmarshal(data, &e)
		return rep, fmt.Errorf("usage: %w by the gateway: %s", ErrNotSupported, e.Error)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = firstLine(data)
		}
		return rep, invalid("usage: %s", e.Error)
	case resp.StatusCode != http.StatusOK:
		return rep, fmt.Errorf("usage: HTTP %s", resp.Status)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("usage: %w", err)
	}
	return rep, nil
}
