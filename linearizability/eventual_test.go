package linearizability

import (
	"strings"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func put(v string, call, ret int, ttl int64) Event {
	return Event{Kind: OpPut, Key: dht.Key{1}, Value: []byte(v), TTL: ttl, Call: at(call), Return: at(ret), Status: dht.StatusOK}
}

func get(call, ret int, vals ...string) Event {
	e := Event{Kind: OpGet, Key: dht.Key{1}, Call: at(call), Return: at(ret)}
	for _, v := range vals {
		e.Values = append(e.Values, dht.Value{Value: []byte(v)})
	}
	return e
}

func rm(v string, call, ret int) Event {
	return Event{Kind: OpRemove, Key: dht.Key{1}, Value: []byte(v), Call: at(call), Return: at(ret), Status: dht.StatusOK}
}

var cfg = EventualConfig{MaxTTL: 3600, Skew: 2 * time.Second, Settle: 10 * time.Second, FinalReads: at(1000)}

// TestCheckEventual gives each property a history that keeps it and one
// that breaks it: the checker must accept the first and name the second.
func TestCheckEventual(t *testing.T) {
	for _, c := range []struct {
		name string
		h    History
		want string // "" for no violation
	}{
		{"ok", History{put("a", 0, 1, 600), get(2, 3, "a")}, ""},
		{"phantom", History{get(2, 3, "zzz")}, "phantom"},
		{"value read before its put was called", History{get(2, 3, "a"), put("a", 5, 6, 600)}, "phantom"},
		{"concurrent put may be seen", History{put("a", 2, 9, 600), get(3, 4, "a")}, ""},
		{"expired", History{put("a", 0, 1, 10), get(20, 21, "a")}, "expired value"},
		{"within skew", History{put("a", 0, 1, 10), get(12, 13, "a")}, ""},
		{"ttl clamp", History{put("a", 0, 1, 1<<40), get(3601+10, 3612, "a")}, "expired value"},
		{"resurrection", History{put("a", 0, 1, 600), rm("a", 2, 3), get(30, 31, "a")}, "resurrection"},
		{"removal settling", History{put("a", 0, 1, 600), rm("a", 2, 3), get(5, 6, "a")}, ""},
		{"resurrection during a partition", History{put("a", 0, 1, 600), rm("a", 2, 3), get(30, 31, "a")}, "faulty"},
		{"resurrection after the partition settled", History{put("a", 0, 1, 600), rm("a", 2, 3), get(60, 61, "a")}, "faulty:resurrection"},
		{"re-put after remove", History{put("a", 0, 1, 600), rm("a", 2, 3), put("a", 20, 21, 600), get(30, 31, "a")}, ""},
		{"lost put", History{put("a", 0, 1, 3600), get(1000, 1001)}, "lost put"},
		{"final read complete", History{put("a", 0, 1, 3600), get(1000, 1001, "a")}, ""},
		{"expired before final read", History{put("a", 0, 1, 60), get(1000, 1001)}, ""},
		{"removed not lost", History{put("a", 0, 1, 3600), rm("a", 5, 6), get(1000, 1001)}, ""},
		{"unacknowledged put may be missing", History{{Kind: OpPut, Key: dht.Key{1}, Value: []byte("a"), TTL: 3600, Call: at(0), Unknown: true}, get(1000, 1001)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cf := cfg
			want := c.want
			if strings.HasPrefix(want, "faulty") {
				cf.Faults = []Interval{{at(10), at(40)}}
				want = strings.TrimPrefix(strings.TrimPrefix(want, "faulty"), ":")
			}
			c.want = want
			v := CheckEventual(c.h, cf)
			switch {
			case c.want == "" && len(v) > 0:
				t.Fatalf("false alarm: %v", v)
			case c.want != "" && len(v) == 0:
				t.Fatalf("missed a %s", c.want)
			case c.want != "" && v[0].Property != c.want:
				t.Fatalf("got %v, want a %s", v, c.want)
			}
		})
	}
}

// TestUnknownPutWithoutFinalReads: a put whose outcome is unknown may take
// effect at any time, so a get that returns its value is no "expired
// value", also in a history without a final read phase (FinalReads zero).
func TestUnknownPutWithoutFinalReads(t *testing.T) {
	unknown := put("late", 1, 2, 60)
	unknown.Unknown = true
	c := cfg
	c.FinalReads = time.Time{}
	if v := CheckEventual(History{unknown, get(30, 31, "late")}, c); len(v) > 0 {
		t.Fatalf("violations for a value of an unknown put: %v", v)
	}
	if v := CheckEventual(History{put("gone", 1, 2, 10), get(30, 31, "gone")}, c); len(v) != 1 || v[0].Property != "expired value" {
		t.Fatalf("an acknowledged put's value long after its TTL: %v, want one expired value", v)
	}
}
