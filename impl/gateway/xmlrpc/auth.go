package xmlrpc

import (
	"context"
	"crypto/ed25519"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// The authenticated operations (spec/SPEC.md section 18), added beside the
// original methods, which they leave unchanged:
//
//	put_immutable(value, hash_alg, ttl_sec, application) -> {status, key}
//	get_immutable(key, hash_alg, application)           -> [values]
//	put_signed(public_key, name, value, seq, expires, signature, application) -> status
//	rm_signed(public_key, name, seq, expires, signature, application)          -> status
//	get_signed(key, application) -> {found, removed, public_key, name_hash, seq, expires, value, signature}
//
// hash_alg is "SHA1" or "SHA256" (IM-2); name is the name's bytes (the key
// is SG-2's); seq is an int or a decimal string; expires is Unix seconds;
// signature is SG-3's, 64 bytes.
func init() {
	methods["put_immutable"] = method{args: []string{"value", "hash_alg", "ttl_sec", "application"}, call: callPutImmutable}
	methods["get_immutable"] = method{args: []string{"key", "hash_alg", "application"}, call: callGetImmutable}
	methods["put_signed"] = method{args: []string{"public_key", "name", "value", "seq", "expires", "signature", "application"}, call: callPutSigned}
	methods["rm_signed"] = method{args: []string{"public_key", "name", "seq", "expires", "signature", "application"}, call: callRmSigned}
	methods["get_signed"] = method{args: []string{"key", "application"}, call: callGetSigned}
}

func (a *args) immutableAlg(i int) dht.ImmutableAlg {
	s := a.string(i)
	if a.err != nil {
		return 0
	}
	alg, err := dht.ParseImmutableAlg(s)
	a.err = err
	return alg
}

func callPutImmutable(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error) {
	val, alg, ttl := a.bytes(0), a.immutableAlg(1), a.int(2)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	key, st, err := gateway.PutImmutable(ctx, b, alg, val, ttl, client)
	if err != nil {
		return Value{}, err
	}
	return Value{Kind: Struct, Members: []Member{
		{Name: "status", Value: IntValue(int64(st))},
		{Name: "key", Value: Base64Value(key[:])},
	}}, nil
}

func callGetImmutable(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
	key, alg := a.key(0), a.immutableAlg(1)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	v, found, err := gateway.GetImmutable(ctx, b, alg, key)
	if err != nil {
		return Value{}, err
	}
	if !found {
		return ArrayValue(), nil
	}
	return ArrayValue(Base64Value(v)), nil
}

// record reads the arguments common to put_signed and rm_signed: the
// public key and name first, the sequence number at seqAt, then the
// expiry and the signature, and the application.
func (a *args) record(value []byte, seqAt int) (dht.Record, error) {
	pub := a.bytes(0)
	if a.err == nil && len(pub) != ed25519.PublicKeySize {
		a.err = a.bad(0, "public key must be %d bytes", ed25519.PublicKeySize)
	}
	r := dht.Record{PublicKey: pub, NameHash: dht.SHA1(a.bytes(1)), Seq: a.version(seqAt), Expires: dht.Time(a.int(seqAt + 1)), Value: value, Signature: a.bytes(seqAt + 2)}
	return r, a.done()
}

func callPutSigned(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error) {
	r, err := a.record(a.bytes(2), 3)
	if err != nil {
		return Value{}, err
	}
	return status(gateway.PutSigned(ctx, b, r, client))
}

func callRmSigned(ctx context.Context, b gateway.Backend, client dht.ClientID, a *args) (Value, error) {
	r, err := a.record(nil, 2)
	if err != nil {
		return Value{}, err
	}
	r.Removed = true
	return status(gateway.PutSigned(ctx, b, r, client))
}

func callGetSigned(ctx context.Context, b gateway.Backend, _ dht.ClientID, a *args) (Value, error) {
	key := a.key(0)
	if err := a.done(); err != nil {
		return Value{}, err
	}
	r, found, err := gateway.GetSigned(ctx, b, key)
	if err != nil {
		return Value{}, err
	}
	return Value{Kind: Struct, Members: []Member{
		{Name: "found", Value: Value{Kind: Bool, Bool: found}},
		{Name: "removed", Value: Value{Kind: Bool, Bool: r.Removed}},
		{Name: "public_key", Value: Base64Value(r.PublicKey)},
		{Name: "name_hash", Value: Base64Value(r.NameHash[:])},
		{Name: "seq", Value: VersionValue(r.Seq)},
		{Name: "expires", Value: IntValue(int64(r.Expires))},
		{Name: "value", Value: Base64Value(r.Value)},
		{Name: "signature", Value: Base64Value(r.Signature)},
	}}, nil
}
