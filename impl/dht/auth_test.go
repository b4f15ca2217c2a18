package dht

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

var testOwner = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))

func testRecord() Record {
	r := Record{NameHash: SHA1([]byte("name")), Seq: 7, Expires: 1_700_000_600, Value: []byte("hello")}
	r.Sign(testOwner)
	return r
}

// TestImmutableKeys: IM-2, the key of each variant, and its kind tag (IM-1).
func TestImmutableKeys(t *testing.T) {
	v := []byte("a value")
	if k := ImmutableKey(ImmutableSHA1, v); Hash(k) != SHA1(v) {
		t.Fatalf("SHA-1 key %v", k)
	}
	h := sha256.Sum256(v)
	if k := ImmutableKey(ImmutableSHA256, v); !bytes.Equal(k[:], h[:KeyLen]) {
		t.Fatalf("SHA-256 key %v", k)
	}
	p := ImmutablePut(ImmutableSHA256, v, 10, "c")
	if p.SecretHash != TagImmutableSHA256 || p.Authenticate() != nil {
		t.Fatalf("SHA-256 put: tag %v, %v", p.SecretHash, p.Authenticate())
	}
	p.SecretHash = TagImmutableSHA1 // the same key read as the other variant
	if !errors.Is(p.Authenticate(), ErrImmutableKey) {
		t.Fatal("a SHA-256 key passed as SHA-1")
	}
	if IsAuthTag(SHA1([]byte("any secret"))) || !IsAuthTag(TagSigned) {
		t.Fatal("IsAuthTag")
	}
	if (Remove{Secret: []byte("s")}).AuthenticateRemove() != nil {
		t.Fatal("a plain rm refused (IM-4)")
	}
}

// TestSignedKeyAndEncodingGolden pins SG-2's key derivation and SG-4's
// stored form: a change of either is a format break.
func TestSignedKeyAndEncodingGolden(t *testing.T) {
	r := testRecord()
	enc := r.Encode()
	if len(enc) != RecordOverhead+len(r.Value) || enc[0] != 1 || enc[1] != 0 {
		t.Fatalf("SG-4 header: % x", enc[:2])
	}
	if !bytes.Equal(enc[2:34], r.PublicKey) || !bytes.Equal(enc[34:54], r.NameHash[:]) ||
		hex.EncodeToString(enc[54:70]) != "0000000000000007000000006553f358" ||
		!bytes.Equal(enc[70:134], r.Signature) || string(enc[134:]) != "hello" {
		t.Fatalf("SG-4 layout: %x", enc)
	}
	d, err := DecodeRecord(enc)
	if err != nil || !bytes.Equal(d.Encode(), enc) || d.Verify(r.Key()) != nil {
		t.Fatalf("decode: %v", err)
	}
	// SG-2: the key is SHA-1 over the domain, the public key and the name hash.
	want := SHA1(append(append([]byte("opendht-go signed key v1\x00"), r.PublicKey...), r.NameHash[:]...))
	if Hash(r.Key()) != want {
		t.Fatalf("SG-2 key %v, want %v", r.Key(), want)
	}
	if got := r.Key().String(); got != goldenSignedKey {
		t.Fatalf("SG-2 key of the test owner is %s, was %s", got, goldenSignedKey)
	}
	// SG-3: ed25519 is deterministic, so the signature is golden too.
	if got := hex.EncodeToString(r.Signature[:8]); got != goldenSignaturePrefix {
		t.Fatalf("SG-3 signature starts %s, was %s", got, goldenSignaturePrefix)
	}
}

// TestSignedMessageBindsEveryField: SG-3 and SG-5, each field of the
// record is signed, and the key: changing any refuses the record.
func TestSignedMessageBindsEveryField(t *testing.T) {
	r := testRecord()
	key := r.Key()
	for name, mut := range map[string]func(*Record){
		"seq":     func(r *Record) { r.Seq++ },
		"expires": func(r *Record) { r.Expires++ },
		"removed": func(r *Record) { r.Removed, r.Value = true, nil },
		"value":   func(r *Record) { r.Value = []byte("hellp") },
	} {
		c := r
		mut(&c)
		if err := c.Verify(key); !errors.Is(err, ErrRecordSignature) {
			t.Errorf("%s changed: %v", name, err)
		}
	}
	other := SignedKey(r.PublicKey, SHA1([]byte("other")))
	if err := r.Verify(other); !errors.Is(err, ErrRecordOwner) {
		t.Errorf("under another key: %v", err)
	}
	c := r
	c.Signature = c.Signature[:10]
	if err := c.Verify(key); !errors.Is(err, ErrRecordMalformed) {
		t.Errorf("short signature: %v", err)
	}
	if _, err := DecodeRecord(r.Encode()[:RecordOverhead-1]); !errors.Is(err, ErrRecordMalformed) {
		t.Errorf("truncated record: %v", err)
	}
}

// TestOutranks: SG-6's order, total and the same at every node; SG-7's
// signed remove is a record like the others.
func TestOutranks(t *testing.T) {
	a, b := testRecord(), testRecord()
	b.Seq++
	b.Sign(testOwner)
	if !Outranks(b, a) || Outranks(a, b) {
		t.Fatal("a higher seq does not outrank")
	}
	c := testRecord()
	c.Value = []byte("other")
	c.Sign(testOwner)
	if Outranks(a, c) == Outranks(c, a) {
		t.Fatal("two records of one seq are not ordered")
	}
	rm := Record{NameHash: a.NameHash, Seq: a.Seq + 1, Expires: a.Expires, Removed: true}
	rm.Sign(testOwner)
	if rm.Verify(a.Key()) != nil || !Outranks(rm, a) {
		t.Fatal("a signed remove")
	}
	if _, err := DecodeRecord(append(rm.Encode(), 'x')); !errors.Is(err, ErrRecordMalformed) {
		t.Fatal("a signed remove with a value decoded")
	}
}

// TestRefusalCodes: every refusal of SG-9 has a wire code outside ST-1's
// statuses, and the code maps back to it.
func TestRefusalCodes(t *testing.T) {
	for _, r := range Refusals {
		code, ok := RefusalCode(r)
		if !ok || code <= 2 {
			t.Fatalf("%v: code %d", r, code)
		}
		if back, ok := RefusalErr(code); !ok || back != r {
			t.Fatalf("code %d maps to %v", code, back)
		}
	}
	if _, ok := RefusalErr(2); ok {
		t.Fatal("status 2 read as a refusal")
	}
}

// FuzzDecodeRecord: decoding never panics, and what decodes encodes back
// to the same bytes (SG-4).
func FuzzDecodeRecord(f *testing.F) {
	f.Add(testRecord().Encode())
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("decode-encode changed %x into %x", b, r.Encode())
		}
		_ = r.Verify(r.Key())
	})
}

// BenchmarkVerifySignedPut is what a node spends verifying one signed put
// with the largest value (SG-5); BenchmarkVerifyImmutablePut one immutable
// put of 1024 bytes (IM-3).
func BenchmarkVerifySignedPut(b *testing.B) {
	r := Record{NameHash: SHA1([]byte("name")), Seq: 1, Expires: 1_700_000_600, Value: make([]byte, MaxSignedValueLen)}
	r.Sign(testOwner)
	p := SignedPut(r, 1_700_000_000, "c")
	for b.Loop() {
		if err := p.Authenticate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyImmutablePut(b *testing.B) {
	for _, alg := range []ImmutableAlg{ImmutableSHA1, ImmutableSHA256} {
		p := ImmutablePut(alg, make([]byte, MaxValueLen), 10, "c")
		b.Run(alg.String(), func(b *testing.B) {
			for b.Loop() {
				if err := p.Authenticate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

const (
	goldenSignedKey       = "8649c28d635c2f9392bfdf997b5dcbdc61d0b672"
	goldenSignaturePrefix = "a7de41539c697034"
)
