// Package clock is the node's only source of time: a small Clock interface
// with a real implementation (the operating system's clock) and a manual
// one for unit tests, so that protocol code never calls time.Now or
// time.AfterFunc itself.
//
// A third implementation, the per-node drifting clock of the network
// simulator, lives in impl/simnet.
//
// # What a Clock promises
//
//   - Now returns the node's wall-clock time. It may be off from other
//     nodes' clocks (offset) and run slightly fast or slow (drift); only the
//     real clock can also jump when the operating system sets it. Durations
//     between two readings of the same Clock are never negative for the
//     implementations in this repository.
//   - AfterFunc(d, f) calls f once, no earlier than d after the call as
//     measured by this clock's own notion of elapsed time, unless the
//     returned Timer is stopped first. d <= 0 means "as soon as possible".
//   - Where f runs depends on the implementation: on its own goroutine for
//     Real (like time.AfterFunc), on the goroutine that calls Advance for
//     Manual, on the simulator's goroutine for simnet. Protocol cores should
//     therefore not run inside f; a driver hands the tick to the core.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	// Now returns the current time of this clock.
	Now() time.Time
	// AfterFunc calls f once after d has elapsed on this clock, unless the
	// returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started yet. It returns true if
	// it did so, false if the call already started or the timer was already
	// stopped. Stop does not wait for a call in progress.
	Stop() bool
}

// Real returns the operating system's clock: time.Now and time.AfterFunc.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Manual is a clock that moves only when told to, for unit tests. Advance
// fires the timers that become due, in order of their deadlines and, for
// equal deadlines, in the order AfterFunc was called; so a test that uses a
// Manual clock is deterministic. Now, AfterFunc and Stop are safe for
// concurrent use; timer functions run on the goroutine that calls Advance
// or Set, which one goroutine (the test) should do.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers manualHeap
}

// NewManual returns a Manual clock that reads start until it is advanced.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start}
}

// Now returns the clock's current time. Inside a timer function it is that
// timer's deadline.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc schedules f at Now()+d. A d <= 0 makes the timer due at Now():
// it fires on the next Advance, even Advance(0).
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d < 0 {
		d = 0
	}
	t := &manualTimer{m: m, at: m.now.Add(d), seq: m.seq, f: f, index: -1}
	m.seq++
	heap.Push(&m.timers, t)
	return t
}

// Advance moves the clock forward by d, firing every timer whose deadline
// is at or before the new time, earliest first. Timers that the fired
// functions schedule are fired too if they fall due within the advance.
// While a function runs, Now returns its deadline. A negative d panics: a
// test that moves time backwards is broken.
func (m *Manual) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Manual.Advance with negative duration " + d.String())
	}
	m.Set(m.Now().Add(d))
}

// Set moves the clock to t, firing due timers as Advance does. Setting a
// time before Now panics.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	if t.Before(m.now) {
		now := m.now
		m.mu.Unlock()
		panic("clock: Manual.Set to " + t.String() + ", before Now " + now.String())
	}
	for len(m.timers) > 0 && !m.timers[0].at.After(t) {
		next := heap.Pop(&m.timers).(*manualTimer)
		m.now = next.at
		m.mu.Unlock()
		next.f()
		m.mu.Lock()
	}
	if t.After(m.now) { // a timer function may have advanced further itself
		m.now = t
	}
	m.mu.Unlock()
}

// Pending returns the number of timers that have neither fired nor been
// stopped.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

type manualTimer struct {
	m     *Manual
	at    time.Time
	seq   uint64
	f     func()
	index int // position in the heap, -1 once fired or stopped
}

// Stop removes the timer from the clock if it has not fired yet.
func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.m.timers, t.index)
	return true
}

// manualHeap orders timers by (deadline, creation order).
type manualHeap []*manualTimer

func (h manualHeap) Len() int { return len(h) }
func (h manualHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h manualHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *manualHeap) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *manualHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
