package sunrpc

import (
	"github.com/opendht-go/opendht/impl/dht"
)

// The gateway program (gateway_prot.x). Versions 2 and 3 are both served.
const (
	// Program is the ONC RPC program number of the OpenDHT gateway.
	Program = 708655600
	// Version2 is the first public interface: put without a secret, get of
	// bare values, no remove.
	Version2 = 2
	// Version3 adds put with a secret hash, get with details and remove.
	Version3 = 3
	// Version is the version a Client speaks unless told otherwise.
	Version = Version3
	// LowVersion and HighVersion bound what a PROG_MISMATCH reply names.
	LowVersion, HighVersion = Version2, Version3
)

// Procedure numbers, the same in both versions (version 2 has no RM). The
// original numbers NULL as 1, not 0.
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
	// MaxHashLen bounds bamboo_hash.hash (opaque<40>).
	MaxHashLen = 40
	// MaxGetValues bounds the values<> array of a get result when decoded:
	// no reply carries more values than a record of MaxRecordSize can hold.
	MaxGetValues = 1 << 16
)

// Hash is bamboo_hash: a hash algorithm name and a digest. As a put's
// secret hash it is empty for a plain put and ("SHA", SHA-1(secret)) for a
// removable one; as an rm's value hash it is ("SHA", SHA-1(value)).
type Hash struct {
	Algorithm string // string<20>
	Hash      []byte // opaque<40>
}

// PutArgsV2 is version 2's bamboo_put_args: a put without a secret.
type PutArgsV2 struct {
	Application   string  // string<255>
	ClientLibrary string  // string<255>
	Key           dht.Key // opaque[20]
	Value         []byte  // opaque<1024>
	TTLSec        int32
}

// PutArgs is version 3's bamboo_put_arguments. The secret hash comes
// before the TTL on the wire.
type PutArgs struct {
	Application   string  // string<255>
	ClientLibrary string  // string<255>
	Key           dht.Key // opaque[20]
	Value         []byte  // opaque<1024>
	SecretHash    Hash
	TTLSec        int32
}

// GetArgs is bamboo_get_args, the same in both versions.
type GetArgs struct {
	Application   string
	ClientLibrary string
	Key           dht.Key
	MaxVals       int32
	Placemark     []byte // opaque<100>
}

// GetResultV2 is version 2's bamboo_get_res: bare values and a placemark.
type GetResultV2 struct {
	Values    [][]byte // bamboo_value values<>, each opaque<1024>
	Placemark []byte   // opaque<100>; empty means no more
}

// GetValue is version 3's bamboo_get_value: one value with its details.
type GetValue struct {
	Value      []byte // opaque<1024>
	TTLSecRem  int32
	SecretHash Hash
}

// GetResult is version 3's bamboo_get_result.
type GetResult struct {
	Values    []GetValue
	Placemark []byte // opaque<100>; empty means no more
}

// RmArgs is version 3's bamboo_rm_arguments.
type RmArgs struct {
	Application   string
	ClientLibrary string
	Key           dht.Key
	ValueHash     Hash   // ("SHA", SHA-1 of the value)
	SecretHashAlg string // string<20>; "SHA"
	Secret        []byte // opaque<40>
	TTLSec        int32
}

func (h Hash) encode(w *xdrWriter) {
	w.string(h.Algorithm)
	w.opaque(h.Hash)
}

func (h *Hash) decode(r *xdrReader, what string) {
	h.Algorithm = r.string(MaxAlgLen, what+" algorithm")
	h.Hash = r.opaque(MaxHashLen, what)
}

// head encodes the fields every argument type starts with.
func head(w *xdrWriter, app, lib string, key dht.Key) {
	w.string(app)
	w.string(lib)
	w.fixed(key[:])
}

func readHead(r *xdrReader, app, lib *string, key *dht.Key) {
	*app = r.string(MaxNameLen, "application")
	*lib = r.string(MaxNameLen, "client_library")
	r.fixedInto(key[:])
}

// MarshalXDR returns the XDR encoding of a.
func (a PutArgsV2) MarshalXDR() []byte {
	var w xdrWriter
	head(&w, a.Application, a.ClientLibrary, a.Key)
	w.opaque(a.Value)
	w.int32(a.TTLSec)
	return w.b
}

// UnmarshalXDR decodes exactly one PutArgsV2 from b. a shares no memory
// with b.
func (a *PutArgsV2) UnmarshalXDR(b []byte) error { return a.decodeXDR(b, false) }

// decodeXDR is UnmarshalXDR; with share, a's byte strings are slices of b.
func (a *PutArgsV2) decodeXDR(b []byte, share bool) error {
	r := xdrReader{b: b, share: share}
	readHead(&r, &a.Application, &a.ClientLibrary, &a.Key)
	a.Value = r.opaque(dht.MaxValueLen, "value")
	a.TTLSec = r.int32()
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a PutArgs) MarshalXDR() []byte {
	var w xdrWriter
	head(&w, a.Application, a.ClientLibrary, a.Key)
	w.opaque(a.Value)
	a.SecretHash.encode(&w)
	w.int32(a.TTLSec)
	return w.b
}

// UnmarshalXDR decodes exactly one PutArgs from b. a shares no memory
// with b.
func (a *PutArgs) UnmarshalXDR(b []byte) error { return a.decodeXDR(b, false) }

// decodeXDR is UnmarshalXDR; with share, a's byte strings are slices of b.
func (a *PutArgs) decodeXDR(b []byte, share bool) error {
	r := xdrReader{b: b, share: share}
	readHead(&r, &a.Application, &a.ClientLibrary, &a.Key)
	a.Value = r.opaque(dht.MaxValueLen, "value")
	a.SecretHash.decode(&r, "secret hash")
	a.TTLSec = r.int32()
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a GetArgs) MarshalXDR() []byte {
	var w xdrWriter
	head(&w, a.Application, a.ClientLibrary, a.Key)
	w.int32(a.MaxVals)
	w.opaque(a.Placemark)
	return w.b
}

// UnmarshalXDR decodes exactly one GetArgs from b. a shares no memory
// with b.
func (a *GetArgs) UnmarshalXDR(b []byte) error { return a.decodeXDR(b, false) }

// decodeXDR is UnmarshalXDR; with share, a's byte strings are slices of b.
func (a *GetArgs) decodeXDR(b []byte, share bool) error {
	r := xdrReader{b: b, share: share}
	readHead(&r, &a.Application, &a.ClientLibrary, &a.Key)
	a.MaxVals = r.int32()
	a.Placemark = r.opaque(dht.MaxPlacemarkLen, "placemark")
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a GetResultV2) MarshalXDR() []byte {
	var w xdrWriter
	w.uint32(uint32(len(a.Values)))
	for _, v := range a.Values {
		w.opaque(v)
	}
	w.opaque(a.Placemark)
	return w.b
}

// UnmarshalXDR decodes exactly one GetResultV2 from b.
func (a *GetResultV2) UnmarshalXDR(b []byte) error {
	r := xdrReader{b: b}
	n := r.count(MaxGetValues, 4, "values")
	a.Values = nil
	if n > 0 {
		a.Values = make([][]byte, n)
	}
	for i := range a.Values {
		a.Values[i] = r.opaque(dht.MaxValueLen, "value")
	}
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
		v.SecretHash.decode(&r, "secret hash")
	}
	a.Placemark = r.opaque(dht.MaxPlacemarkLen, "placemark")
	return r.done()
}

// MarshalXDR returns the XDR encoding of a.
func (a RmArgs) MarshalXDR() []byte {
	var w xdrWriter
	head(&w, a.Application, a.ClientLibrary, a.Key)
	a.ValueHash.encode(&w)
	w.string(a.SecretHashAlg)
	w.opaque(a.Secret)
	w.int32(a.TTLSec)
	return w.b
}

// UnmarshalXDR decodes exactly one RmArgs from b. a shares no memory
// with b.
func (a *RmArgs) UnmarshalXDR(b []byte) error { return a.decodeXDR(b, false) }

// decodeXDR is UnmarshalXDR; with share, a's byte strings are slices of b.
func (a *RmArgs) decodeXDR(b []byte, share bool) error {
	r := xdrReader{b: b, share: share}
	readHead(&r, &a.Application, &a.ClientLibrary, &a.Key)
	a.ValueHash.decode(&r, "value hash")
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
