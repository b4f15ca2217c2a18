package linearizability

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/opendht-go/opendht/impl/dht"
)

// Histories of immutable and signed puts judged by CheckDHT (spec/SPEC.md
// section 18 in the terms of section 13, SG-10): the logical state of a signed
// key keeps only the greatest record (SG-6), and a get never returns an
// authenticated item that does not verify (IM-3, SG-5). Each negative
// case embodies a node that breaks one of those rules.

var signer = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))

// record signs value as seq of the test key under "n", expiring at the
// instant exp (seconds since t0).
func record(seq uint64, value string, exp float64) dht.Record {
	r := dht.Record{NameHash: dht.SHA1([]byte("n")), Seq: seq, Expires: dht.Time(dat(exp).Unix()), Value: []byte(value)}
	r.Sign(signer)
	return r
}

var skey = record(0, "", 1).Key()

// sput is an acknowledged put of r with a TTL well past its signed
// expiry, so every node keeps it until exactly then (SG-8).
func sput(r dht.Record, call, ret float64) Event {
	return Event{Client: 1, Kind: OpPut, Key: skey, Value: r.Encode(), SecretHash: dht.TagSigned, TTL: 7200, Call: dat(call), Return: dat(ret)}
}

// sget is a get of the signed key that returned the records rs.
func sget(call, ret float64, rs ...dht.Record) Event {
	e := Event{Client: 3, Kind: OpGet, Key: skey, Call: dat(call), Return: dat(ret)}
	for _, r := range rs {
		e.Values = append(e.Values, dht.Value{Value: r.Encode(), SecretHash: dht.TagSigned})
	}
	return e
}

func TestCheckDHTSigned(t *testing.T) {
	r0, r1 := record(0, "first", 3600), record(1, "second", 3600)
	short := record(1, "short-lived", 600) // outranks r0 but does not outlive it
	forged := r1
	forged.Value = []byte("forged")
	imm := []byte("immutable")
	immKey := dht.ImmutableKey(dht.ImmutableSHA1, imm)
	immPut := Event{Client: 1, Kind: OpPut, Key: immKey, Value: imm, SecretHash: dht.TagImmutableSHA1, TTL: 3600, Call: dat(1), Return: dat(2)}
	immGet := func(call float64, value []byte) Event {
		return Event{Client: 3, Kind: OpGet, Key: immKey, Call: dat(call), Return: dat(call + 1), Values: []dht.Value{{Value: value, SecretHash: dht.TagImmutableSHA1}}}
	}
	for _, tc := range []struct {
		name   string
		h      History
		faults []Interval
		want   string
	}{
		{"a lower record during a fault", History{sput(r0, 1, 2), sput(r1, 3, 4), sget(5, 6, r0, r1)}, faultsAt(0, 10), ""},
		{"a lower record before the settle time", History{sput(r0, 1, 2), sput(r1, 3, 4), sget(20, 21, r0, r1)}, nil, ""},
		{"the greatest record once settled", History{sput(r0, 1, 2), sput(r1, 3, 4), sget(100, 101, r1)}, nil, ""},
		{"a replayed lower record refused", History{sput(r0, 1, 2), sput(r1, 3, 4), noAnswer(sput(r0, 50, 51)), sget(100, 101, r1)}, nil, ""},
		{"a lower record that outlives the greater", History{sput(r0, 1, 2), sput(short, 3, 4), sget(100, 101, r0, short)}, nil, ""},
		{"the greatest record arrived first", History{sput(r1, 1, 2), sput(r0, 3, 4), sget(100, 101, r1)}, nil, ""},
		{"an immutable value", History{immPut, immGet(10, imm)}, nil, ""},
		// Negative controls.
		{"a superseded record after the settle time", History{sput(r0, 1, 2), sput(r1, 3, 4), sget(100, 101, r0, r1)}, nil, "SG-6"},
		{"a replayed lower record kept", History{sput(r1, 1, 2), sput(r0, 3, 4), sget(100, 101, r0, r1)}, nil, "SG-6"},
		{"the greatest record missing", History{sput(r0, 1, 2), sput(r1, 3, 4), sget(100, 101)}, nil, "RD-7"},
		{"a forged record", History{sput(r1, 1, 2), sget(100, 101, forged, r1)}, nil, "SG-5"},
		{"a value under the wrong immutable key", History{immPut, immGet(10, []byte("other"))}, nil, "IM-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := CheckDHT(tc.h, tc.faults, dcfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(res.Violations) > 0 || res.Verdict != VerdictOK {
					t.Fatalf("verdict %v, violations %v", res.Verdict, res.Violations)
				}
				return
			}
			found := false
			for _, v := range res.Violations {
				found = found || v.Rule == tc.want
			}
			if !found {
				t.Fatalf("want a %s violation, got %v (%v)", tc.want, res.Violations, res.Verdict)
			}
			t.Logf("caught: %v", res.Violations[0])
		})
	}
}
