package client

import (
	"context"
	"net"

	"github.com/opendht-go/opendht/impl/gateway"
	"github.com/opendht-go/opendht/impl/gateway/httpapi"
	"github.com/opendht-go/opendht/impl/gateway/xmlrpc"
)

// serveHTTPAPI serves the JSON API on ln until ctx ends, as a node does:
// under /api/ on the XML-RPC gateway's port.
func serveHTTPAPI(ctx context.Context, ln net.Listener, b gateway.Backend) error {
	xc := xmlrpc.DefaultConfig()
	xc.API = httpapi.New(b, httpapi.DefaultConfig())
	return xmlrpc.New(b, xc).ServeListener(ctx, ln)
}
