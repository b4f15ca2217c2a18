// Package gateway holds what the client gateways of a node share: the
// Backend they execute requests on, the mapping from the original OpenDHT
// client API to it (spec/CLIENT-API.md), and the
// client identity a write is charged to. Each protocol lives in a
// subpackage: xmlrpc (node port + 1), httpapi (the HTTP/JSON API, under
// /api/ on the XML-RPC port), sunrpc (node port + 2).
package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/opendht-go/opendht/impl/dht"
)

// Backend executes client requests in the DHT. *driver.Server implements it;
// tests use an in-memory one. The gateway fills in Put.Client and
// Remove.Client with the client's IP address (FST-5: fairness per client
// is carried to every replica).
//
// An error that reports Timeout() == true (as context.DeadlineExceeded
// does) means the DHT did not answer in time: the client may try again.
type Backend interface {
	Put(ctx context.Context, p dht.Put) (dht.Status, error)
	Remove(ctx context.Context, r dht.Remove) (dht.Status, error)
	Get(ctx context.Context, g dht.Get) (dht.GetReply, error)
}

// RegisterBackend executes the register operations of spec/SPEC.md
// section 11 (compare-and-set on versioned registers, and linearizable
// reads). *driver.Server implements it; a gateway whose Backend does not
// answers register calls with an error naming the missing capability.
//
// The error contract: nil and the answer; an error in RequestError's set
// (or dht.ErrBadExpected) when the request was refused for its arguments,
// and then nothing changed (CAS-8); an error reporting Timeout() == true
// when the outcome is unknown: the cas may or may not have taken effect,
// and the client must read before it tries again (CAS-11); any other error
// is a failure of the node before the request was sent anywhere.
type RegisterBackend interface {
	CAS(ctx context.Context, c dht.CAS) (dht.CASResult, error)
	ReadRegister(ctx context.Context, key dht.Key) (dht.Versioned, error)
}

// ErrNoRegisters answers a register call on a gateway whose Backend is not
// a RegisterBackend.
var ErrNoRegisters = errors.New("registers (cas, read) are not supported by this gateway's node")

// Registers returns b as a RegisterBackend, or ErrNoRegisters.
func Registers(b Backend) (RegisterBackend, error) {
	rb, ok := b.(RegisterBackend)
	if !ok {
		return nil, ErrNoRegisters
	}
	return rb, nil
}

// UnknownOutcomeText starts every gateway's answer to a cas whose outcome
// is unknown (CAS-11): the cas may or may not have taken effect, and only
// a read tells.
const UnknownOutcomeText = "outcome unknown: read the register before trying again"

// IsTimeout reports whether err says that the DHT did not answer in time:
// it reports Timeout() == true, or is context.DeadlineExceeded. For a put
// or a get the client may simply try again; for a cas the outcome is
// unknown.
func IsTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}

// ClientOf returns the identity an HTTP request is charged to: the remote
// IP address of its connection, without the port (FST-5). Headers such as
// X-Forwarded-For are ignored: a client could write any address there and
// so escape its share.
func ClientOf(r *http.Request) dht.ClientID {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return dht.ClientID(r.RemoteAddr)
	}
	return dht.ClientID(host)
}

// requestErrors are the dht errors caused by a client's arguments; their
// texts are the original fault texts.
var requestErrors = []error{
	dht.ErrKeyTooLong, dht.ErrValueTooLong, dht.ErrSecretTooLong, dht.ErrUnknownHashAlg,
	dht.ErrBadTTL, dht.ErrBadMaxVals, dht.ErrBadPlacemark, dht.ErrBadSecretHash,
	dht.ErrBadValueHash, dht.ErrZeroSecretHash, dht.ErrBadExpected,
	// Authenticated puts (spec/SPEC.md section 18).
	dht.ErrRecordSignature, dht.ErrRecordStale, dht.ErrRecordOwner, dht.ErrRecordMalformed,
	dht.ErrImmutableKey, dht.ErrImmutableRemove, dht.ErrRecordExpired,
	dht.ErrUnknownImmutable, dht.ErrSignedValueTooBig,
	// Accounts (spec/SPEC.md section 20).
	dht.ErrOverQuota, dht.ErrKeyRequired, dht.ErrUnknownKey,
}

// RequestError returns the dht error in err's chain that a client's
// arguments caused, whose text is the original fault text ("value is
// longer than 1024 bytes"), or nil when err is a failure of the DHT.
func RequestError(err error) error {
	for _, re := range requestErrors {
		if errors.Is(err, re) {
			return re
		}
	}
	return nil
}

// UsageReport is what a provider's gateway reports of its accounts (spec
// section 20, AC-8): GET /api/v1/usage, dhtctl usage.
type UsageReport struct {
	// Provider is the gateway's provider.
	Provider string `json:"provider"`
	// Accounts lists the accounts the key may see: its own, or with the
	// provider's admin key every account of the provider, by name.
	Accounts []AccountUsage `json:"accounts"`
}

// AccountUsage is one account's row of a UsageReport.
type AccountUsage struct {
	// Account is the account's name; Identity the client identity its
	// writes are charged to at every node (AC-4).
	Account  string `json:"account"`
	Identity string `json:"identity"`
	// QuotaBytes is the account's quota at every node (AC-5).
	QuotaBytes int64 `json:"quota_bytes"`
	// Ledger counts the writes this gateway executed for the account
	// since it started.
	Ledger Ledger `json:"ledger"`
	// StoredBytes and StoredItems are what this node's store charges to
	// the account now (FST-10): items and tombstones.
	StoredBytes int64 `json:"stored_bytes"`
	StoredItems int   `json:"stored_items"`
}

// Ledger is one account's writes through one gateway (AC-8).
type Ledger struct {
	// Writes answered 0, over quota (status 3), or otherwise (status 1 or
	// 2, a refusal, a timeout).
	OK        uint64 `json:"ok"`
	OverQuota uint64 `json:"over_quota"`
	Failed    uint64 `json:"failed"`
	// Bytes is the sum of the charges b (FST-1) of the writes answered 0;
	// ByteSeconds the sum of b times their TTL in seconds: the space-time
	// they were given, what a provider bills.
	Bytes       int64 `json:"bytes"`
	ByteSeconds int64 `json:"byte_seconds"`
}
