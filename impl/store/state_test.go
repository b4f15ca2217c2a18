package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
)

// TestStateSaveLoadScan: protocol state survives a crash once its Pending
// is durable, namespaces are apart from each other and from items (CAS-1,
// RR-7), a delete removes, and limits refuse.
func TestStateSaveLoadScan(t *testing.T) {
	fs := vfs.NewCrashableMem()
	cfg := DefaultConfig("db")
	cfg.FS = fs
	st, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := dht.Key{1}, dht.Key{0xff, 0xff}
	for _, w := range []struct {
		ns  string
		k   dht.Key
		val string
	}{{"caspaxos", k1, "a"}, {"caspaxos", k2, "b"}, {"other", k1, "c"}, {"caspaxo", k1, "d"}} {
		p, err := st.SaveState(w.ns, w.k, []byte(w.val))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	// An item under the same key is not state, and state is not an item.
	if _, err := st.Step(dht.Op{Kind: dht.OpPut, ID: 1, Put: dht.Put{Client: "c", Key: k1, Value: []byte("item"), TTL: 60}}, 100); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	_ = st.Close()
	cfg.FS = crashed
	st, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, _ := st.LoadState("caspaxos", k1); string(v) != "a" {
		t.Fatalf("caspaxos k1 = %q, want a", v)
	}
	if v, _ := st.LoadState("other", k1); string(v) != "c" {
		t.Fatalf("other k1 = %q, want c", v)
	}
	if v, _ := st.LoadState("other", k2); v != nil {
		t.Fatalf("other k2 = %q, want nothing", v)
	}
	var got []string
	if err := st.ScanState("caspaxos", func(k dht.Key, v []byte) bool {
		got = append(got, string(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("scan of caspaxos = %q, want [a b] (not other namespaces)", got)
	}
	rep, err := st.Get(dht.Get{Key: k1, MaxVals: 10}, 100)
	if err != nil || len(rep.Values) != 1 || !bytes.Equal(rep.Values[0].Value, []byte("item")) {
		t.Fatalf("get k1 = %v, %v: want only the item", rep.Values, err)
	}
	p, err := st.SaveState("caspaxos", k1, nil)
	if err != nil || p.Wait() != nil {
		t.Fatal(err)
	}
	if v, _ := st.LoadState("caspaxos", k1); v != nil {
		t.Fatalf("deleted state still reads %q", v)
	}
	if _, err := st.SaveState("caspaxos", k1, make([]byte, MaxStateLen+1)); !errors.Is(err, ErrStateTooLarge) {
		t.Fatalf("oversized state: %v", err)
	}
	if _, err := st.SaveState("", k1, []byte("x")); !errors.Is(err, ErrStateTooLarge) {
		t.Fatalf("empty namespace: %v", err)
	}
}
