// Package gateway holds what the client gateways of a node share: the
// Backend they execute requests on, and the mapping from the original
// OpenDHT client API to it (see ../../../shared/reference/OPENDHT.md §2).
// Each protocol lives in a subpackage: xmlrpc (node port + 1), sunrpc
// (node port + 2).
package gateway

import (
	"context"

	"github.com/opendht-go/opendht/impl/dht"
)

// Backend executes client requests in the DHT. *node.Server implements it;
// tests use an in-memory one. The gateway fills in Put.Client and
// Remove.Client with the client's IP address (FST-5: fairness per client
// is carried to every replica).
type Backend interface {
	Put(ctx context.Context, p dht.Put) (dht.Status, error)
	Remove(ctx context.Context, r dht.Remove) (dht.Status, error)
	Get(ctx context.Context, g dht.Get) (dht.GetReply, error)
}
