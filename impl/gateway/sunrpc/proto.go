package sunrpc

import "github.com/opendht-go/opendht/impl/dht"

// The gateway program (gateway_prot.x).
const (
	// Program is the ONC RPC program number of the OpenDHT gateway.
	Program = 708655600
	// Version is the only program version served.
	Version = 3
)

// Procedures of version 3. The original numbers NULL as 1, not 0.
const (
	ProcNull uint32 = 1
	ProcPut  uint32 = 2
	ProcGet  uint32 = 3
	ProcRm   uint32 = 4
)

// Bounds declared in gateway_prot.x.
const (
	// MaxNameLen bounds application and client_library (string<255>).
	MaxNameLen = 255
	// MaxAlgLen bounds a hash algorithm name (string<20>).
	MaxAlgLen = 20
	// MaxHashLen bounds secret_hash.hash (opaque<40>).
	MaxHashLen = 40
	// MaxGetValues bounds the values<> array of a get result when decoded:
	// no reply carries more values than a record of MaxRecordSize can hold.
	MaxGetValues = 1 << 16
)

// SecretHash is bamboo_secret_hash: an empty algorithm and hash for a plain
// put, "SHA" and SHA-1(secret) for put_removable.
type SecretHash struct {
	Algorithm string // string<20>
	Hash      []byte // opaque<40>
}

// PutArgs is bamboo_put_arguments.
type PutArgs struct {
	Application   string  // string<255>
	ClientLibrary string  // string<255>
	Key           dht.Key // opaque[20]
	Value         []byte  // opaque<1024>
	TTLSec        int32
	SecretHash    SecretHash
}

// GetArgs is bamboo_get_args.
type GetArgs struct {
	Application   string
	ClientLibrary string
	Key           dht.Key
	MaxVals       int32
	Placemark     []byte // opaque<100>
}

// GetValue is one element of a get result (get_details).
type GetValue struct {
	Value      []byte // opaque<1024>
	TTLSecRem  int32
	SecretHash SecretHash
}

// GetResult is bamboo_get_result.
type GetResult struct {
	Values    []GetValue
	Placemark []byte // opaque<100>; empty means no more
}

// RmArgs is bamboo_rm_arguments.
type RmArgs struct {
	Application   string
	ClientLibrary string
	Key           dht.Key
	ValueHash     dht.Hash // opaque[20]: SHA-1 of the value
	SecretHashAlg string   // string<20>; must be "SHA"
	Secret        []byte   // opaque<40>
	TTLSec        int32
}

func (s SecretHash) encode(w *xdrWriter) {
	w.string(s.Algorithm)
	w.opaque(s.Hash)
}

func (s *SecretHash) decode(r *xdrReader) {
	s.Algorithm = r.string(MaxAlgLen, "secret hash algorithm")
	s.Hash = r.opaque(MaxHashLen, "secret hash")
}

// MarshalXDR returns the XDR encoding of a.
func (a PutArgs) MarshalXDR() []byte {
	var w xdrWriter
	w.string(a.Application)
	w.string(a.ClientLibrary)
	w.fixed(a.Key[:])
	w.opaque(a.Value)
	w.int32(a.TTLSec)
	a.SecretHash.encode(&w)
	return w.b
}

// UnmarshalXDR decodes exactly one PutArgs from b.
func (a *PutArgs) UnmarshalXDR(b []byte) error {
	r := xdrReader{b: b}
	a.Application = r.string(MaxNameLen, "application")
	a.ClientLibrary = r.string(MaxNameLen, "client_library")
	copy(a.Key[:], r.fixed(dht.KeyLen))
	a.Value = r.opaque(dht.MaxValueLen, "value")
	a.TTLSec = r.int32()
	a.SecretHash.decode(&r)
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a GetArgs) MarshalXDR() []byte {
	var w xdrWriter
	w.string(a.Application)
	w.string(a.ClientLibrary)
	w.fixed(a.Key[:])
	w.int32(a.MaxVals)
	w.opaque(a.Placemark)
	return w.b
}

// UnmarshalXDR decodes exactly one GetArgs from b.
func (a *GetArgs) UnmarshalXDR(b []byte) error {
	r := xdrReader{b: b}
	a.Application = r.string(MaxNameLen, "application")
	a.ClientLibrary = r.string(MaxNameLen, "client_library")
	copy(a.Key[:], r.fixed(dht.KeyLen))
	a.MaxVals = r.int32()
	a.Placemark = r.opaque(dht.MaxPlacemarkLen, "placemark")
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a GetResult) MarshalXDR() []byte {
	var w xdrWriter
	w.uint32(uint32(len(a.Values)))
	for _, v := range a.Values {
		w.opaque(v.Value)
		w.int32(v.TTLSecRem)
		v.SecretHash.encode(&w)
	}
	w.opaque(a.Placemark)
	return w.b
}

// minValueSize is the encoded size of an empty GetValue: four words.
const minValueSize = 16

// UnmarshalXDR decodes exactly one GetResult from b.
func (a *GetResult) UnmarshalXDR(b []byte) error {
	r := xdrReader{b: b}
	n := r.count(MaxGetValues, minValueSize, "values")
	a.Values = nil
	if n > 0 {
		a.Values = make([]GetValue, n)
	}
	for i := range a.Values {
		v := &a.Values[i]
		v.Value = r.opaque(dht.MaxValueLen, "value")
		v.TTLSecRem = r.int32()
		v.SecretHash.decode(&r)
	}
	a.Placemark = r.opaque(dht.MaxPlacemarkLen, "placemark")
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a RmArgs) MarshalXDR() []byte {
	var w xdrWriter
	w.string(a.Application)
	w.string(a.ClientLibrary)
	w.fixed(a.Key[:])
	w.fixed(a.ValueHash[:])
	w.string(a.SecretHashAlg)
	w.opaque(a.Secret)
	w.int32(a.TTLSec)
	return w.b
}

// UnmarshalXDR decodes exactly one RmArgs from b.
func (a *RmArgs) UnmarshalXDR(b []byte) error {
	r := xdrReader{b: b}
	a.Application = r.string(MaxNameLen, "application")
	a.ClientLibrary = r.string(MaxNameLen, "client_library")
	copy(a.Key[:], r.fixed(dht.KeyLen))
	copy(a.ValueHash[:], r.fixed(dht.HashLen))
	a.SecretHashAlg = r.string(MaxAlgLen, "secret hash algorithm")
	a.Secret = r.opaque(dht.MaxSecretLen, "secret")
	a.TTLSec = r.int32()
	return r.done()
}

// encodeStatus is bamboo_stat: an enum, one word.
func encodeStatus(s dht.Status) []byte {
	var w xdrWriter
	w.int32(int32(s))
	return w.b
}

func decodeStatus(b []byte) (dht.Status, error) {
	r := xdrReader{b: b}
	s := dht.Status(r.int32())
	if err := r.done(); err != nil {
		return 0, err
	}
	switch s {
	case dht.StatusOK, dht.StatusOverCapacity, dht.StatusTryAgain:
		return s, nil
	}
	return 0, ErrGarbage
}
