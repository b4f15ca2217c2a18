package linearizability

import (
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// OpKind names a client operation in a history.
type OpKind uint8

const (
	OpPut OpKind = iota + 1
	OpRemove
	OpGet
)

// Event is one client operation as a client saw it: when it was called,
// when (and whether) it returned, and what it returned. Times come from
// one monotonic clock (the simulator's, or the test process's).
type Event struct {
	Client int
	Kind   OpKind
	Key    dht.Key
	// Puts and removes: the item.
	Value      []byte   // puts; for removes, the value removed
	SecretHash dht.Hash // puts: zero for plain puts; removes: SHA-1 of the secret
	TTL        int64    // seconds, as asked
	Call       time.Time
	Return     time.Time
	// Unknown: no answer came (timeout, crash of the gateway): the
	// operation may or may not have taken effect.
	Unknown bool
	Status  dht.Status
	// Gets: the values returned.
	Values []dht.Value
	// Fast: the get was a fast read (spec RD-14), judged by every rule of
	// a get but RD-7.
	Fast bool
}

// History is a list of events, in any order.
type History []Event

// itemKey identifies an item of one key (PUT-1).
type itemKey struct {
	key dht.Key
	sh  dht.Hash
	vh  dht.Hash
}

func itemOf(k dht.Key, sh dht.Hash, value []byte) itemKey {
	return itemKey{k, sh, dht.SHA1(value)}
}
