package largevalue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"pgregory.net/rapid"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/largevalue"
	"github.com/opendht-go/opendht/impl/largevalue/largevaluetest"
	"github.com/opendht-go/opendht/model"
)

// value returns n deterministic bytes for a seed; seed 0 is all zeros, so
// that blocks repeat within a value and across values.
func value(n int, seed uint64) []byte {
	b := make([]byte, n)
	if seed == 0 {
		return b
	}
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// blockKeys returns the keys of a value's data blocks (LV-1).
func blockKeys(data []byte) []dht.Key {
	var out []dht.Key
	for off := 0; off < len(data); off += largevalue.BlockSize {
		out = append(out, largevalue.BlockKey(data[off:min(off+largevalue.BlockSize, len(data))]))
	}
	return out
}

// sizes are the lengths the checks draw: empty, one block, block edges,
// a full root (49 blocks), a tree of height 2.
var sizes = []int{0, 1, 1000, 1024, 1025, 3 * 1024, 49 * 1024, 49*1024 + 7, 60 * 1024}

// layerVsModel is the differential check of section 17: rapid draws
// writes (also failing ones and two concurrent ones to one name), reads,
// removes, lost and corrupted blocks and the passing of time; the layer
// runs them over the in-memory DHT and the model runs them on
// model.LargeValues. A read must return exactly the model's value, or,
// only when one of that value's blocks was damaged, an error that names a
// damaged block after writing a prefix of the value (LV-3..LV-7).
func layerVsModel(bug largevalue.Variant) func(*rapid.T) {
	return func(t *rapid.T) {
		d := largevaluetest.New()
		cfg := largevalue.DefaultConfig()
		cfg.Now = d.Now
		cfg.Parallel = rapid.IntRange(1, 8).Draw(t, "parallel")
		cfg.Attempts = 1
		l := largevalue.New(d, cfg)
		if bug != (largevalue.Variant{}) {
			if err := largevalue.Plant(l, bug); err != nil {
				t.Fatal(err)
			}
		}
		m := model.NewLargeValues()
		names := []dht.Key{dht.Key(dht.SHA1([]byte("a"))), dht.Key(dht.SHA1([]byte("b")))}
		secrets := [][]byte{nil, []byte("s1"), []byte("s2")}
		damaged := map[dht.Key]bool{}
		ctx := context.Background()

		drawWrite := func(t *rapid.T, label string) (dht.Key, []byte, []byte, int64) {
			name := rapid.SampledFrom(names).Draw(t, label+" name")
			data := value(rapid.SampledFrom(sizes).Draw(t, label+" size"), rapid.Uint64Range(0, 3).Draw(t, label+" seed"))
			secret := rapid.SampledFrom(secrets).Draw(t, label+" secret")
			return name, data, secret, rapid.Int64Range(3, 60).Draw(t, label+" ttl")
		}
		record := func(name dht.Key, data, secret []byte, ttl int64, info largevalue.Info) {
			v := model.LargeVersion{Data: data, Created: info.Created.UnixNano(), Expiry: d.Time() + dht.Time(ttl) - 2}
			if secret != nil {
				v.SecretHash = dht.SHA1(secret)
			}
			m.Put(name, v)
		}
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				name, data, secret, ttl := drawWrite(t, "put")
				info, err := l.Put(ctx, name, bytes.NewReader(data), largevalue.PutOptions{TTL: ttl, Secret: secret})
				if err != nil {
					t.Fatalf("put of %d bytes: %v", len(data), err)
				}
				record(name, data, secret, ttl, info)
			},
			"failed put": func(t *rapid.T) {
				name, data, secret, ttl := drawWrite(t, "failed put")
				d.FailPut(rapid.IntRange(1, len(blockKeys(data))+1).Draw(t, "failing put"))
				_, err := l.Put(ctx, name, bytes.NewReader(data), largevalue.PutOptions{TTL: ttl, Secret: secret})
				d.FailPut(0)
				if !errors.Is(err, largevaluetest.ErrInjected) {
					t.Fatalf("a put with a failing block put answered %v", err)
				}
			},
			"concurrent puts": func(t *rapid.T) {
				name, data1, secret1, ttl1 := drawWrite(t, "first")
				_, data2, secret2, ttl2 := drawWrite(t, "second")
				var wg sync.WaitGroup
				var info1, info2 largevalue.Info
				var err1, err2 error
				wg.Go(func() {
					info1, err1 = l.Put(ctx, name, bytes.NewReader(data1), largevalue.PutOptions{TTL: ttl1, Secret: secret1})
				})
				wg.Go(func() {
					info2, err2 = l.Put(ctx, name, bytes.NewReader(data2), largevalue.PutOptions{TTL: ttl2, Secret: secret2})
				})
				wg.Wait()
				if err1 != nil || err2 != nil {
					t.Fatalf("concurrent puts: %v, %v", err1, err2)
				}
				record(name, data1, secret1, ttl1, info1)
				record(name, data2, secret2, ttl2, info2)
			},
			"get": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "get name")
				var buf bytes.Buffer
				info, err := l.Get(ctx, name, &buf, nil)
				if msg := judgeGet(m, d.Time(), name, damaged, buf.Bytes(), info, err); msg != "" {
					t.Fatal(msg)
				}
			},
			"damage": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "damage name")
				v, ok := m.Get(name, d.Time())
				if !ok || len(v.Data) == 0 {
					t.Skip("no value to damage")
				}
				ks := blockKeys(v.Data)
				k := ks[rapid.IntRange(0, len(ks)-1).Draw(t, "damaged block")]
				if rapid.Bool().Draw(t, "lose (else corrupt)") {
					d.Drop(k)
				} else {
					d.Corrupt(k)
				}
				damaged[k] = true
			},
			"remove": func(t *rapid.T) {
				name := rapid.SampledFrom(names).Draw(t, "remove name")
				secret := rapid.SampledFrom(secrets[1:]).Draw(t, "remove secret")
				err := l.Remove(ctx, name, secret, "")
				if want := m.Remove(name, dht.SHA1(secret), d.Time()); want && err != nil {
					t.Fatalf("remove of a value put with the secret: %v", err)
				} else if !want && !errors.Is(err, largevalue.ErrNotRemovable) {
					t.Fatalf("remove without a value put with the secret: %v, want ErrNotRemovable", err)
				}
			},
			"advance": func(t *rapid.T) {
				d.Advance(rapid.Int64Range(1, 20).Draw(t, "seconds"))
			},
		})
	}
}

// judgeGet returns why a read of name disagrees with the model, or "".
func judgeGet(m *model.LargeValues, now dht.Time, name dht.Key, damaged map[dht.Key]bool, got []byte, info largevalue.Info, err error) string {
	want, ok := m.Get(name, now)
	if !ok {
		if !errors.Is(err, largevalue.ErrNotFound) {
			return fmt.Sprintf("get of a name without a value: %d bytes, err %v; want ErrNotFound", len(got), err)
		}
		return ""
	}
	if err == nil {
		if !bytes.Equal(got, want.Data) || info.Size != int64(len(want.Data)) {
			return fmt.Sprintf("get returned %d bytes (size %d) that differ from the %d bytes written at %d (LV-4, LV-5)", len(got), info.Size, len(want.Data), want.Created)
		}
		return ""
	}
	var be *largevalue.BlockError
	if !errors.As(err, &be) || !damaged[be.Key] {
		return fmt.Sprintf("get of a value of %d bytes failed with %v, which names no damaged block", len(want.Data), err)
	}
	hit := false
	for _, k := range blockKeys(want.Data) {
		hit = hit || damaged[k]
	}
	if !hit {
		return fmt.Sprintf("get failed with %v, but no block of the value was damaged", err)
	}
	if !bytes.HasPrefix(want.Data, got) {
		return fmt.Sprintf("a failed get wrote %d bytes that are not a prefix of the value", len(got))
	}
	return ""
}

// advancing is a DHT whose clock moves a second every few puts, as a long
// write's does.
type advancing struct {
	*largevaluetest.DHT
	mu    sync.Mutex
	puts  int
	every int
}

func (a *advancing) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	a.mu.Lock()
	a.puts++
	if a.puts%a.every == 0 {
		a.Advance(1)
	}
	a.mu.Unlock()
	return a.DHT.Put(ctx, p)
}

// expiryProblems writes a value over a DHT whose clock moves during the
// write, then reads it every second until it is gone: every read must
// return the whole value or ErrNotFound, never an error about an expired
// block (LV-6).
func expiryProblems(bug largevalue.Variant) []string {
	a := &advancing{DHT: largevaluetest.New(), every: 8}
	cfg := largevalue.DefaultConfig()
	cfg.Now = a.Now
	l := largevalue.New(a, cfg)
	if bug != (largevalue.Variant{}) {
		if err := largevalue.Plant(l, bug); err != nil {
			return []string{err.Error()}
		}
	}
	data := value(40*1024, 7)
	ctx := context.Background()
	if _, err := l.Put(ctx, dht.Key{1}, bytes.NewReader(data), largevalue.PutOptions{TTL: 30}); err != nil {
		return []string{fmt.Sprintf("put: %v", err)}
	}
	var out []string
	for range 40 {
		var buf bytes.Buffer
		_, err := l.Get(ctx, dht.Key{1}, &buf, nil)
		switch {
		case err == nil && !bytes.Equal(buf.Bytes(), data):
			out = append(out, fmt.Sprintf("at %d: wrong data", a.Time()))
		case err != nil && !errors.Is(err, largevalue.ErrNotFound):
			out = append(out, fmt.Sprintf("at %d: %v", a.Time(), err))
		}
		a.Advance(1)
	}
	return out
}

// rootWrittenLast checks LV-3 on a DHT's write log: the put of the root
// (under name) started after every other put of the write was
// acknowledged.
func rootWrittenLast(events []largevaluetest.Event, name dht.Key) string {
	root := -1
	for i, e := range events {
		if e.Key == name {
			root = i
		}
	}
	if root < 0 {
		return "no root was written"
	}
	for _, e := range events {
		if e.Key != name && e.Ack > events[root].Start {
			return fmt.Sprintf("the root's put started (%d) before the put under %s was acknowledged (%d)", events[root].Start, e.Key, e.Ack)
		}
	}
	return ""
}

// writeOrderProblem writes a value whose blocks are slow to acknowledge
// and checks the write order.
func writeOrderProblem(bug largevalue.Variant) string {
	d := largevaluetest.New()
	d.Pause = 200 * time.Microsecond
	cfg := largevalue.DefaultConfig()
	cfg.Now = d.Now
	cfg.Parallel = 8
	l := largevalue.New(d, cfg)
	if bug != (largevalue.Variant{}) {
		if err := largevalue.Plant(l, bug); err != nil {
			return err.Error()
		}
	}
	if _, err := l.Put(context.Background(), dht.Key{2}, bytes.NewReader(value(100*1024, 3)), largevalue.PutOptions{TTL: 60}); err != nil {
		return err.Error()
	}
	return rootWrittenLast(d.Writes(), dht.Key{2})
}
