package dht

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// Authenticated items (spec/SPEC.md section 18, IM-* and SG-*): immutable
// puts, whose key is the hash of their value, and signed puts, whose key
// belongs to an ed25519 public key. They are items like any other (PUT-1),
// told apart by a kind tag in the item's secret-hash field, so that they
// are stored, copied, compared by anti-entropy and paged by the machinery
// of plain items unchanged; every node verifies them where a write is
// validated (Put.Authenticate).

// Kind tags (IM-1, SG-1): the secret hash of an authenticated item. No
// SHA-1 output is known with 19 leading zero bytes, so no put_removable of
// a hashed secret carries one, and no rm (whose item's secret hash is the
// SHA-1 of its secret) names an authenticated item.
var (
	TagImmutableSHA1   = Hash{HashLen - 1: 1}
	TagImmutableSHA256 = Hash{HashLen - 1: 2}
	TagSigned          = Hash{HashLen - 1: 3}
)

// IsAuthTag reports whether h is the kind tag of an authenticated item.
func IsAuthTag(h Hash) bool {
	return h == TagImmutableSHA1 || h == TagImmutableSHA256 || h == TagSigned
}

// Errors of authenticated puts. Each is a reason a node refuses a write and
// counts it (SG-9).
var (
	ErrImmutableKey      = errors.New("immutable put: key is not the hash of the value")
	ErrImmutableRemove   = errors.New("authenticated items cannot be removed with rm")
	ErrRecordMalformed   = errors.New("signed put: record is malformed")
	ErrRecordOwner       = errors.New("signed put: key does not belong to the public key and name")
	ErrRecordSignature   = errors.New("signed put: signature does not verify")
	ErrRecordExpired     = errors.New("signed put: record has expired")
	ErrRecordStale       = errors.New("signed put: a record with a higher sequence number is stored")
	ErrUnknownImmutable  = errors.New("unknown immutable hash algorithm")
	ErrSignedValueTooBig = errors.New("signed put: value is longer than 890 bytes")
)

// ImmutableAlg names the hash of an immutable put (IM-2).
type ImmutableAlg uint8

const (
	// ImmutableSHA1: key = SHA-1(value).
	ImmutableSHA1 ImmutableAlg = 1
	// ImmutableSHA256: key = the first 20 bytes of SHA-256(value).
	ImmutableSHA256 ImmutableAlg = 2
)

// ParseImmutableAlg reads the algorithm names of the client APIs: "SHA1"
// (or "SHA", or empty) and "SHA256".
func ParseImmutableAlg(s string) (ImmutableAlg, error) {
	switch s {
	case "", "SHA", "SHA1", "sha1", "sha":
		return ImmutableSHA1, nil
	case "SHA256", "sha256", "SHA-256", "sha-256":
		return ImmutableSHA256, nil
	}
	return 0, ErrUnknownImmutable
}

func (a ImmutableAlg) String() string {
	if a == ImmutableSHA256 {
		return "SHA256"
	}
	return "SHA1"
}

// Tag is the kind tag of the algorithm's items.
func (a ImmutableAlg) Tag() Hash {
	if a == ImmutableSHA256 {
		return TagImmutableSHA256
	}
	return TagImmutableSHA1
}

// ImmutableKey is the key of value under alg (IM-2).
func ImmutableKey(alg ImmutableAlg, value []byte) Key {
	if alg == ImmutableSHA256 {
		h := sha256.Sum256(value)
		return Key(h[:KeyLen])
	}
	return Key(sha1.Sum(value))
}

// ImmutablePut is the put that stores value immutably (IM-1).
func ImmutablePut(alg ImmutableAlg, value []byte, ttl int64, client ClientID) Put {
	return Put{Client: client, Key: ImmutableKey(alg, value), Value: value, TTL: ttl, SecretHash: alg.Tag()}
}

// signedKeyDomain and signedMsgDomain separate the hashes and signatures of
// signed puts from every other use of the same key pair (SG-2, SG-3).
const (
	signedKeyDomain = "opendht-go signed key v1\x00"
	signedMsgDomain = "opendht-go signed put v1\x00"
)

// Layout of a signed record (SG-4): the stored value of a signed item.
const (
	recordVersion = 1
	// RecordOverhead is the bytes of a record besides the value:
	// version 1, flags 1, public key 32, name hash 20, seq 8, expires 8,
	// signature 64.
	RecordOverhead = 2 + ed25519.PublicKeySize + HashLen + 8 + 8 + ed25519.SignatureSize
	// MaxSignedValueLen keeps a record within LIM-2.
	MaxSignedValueLen = MaxValueLen - RecordOverhead
	flagRemoved       = 1
)

// SignedKey is the key of the signed puts of (pub, name): SHA-1 over the
// domain, the public key and SHA-1(name) (SG-2).
func SignedKey(pub ed25519.PublicKey, nameHash Hash) Key {
	h := sha1.New()
	h.Write([]byte(signedKeyDomain))
	h.Write(pub)
	h.Write(nameHash[:])
	return Key(h.Sum(nil))
}

// Record is a signed put or a signed remove (SG-4).
type Record struct {
	PublicKey ed25519.PublicKey
	NameHash  Hash
	Seq       uint64
	// Expires is the absolute expiry the owner signed, in Unix seconds.
	Expires Time
	// Removed marks a signed remove: a record that says the key holds
	// nothing (SG-7).
	Removed   bool
	Value     []byte
	Signature []byte
}

// Key is the key the record belongs to.
func (r Record) Key() Key { return SignedKey(r.PublicKey, r.NameHash) }

// SignedMessage is what the owner signs (SG-3): the domain, the key, seq,
// expires, flags, the value's length and the value. Every field but the
// last has a fixed size, so two different records never sign the same
// bytes.
func (r Record) SignedMessage(key Key) []byte {
	b := make([]byte, 0, len(signedMsgDomain)+KeyLen+8+8+1+4+len(r.Value))
	b = append(b, signedMsgDomain...)
	b = append(b, key[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	b = append(b, r.flags())
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Value)))
	return append(b, r.Value...)
}

func (r Record) flags() byte {
	if r.Removed {
		return flagRemoved
	}
	return 0
}

// Sign fills in the record's public key and signature.
func (r *Record) Sign(priv ed25519.PrivateKey) {
	r.PublicKey = priv.Public().(ed25519.PublicKey)
	r.Signature = ed25519.Sign(priv, r.SignedMessage(r.Key()))
}

// Encode is the record's stored form (SG-4): version | flags | public key |
// name hash | seq | expires | signature | value.
func (r Record) Encode() []byte {
	b := make([]byte, 0, RecordOverhead+len(r.Value))
	b = append(b, recordVersion, r.flags())
	b = append(b, r.PublicKey...)
	b = append(b, r.NameHash[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	b = append(b, r.Signature...)
	return append(b, r.Value...)
}

// DecodeRecord parses a stored record. It checks the shape only: Verify
// checks the signature.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) < RecordOverhead || len(b) > MaxValueLen || b[0] != recordVersion || b[1]&^flagRemoved != 0 {
		return r, ErrRecordMalformed
	}
	r.Removed = b[1]&flagRemoved != 0
	b = b[2:]
	r.PublicKey = ed25519.PublicKey(bytes.Clone(b[:ed25519.PublicKeySize]))
	b = b[ed25519.PublicKeySize:]
	copy(r.NameHash[:], b)
	b = b[HashLen:]
	r.Seq = binary.BigEndian.Uint64(b)
	exp := binary.BigEndian.Uint64(b[8:])
	if exp > 1<<62 {
		return r, ErrRecordMalformed
	}
	r.Expires = Time(exp)
	b = b[16:]
	r.Signature = bytes.Clone(b[:ed25519.SignatureSize])
	r.Value = bytes.Clone(b[ed25519.SignatureSize:])
	if r.Removed && len(r.Value) > 0 {
		return r, ErrRecordMalformed
	}
	return r, nil
}

// Verify checks that the record belongs under key and that its owner
// signed it (SG-5).
func (r Record) Verify(key Key) error {
	if len(r.PublicKey) != ed25519.PublicKeySize || len(r.Signature) != ed25519.SignatureSize {
		return ErrRecordMalformed
	}
	if r.Key() != key {
		return ErrRecordOwner
	}
	if !ed25519.Verify(r.PublicKey, r.SignedMessage(key), r.Signature) {
		return ErrRecordSignature
	}
	return nil
}

// SignedPut is the put that stores a signed record. Its TTL runs to the
// signed expiry from now.
func SignedPut(r Record, now Time, client ClientID) Put {
	return Put{Client: client, Key: r.Key(), Value: r.Encode(), TTL: int64(r.Expires - now), SecretHash: TagSigned}
}

// Outranks orders two signed records of one key (SG-6): the higher
// sequence number, then the larger SHA-1 of the stored record, so that
// every node picks the same one of two records an owner signed with one
// sequence number.
func Outranks(a, b Record) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	ha, hb := SHA1(a.Encode()), SHA1(b.Encode())
	return bytes.Compare(ha[:], hb[:]) > 0
}

// Authenticate verifies an authenticated put (IM-3, SG-5); a plain put
// passes. It is what every node runs where a write is validated, and
// what a client runs on what a get returned.
func (p Put) Authenticate() error {
	switch p.SecretHash {
	case TagImmutableSHA1, TagImmutableSHA256:
		alg := ImmutableSHA1
		if p.SecretHash == TagImmutableSHA256 {
			alg = ImmutableSHA256
		}
		if ImmutableKey(alg, p.Value) != p.Key {
			return ErrImmutableKey
		}
	case TagSigned:
		r, err := DecodeRecord(p.Value)
		if err != nil {
			return err
		}
		return r.Verify(p.Key)
	}
	return nil
}

// SignedTTL is SG-8: the TTL a node keeps for a signed put at now, at most
// the time left to the signed expiry. It returns an error for an expired
// record; other puts keep ttl.
func (p Put) SignedTTL(ttl int64, now Time) (int64, error) {
	if p.SecretHash != TagSigned {
		return ttl, nil
	}
	r, err := DecodeRecord(p.Value)
	if err != nil {
		return 0, err
	}
	left := int64(r.Expires - now)
	if left <= 0 {
		return 0, ErrRecordExpired
	}
	return min(ttl, left), nil
}

// AuthenticateRemove refuses an rm that names an authenticated item (IM-4).
func (r Remove) AuthenticateRemove() error {
	if IsAuthTag(SHA1(r.Secret)) {
		return ErrImmutableRemove
	}
	return nil
}

// Refusals lists the reasons a node refuses an authenticated write, in
// the order of their counters and wire codes (SG-9).
var Refusals = [...]error{
	ErrRecordSignature, ErrRecordStale, ErrRecordOwner, ErrRecordMalformed,
	ErrImmutableKey, ErrImmutableRemove, ErrRecordExpired,
}

// RefusalIndex returns err's index in Refusals, or -1.
func RefusalIndex(err error) int {
	for i, r := range Refusals {
		if errors.Is(err, r) {
			return i
		}
	}
	return -1
}

// refusalCodeBase is the first write status code that carries a refusal
// between nodes: codes 0-2 are ST-1's.
const refusalCodeBase = 16

// RefusalCode is the status code a root sends its gateway for a refused
// write, or false if err is not a refusal of Refusals.
func RefusalCode(err error) (uint8, bool) {
	i := RefusalIndex(err)
	if i < 0 {
		return 0, false
	}
	return uint8(refusalCodeBase + i), true
}

// RefusalErr is the inverse of RefusalCode.
func RefusalErr(code uint8) (error, bool) {
	i := int(code) - refusalCodeBase
	if i < 0 || i >= len(Refusals) {
		return nil, false
	}
	return Refusals[i], true
}
