package simnet

// entry is one scheduled event in the queue: its time in nanoseconds since
// the epoch, its sequence number (ties run in scheduling order) and the
// slot holding the rest of it. Keeping entries small makes sifting cheap.
type entry struct {
	at   int64
	seq  uint64
	slot int32
}

func (a entry) before(b entry) bool {
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}

// queue is a 4-ary min-heap of entries ordered by (at, seq): shallower
// than a binary heap, so fewer cache misses per operation, and free of the
// interface calls of container/heap.
type queue []entry

func (q *queue) push(e entry) {
	*q = append(*q, e)
	q.up(len(*q) - 1)
}

// pop removes and returns the first entry. The queue must not be empty.
func (q *queue) pop() entry {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	*q = h[:last]
	if last > 0 {
		q.down(0)
	}
	return top
}

func (q queue) up(i int) {
	e := q[i]
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(q[p]) {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = e
}

func (q queue) down(i int) {
	n := len(q)
	e := q[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if q[k].before(q[m]) {
				m = k
			}
		}
		if !q[m].before(e) {
			break
		}
		q[i] = q[m]
		i = m
	}
	q[i] = e
}

// init restores the heap order of an arbitrary slice.
func (q queue) init() {
	if len(q) < 2 {
		return
	}
	for i := (len(q) - 2) / 4; i >= 0; i-- {
		q.down(i)
	}
}
