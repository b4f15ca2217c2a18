package store

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/model"
)

// TestDuplicatePendingID checks LIM-8 on the model and the store: while a
// write waits in its queue, another write with its id is refused, and the
// queued one still completes once (ST-2).
func TestDuplicatePendingID(t *testing.T) {
	mc := diffConfig()
	m := model.New(mc)
	s, err := Open(storeConfig(mc, vfs.NewMem(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const now = 1_000_000
	put := func(id uint64, v byte) dht.Op {
		return dht.Op{Kind: dht.OpPut, ID: id, Put: dht.Put{Client: "c", Key: dht.Key{1}, Value: append(make([]byte, 1023), v), TTL: 20}}
	}
	for id := uint64(1); id <= 3; id++ {
		want := m.Step(put(id, byte(id)), now)
		got, err := s.Step(put(id, byte(id)), now)
		if err != nil || len(want.Completed) != len(got.Completed) {
			t.Fatalf("put %d: %v model %+v store %+v", id, err, want, got)
		}
	}
	if !m.IsPending(3) {
		t.Fatal("the third put should wait for capacity (FST-3)")
	}
	want := m.Step(put(3, 9), now)
	got, err := s.Step(put(3, 9), now)
	if err != nil || !errors.Is(want.Err, dht.ErrDuplicateRequest) || !errors.Is(got.Err, dht.ErrDuplicateRequest) {
		t.Fatalf("LIM-8: model %v, store %v %v", want.Err, got.Err, err)
	}
	// Capacity frees up as time passes; the queued write completes once.
	want = m.Step(dht.Op{Kind: dht.OpTick}, now+3)
	got, err = s.Step(dht.Op{Kind: dht.OpTick}, now+3)
	if err != nil || len(want.Completed) != 1 || len(got.Completed) != 1 || got.Completed[0] != want.Completed[0] || got.Completed[0].ID != 3 {
		t.Fatalf("after the wait: model %+v store %+v %v", want.Completed, got.Completed, err)
	}
}
