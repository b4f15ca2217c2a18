package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/opendht-go/opendht/impl/dht"
)

const (
	tagCounter = 'c'
	tagIdent   = 'd'
	tagValue   = 'i'
	tagExpiry  = 'x'

	kindItem      = 'I'
	kindTombstone = 'T'

	idLen = dht.KeyLen + 2*dht.HashLen
)

var metaKey = []byte("\x00meta")

// errCorruptRecord reports a record that does not decode; it means the
// directory was written by something else or damaged.
var errCorruptRecord = errors.New("store: corrupt record")

func appendID(b []byte, id dht.ItemID) []byte {
	b = append(b, id.Key[:]...)
	b = append(b, id.SecretHash[:]...)
	return append(b, id.ValueHash[:]...)
}

func decodeID(b []byte) dht.ItemID {
	var id dht.ItemID
	copy(id.Key[:], b[0:20])
	copy(id.SecretHash[:], b[20:40])
	copy(id.ValueHash[:], b[40:60])
	return id
}

func identKey(id dht.ItemID) []byte {
	return appendID(append(make([]byte, 0, 1+idLen), tagIdent), id)
}

func valueKey(k dht.Key, seq uint64) []byte {
	b := make([]byte, 0, 1+20+8)
	b = append(b, tagValue)
	b = append(b, k[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

func expiryKey(e dht.Time, id dht.ItemID, kind byte) []byte {
	b := make([]byte, 0, 1+8+idLen+1)
	b = append(b, tagExpiry)
	b = binary.BigEndian.AppendUint64(b, uint64(e))
	b = appendID(b, id)
	return append(b, kind)
}

// ident is the identity record of an item or a tombstone.
type ident struct {
	kind   byte
	expiry dht.Time
	seq    uint64 // items only
	charge int64
	client dht.ClientID
	secret []byte // tombstones only
}

func (r ident) encode() []byte {
	b := make([]byte, 0, 1+8+8+8+1+len(r.client)+1+len(r.secret))
	b = append(b, r.kind)
	b = binary.BigEndian.AppendUint64(b, uint64(r.expiry))
	b = binary.BigEndian.AppendUint64(b, r.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.charge))
	b = append(b, byte(len(r.client)))
	b = append(b, r.client...)
	b = append(b, byte(len(r.secret)))
	return append(b, r.secret...)
}

func decodeIdent(b []byte) (ident, error) {
	var r ident
	if len(b) < 26 {
		return r, fmt.Errorf("%w: identity record of %d bytes", errCorruptRecord, len(b))
	}
	r.kind = b[0]
	if r.kind != kindItem && r.kind != kindTombstone {
		return r, fmt.Errorf("%w: identity kind %q", errCorruptRecord, r.kind)
	}
	r.expiry = dht.Time(binary.BigEndian.Uint64(b[1:]))
	r.seq = binary.BigEndian.Uint64(b[9:])
	r.charge = int64(binary.BigEndian.Uint64(b[17:]))
	n := int(b[25])
	b = b[26:]
	if len(b) < n+1 {
		return r, fmt.Errorf("%w: identity client", errCorruptRecord)
	}
	r.client = dht.ClientID(b[:n])
	b = b[n:]
	m := int(b[0])
	if len(b) != m+1 {
		return r, fmt.Errorf("%w: identity secret", errCorruptRecord)
	}
	if m > 0 {
		r.secret = append([]byte(nil), b[1:]...)
	}
	return r, nil
}

// valueRec is the stored value of an item in storage order.
func encodeValue(secretHash dht.Hash, e dht.Time, value []byte) []byte {
	return appendValue(make([]byte, 0, 20+8+len(value)), secretHash, e, value)
}

// appendValue appends a value record to b.
func appendValue(b []byte, secretHash dht.Hash, e dht.Time, value []byte) []byte {
	b = append(b, secretHash[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e))
	return append(b, value...)
}

func decodeValue(b []byte) (dht.Hash, dht.Time, []byte, error) {
	var h dht.Hash
	if len(b) < 28 || len(b)-28 > dht.MaxValueLen {
		return h, 0, nil, fmt.Errorf("%w: value record of %d bytes", errCorruptRecord, len(b))
	}
	copy(h[:], b)
	return h, dht.Time(binary.BigEndian.Uint64(b[20:])), b[28:], nil
}

// expiry index entry value: seq, charge, client.
func encodeExpiryVal(seq uint64, charge int64, client dht.ClientID) []byte {
	b := make([]byte, 0, 16+len(client))
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(charge))
	return append(b, client...)
}

type expiryEntry struct {
	e      dht.Time
	id     dht.ItemID
	kind   byte
	seq    uint64
	charge int64
	client dht.ClientID
}

func decodeExpiry(k, v []byte) (expiryEntry, error) {
	var x expiryEntry
	if len(k) != 1+8+idLen+1 || len(v) < 16 {
		return x, fmt.Errorf("%w: expiry entry", errCorruptRecord)
	}
	x.e = dht.Time(binary.BigEndian.Uint64(k[1:]))
	x.id = decodeID(k[9:])
	x.kind = k[9+idLen]
	x.seq = binary.BigEndian.Uint64(v)
	x.charge = int64(binary.BigEndian.Uint64(v[8:]))
	x.client = dht.ClientID(v[16:])
	if x.kind != kindItem && x.kind != kindTombstone || x.charge <= 0 {
		return x, fmt.Errorf("%w: expiry entry kind %q charge %d", errCorruptRecord, x.kind, x.charge)
	}
	return x, nil
}
