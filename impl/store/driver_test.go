package store

import (
	"github.com/opendht-go/opendht/impl/dht"
)

// driver drives a store the way the node's server does (impl/node): one
// goroutine submits steps, in batches of what accumulated while the
// previous batch was being applied, and one syncer goroutine waits for
// each batch's Pending in order and only then acknowledges its writes
// (DUR-1). Tests and benchmarks use it in place of a write path of their
// own, so that they measure and check the one the node takes.
type driver struct {
	s     *Store
	batch int // steps in one StepsAsync at most
	// batches and steps counted by the loop, read after close.
	batches, steps int
	calls          chan *call
	toSync         chan synced
	done           chan struct{}
}

// call is one write submitted by a client of the driver.
type call struct {
	op     dht.Op
	now    dht.Time
	status dht.Status
	err    error
	done   chan struct{}
}

// synced is one batch on its way to disk and what to acknowledge after.
type synced struct {
	p    *Pending
	acks []ack
}

type ack struct {
	c      *call
	status dht.Status
	err    error
}

// maxBatch bounds the steps in one batch: enough for every writer of the
// benchmarks at once.
const maxBatch = 256

func newDriver(s *Store) *driver { return newDriverBatch(s, maxBatch) }

// newDriverBatch is newDriver with at most batch steps per StepsAsync; 1
// is the node's driver before it batched (one StepAsync per write).
func newDriverBatch(s *Store, batch int) *driver {
	d := &driver{s: s, batch: batch, calls: make(chan *call, maxBatch), toSync: make(chan synced, 1<<12), done: make(chan struct{})}
	go d.loop()
	go d.syncer()
	return d
}

// close stops the driver once every submitted write is answered.
func (d *driver) close() {
	close(d.calls)
	<-d.done
}

// write submits a put or remove at time now and waits until it is
// acknowledged: its status once durable, or an error.
func (d *driver) write(op dht.Op, now dht.Time) (dht.Status, error) {
	c := &call{op: op, now: now, done: make(chan struct{})}
	d.calls <- c
	<-c.done
	return c.status, c.err
}

func (d *driver) loop() {
	defer close(d.toSync)
	waiting := map[uint64]*call{}
	var nextID uint64
	batch := make([]*call, 0, maxBatch)
	ops := make([]dht.Op, 0, maxBatch)
	for c := range d.calls {
		batch, ops = append(batch[:0], c), ops[:0]
	drain:
		for len(batch) < d.batch {
			select {
			case c, ok := <-d.calls:
				if !ok {
					break drain
				}
				batch = append(batch, c)
			default:
				break drain
			}
		}
		now := batch[0].now
		for _, c := range batch {
			nextID++
			c.op.ID = nextID
			waiting[nextID] = c
			ops = append(ops, c.op)
			now = max(now, c.now)
		}
		d.batches++
		d.steps += len(ops)
		res, p, err := d.s.StepsAsync(ops, now)
		var acks []ack
		if err != nil {
			for _, c := range batch {
				delete(waiting, c.op.ID)
				acks = append(acks, ack{c: c, err: err})
			}
		}
		for i, r := range res {
			if r.Err != nil {
				delete(waiting, batch[i].op.ID)
				acks = append(acks, ack{c: batch[i], err: r.Err})
			}
			for _, done := range r.Completed {
				if c, ok := waiting[done.ID]; ok {
					delete(waiting, done.ID)
					acks = append(acks, ack{c: c, status: done.Status})
				}
			}
		}
		// A step that wrote nothing may still depend on earlier ones (a
		// put refused by a tombstone not yet synced): it goes through the
		// syncer in order too.
		d.toSync <- synced{p: p, acks: acks}
	}
	// Writes still queued for admission are never acknowledged.
	for _, c := range waiting {
		c.err = ErrClosed
		close(c.done)
	}
}

func (d *driver) syncer() {
	defer close(d.done)
	for b := range d.toSync {
		var err error
		if b.p != nil {
			err = b.p.Wait()
		}
		for _, a := range b.acks {
			a.c.status, a.c.err = a.status, a.err
			if err != nil {
				a.c.err = err
			}
			close(a.c.done)
		}
	}
}
