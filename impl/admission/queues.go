package admission

import (
	"container/heap"
	"fmt"

	"github.com/opendht-go/opendht/impl/dht"
)

// Write is one put or remove waiting for admission.
type Write struct {
	// ID names the write in completions.
	ID uint64
	// Client is the identity the write is charged to, without an
	// account's quota (AC-4); Quota is that quota in bytes, 0 for none.
	Client dht.ClientID
	Quota  int64
	// Charge is b in bytes (FST-1), TTL the clamped TTL in seconds.
	Charge int64
	TTL    int64
	// OverQuota is set by the store when the write is refused for its
	// quota (AC-5): it completes with status 3.
	OverQuota bool
	// Op is the operation itself, carried for the store.
	Op dht.Op

	arrival dht.Time
	order   uint64
	s, f    uint64
	done    bool // completed: lazily skipped in the arrival list
}

// S returns the write's start tag (FST-5).
func (w *Write) S() uint64 { return w.s }

// clientQueue is one client's FIFO.
type clientQueue struct {
	client dht.ClientID
	q      []*Write
	idx    int // position in the heads heap, -1 if absent
}

// Queues is start-time fair queuing over per-client FIFO queues (FST-4..FST-8).
type Queues struct {
	limit   int
	timeout int64
	clients map[dht.ClientID]*clientQueue
	lastF   map[dht.ClientID]uint64
	heads   headHeap
	v       uint64
	order   uint64
	// byArrival holds every queued write in arrival order; completed ones
	// are skipped lazily. The oldest queued write is always at the head of
	// its client's queue, which is what makes FST-8 cheap.
	byArrival []*Write
	pending   map[uint64]*Write
}

// NewQueues returns empty queues with a per-client limit of limit writes and
// a timeout of timeout seconds.
func NewQueues(limit int, timeout int64) *Queues {
	return &Queues{limit: limit, timeout: timeout, clients: map[dht.ClientID]*clientQueue{},
		lastF: map[dht.ClientID]uint64{}, pending: map[uint64]*Write{}}
}

// Len returns the number of queued writes.
func (qs *Queues) Len() int { return len(qs.pending) }

// Lens returns the number of writes queued for each client with any.
func (qs *Queues) Lens() map[dht.ClientID]int {
	out := map[dht.ClientID]int{}
	for c, cq := range qs.clients {
		if len(cq.q) > 0 {
			out[c] = len(cq.q)
		}
	}
	return out
}

// QueueLen returns the writes queued for one client.
func (qs *Queues) QueueLen(c dht.ClientID) int {
	if cq := qs.clients[c]; cq != nil {
		return len(cq.q)
	}
	return 0
}

// IsPending reports whether a write with this ID is queued.
func (qs *Queues) IsPending(id uint64) bool { _, ok := qs.pending[id]; return ok }

// Enqueue queues w at time now (FST-5). It returns false if the client's
// queue is full (FST-6): the write must complete with status 1 and the tags
// do not change.
func (qs *Queues) Enqueue(w *Write, now dht.Time) bool {
	cq := qs.clients[w.Client]
	if cq != nil && len(cq.q) >= qs.limit {
		return false
	}
	if qs.pending[w.ID] != nil {
		panic(fmt.Sprintf("admission: write %d queued twice", w.ID))
	}
	s := max(qs.lastF[w.Client], qs.v)
	w.s, w.f = s, s+uint64(w.Charge)*uint64(w.TTL)
	w.arrival, w.order = now, qs.order
	qs.order++
	qs.lastF[w.Client] = w.f
	if cq == nil {
		cq = &clientQueue{client: w.Client, idx: -1}
		qs.clients[w.Client] = cq
	}
	cq.q = append(cq.q, w)
	if len(cq.q) == 1 {
		heap.Push(&qs.heads, cq)
	}
	qs.byArrival = append(qs.byArrival, w)
	qs.pending[w.ID] = w
	qs.maybeRenormalize()
	return true
}

// Head returns the queued write with the lowest start tag (ties: earliest
// arrival), or nil.
func (qs *Queues) Head() *Write {
	if len(qs.heads) == 0 {
		return nil
	}
	return qs.heads[0].q[0]
}

// PopHead completes the head: V becomes max(V, S) (FST-4).
func (qs *Queues) PopHead() *Write {
	cq := qs.heads[0]
	w := cq.q[0]
	qs.v = max(qs.v, w.s)
	qs.popClient(cq)
	return w
}

func (qs *Queues) popClient(cq *clientQueue) {
	w := cq.q[0]
	cq.q[0] = nil
	cq.q = cq.q[1:]
	w.done = true
	delete(qs.pending, w.ID)
	if len(cq.q) == 0 {
		heap.Remove(&qs.heads, cq.idx)
		delete(qs.clients, cq.client)
	} else {
		heap.Fix(&qs.heads, cq.idx)
	}
}

// Timeouts removes and returns, in arrival order, the writes that have
// waited timeout seconds or more at time now (FST-8).
func (qs *Queues) Timeouts(now dht.Time) []*Write {
	var out []*Write
	i := 0
	for ; i < len(qs.byArrival); i++ {
		w := qs.byArrival[i]
		if w.done {
			continue
		}
		if int64(now-w.arrival) < qs.timeout {
			break
		}
		cq := qs.clients[w.Client]
		if cq.q[0] != w {
			panic(fmt.Sprintf("admission: oldest write %d is not the head of client %q", w.ID, w.Client))
		}
		// FST-8: the client gets the cost back, so that time-outs do not
		// push its later writes behind in virtual time.
		cost := uint64(w.Charge) * uint64(w.TTL)
		for _, later := range cq.q[1:] {
			later.s -= cost
			later.f -= cost
		}
		qs.lastF[w.Client] -= cost
		qs.popClient(cq)
		out = append(out, w)
	}
	clear(qs.byArrival[:i])
	qs.byArrival = qs.byArrival[i:]
	return out
}

// maybeRenormalize keeps tags in 64 bits on a node that runs for years:
// subtracting the same amount from V, every last finish tag and every
// queued tag changes no comparison. Last finish tags below V act as V
// (S = max(lastF, V)), so they are raised to V first.
func (qs *Queues) maybeRenormalize() {
	if qs.v < 1<<62 {
		return
	}
	m := qs.v
	for _, w := range qs.pending {
		m = min(m, w.s)
	}
	for c, f := range qs.lastF {
		qs.lastF[c] = max(f, qs.v) - m
	}
	for _, w := range qs.pending {
		w.s -= m
		w.f -= m
	}
	qs.v -= m
}

type headHeap []*clientQueue

func (h headHeap) Len() int { return len(h) }
func (h headHeap) Less(i, j int) bool {
	a, b := h[i].q[0], h[j].q[0]
	if a.s != b.s {
		return a.s < b.s
	}
	return a.order < b.order
}
func (h headHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *headHeap) Push(x any) {
	cq := x.(*clientQueue)
	cq.idx = len(*h)
	*h = append(*h, cq)
}
func (h *headHeap) Pop() any {
	old := *h
	cq := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	cq.idx = -1
	return cq
}
