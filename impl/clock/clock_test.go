package clock

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// The interfaces are satisfied by both implementations.
var (
	_ Clock = Real()
	_ Clock = (*Manual)(nil)
)

func TestManualFiresInDeadlineOrderWithTiesInCreationOrder(t *testing.T) {
	m := NewManual(epoch)
	var got []string
	add := func(name string, d time.Duration) {
		m.AfterFunc(d, func() { got = append(got, fmt.Sprintf("%s@%s", name, m.Now().Sub(epoch))) })
	}
	add("c", 3*time.Second)
	add("a", time.Second)
	add("b1", 2*time.Second)
	add("b2", 2*time.Second)
	add("late", 10*time.Second)
	m.Advance(5 * time.Second)
	want := []string{"a@1s", "b1@2s", "b2@2s", "c@3s"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if m.Now() != epoch.Add(5*time.Second) {
		t.Fatalf("Now = %v after Advance(5s)", m.Now())
	}
	if m.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1 (late)", m.Pending())
	}
}

func TestManualFiresTimersScheduledByTimersWithinTheAdvance(t *testing.T) {
	m := NewManual(epoch)
	var at []time.Duration
	var tick func()
	tick = func() {
		at = append(at, m.Now().Sub(epoch))
		m.AfterFunc(time.Second, tick)
	}
	m.AfterFunc(time.Second, tick)
	m.Advance(3500 * time.Millisecond)
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
	if !slices.Equal(at, want) {
		t.Fatalf("periodic timer fired at %v, want %v", at, want)
	}
}

func TestManualStop(t *testing.T) {
	m := NewManual(epoch)
	fired := false
	tm := m.AfterFunc(time.Second, func() { fired = true })
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	m.Advance(time.Hour)
	if fired {
		t.Fatal("stopped timer fired")
	}
	tm2 := m.AfterFunc(time.Second, func() {})
	m.Advance(time.Second)
	if tm2.Stop() {
		t.Fatal("Stop after firing returned true")
	}
}

func TestManualZeroAndNegativeDelayFireOnNextAdvance(t *testing.T) {
	m := NewManual(epoch)
	n := 0
	m.AfterFunc(0, func() { n++ })
	m.AfterFunc(-time.Second, func() { n++ })
	if n != 0 {
		t.Fatal("AfterFunc ran f synchronously")
	}
	m.Advance(0)
	if n != 2 {
		t.Fatalf("Advance(0) fired %d of 2 due timers", n)
	}
}

func TestManualRejectsGoingBackwards(t *testing.T) {
	m := NewManual(epoch)
	for name, f := range map[string]func(){
		"Advance(-1)": func() { m.Advance(-1) },
		"Set(past)":   func() { m.Set(epoch.Add(-time.Nanosecond)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestManualNestedAdvanceNeverMovesTimeBackwards(t *testing.T) {
	m := NewManual(epoch)
	m.AfterFunc(time.Second, func() { m.Advance(10 * time.Second) })
	m.Advance(2 * time.Second)
	if got := m.Now().Sub(epoch); got != 11*time.Second {
		t.Fatalf("Now = epoch+%v, want epoch+11s", got)
	}
}

// The real clock's timers fire and stop; no timing is asserted, only that
// the call happens (the test binary's timeout catches a hang).
func TestRealClock(t *testing.T) {
	c := Real()
	before := c.Now()
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	if c.Now().Before(before) {
		t.Fatal("real clock went backwards across a timer")
	}
	tm := c.AfterFunc(time.Hour, func() { t.Error("stopped real timer fired") })
	if !tm.Stop() {
		t.Fatal("Stop of an hour-long real timer returned false")
	}
}
