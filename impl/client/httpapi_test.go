package client

import (
	"context"
	"errors"
	"net"

	"github.com/opendht-go/opendht/impl/gateway"
)

// serveHTTPAPI serves the JSON API on ln until ctx ends.
func serveHTTPAPI(ctx context.Context, ln net.Listener, b gateway.Backend) error {
	<-ctx.Done()
	_ = ln.Close()
	return errors.New("not yet")
}
