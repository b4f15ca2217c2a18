package rmw

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// racer is a client that keeps trying to advance the register from the
// version it last saw, through one gateway.
type racer struct {
	name  string
	h     *fakeHost
	id    uint64 // operation in flight (0: none)
	op    Op
	known uint64 // the version it last saw
	left  int    // operations still to start
}

type answer struct {
	who string
	op  Op
	r   Result
}

func (a answer) String() string {
	return fmt.Sprintf("%s %v -> %v %v", a.who, a.op, a.r.Reg, a.r.Err)
}

// TestCASPaxosRacingProposers: two or three proposers run cas loops on one key
// while rapid draws the delivery order of every message, losses,
// duplicates, fsyncs and the clock. A quick safety property, not
// linearizability (linearizability/judge checks that): within the one
// lifetime of the register (nothing expires here)
//   - a successful cas(expected e) answers version e+1 with its value,
//     and no two cas with the same expected version both succeed (CAS-5);
//   - all answers that show a version show the same value for it (INV-6),
//     and every value shown was written by a cas that succeeded or whose
//     outcome is unknown (a failed or refused cas changed nothing);
//   - once the network heals, the register's version lies between the
//     number of successful cas and that plus the number of unknown ones
//     (a refused or failed cas never took effect: CAS-10).
//
// Replay a failure with the -rapid.seed (or -rapid.failfile) rapid prints.
func TestCASPaxosRacingProposers(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		net := newFakeNet(rt, "caspaxos", 5, 4, 2*time.Second, rapid.Uint64().Draw(rt, "host seed"))
		net.syncEach = time.Second // pushes race too
		set := net.members(regKey)
		racers := []*racer{{name: "p", h: net.outsider(regKey)}}
		for _, name := range []string{"q", "r"}[:rapid.IntRange(1, 2).Draw(rt, "more racers")] {
			racers = append(racers, &racer{name: name, h: set[rapid.IntRange(0, len(set)-1).Draw(rt, name+"'s gateway")]})
		}
		for _, r := range racers {
			r.left = rapid.IntRange(1, 8).Draw(rt, "ops of "+r.name)
		}
		var answers []answer
		serial := 0
		// collect takes finished operations' answers; with start set it
		// starts each idle racer's next operation.
		collect := func(start bool) {
			for _, r := range racers {
				if r.id != 0 {
					res, ok := r.h.results[r.id]
					if !ok {
						continue
					}
					answers = append(answers, answer{r.name, r.op, res})
					switch {
					case res.Err == nil:
						r.known = res.Reg.Version
					case !errors.Is(res.Err, ErrUnknown) && !errors.Is(res.Err, ErrRefused):
						rt.Fatalf("%s: %v answered %v, neither unknown nor refused", r.name, r.op, res.Err)
					}
					r.id = 0
				}
				if start && r.left > 0 {
					r.left--
					serial++
					r.op = casOp(r.known, fmt.Sprintf("%s%d", r.name, serial), 3600)
					if rapid.IntRange(0, 3).Draw(rt, "read?") == 0 {
						r.op = readOp
					}
					r.id = net.start(r.h, r.op)
				}
			}
		}
		for range rapid.IntRange(50, 400).Draw(rt, "steps") {
			collect(true)
			switch a := rapid.IntRange(0, 19).Draw(rt, "action"); {
			case len(net.queue) > 0 && a < 14:
				net.deliver(rapid.IntRange(0, len(net.queue)-1).Draw(rt, "deliver"))
			case len(net.queue) > 0 && a == 14:
				net.drop(rapid.IntRange(0, len(net.queue)-1).Draw(rt, "drop"))
			case len(net.queue) > 0 && a == 15:
				net.duplicate(rapid.IntRange(0, len(net.queue)-1).Draw(rt, "duplicate"))
			case a < 18:
				net.hosts[rapid.IntRange(0, len(net.hosts)-1).Draw(rt, "fsync")].fsync()
			default:
				net.advance(time.Duration(rapid.IntRange(1, 300).Draw(rt, "advance ms")) * time.Millisecond)
			}
		}
		// Heal: every operation in flight finishes, no new one starts.
		net.runUntil(func() bool {
			collect(false)
			for _, r := range racers {
				if r.id != 0 {
					return false
				}
			}
			return true
		})
		final := net.call(net.hosts[2], readOp)
		if final.Err != nil {
			rt.Fatalf("read after healing: %v", final.Err)
		}
		answers = append(answers, answer{"final", readOp, final})

		succeeded, unknown := map[uint64]answer{}, 0
		values := map[uint64]answer{}
		// mayHaveWritten: the values of cas that succeeded or are unknown.
		mayHaveWritten := map[string]bool{"": true}
		for _, a := range answers {
			if !a.op.Read && (a.r.Err == nil && a.r.Reg.OK || errors.Is(a.r.Err, ErrUnknown)) {
				mayHaveWritten[string(a.op.CAS.Value)] = true
			}
		}
		for _, a := range answers {
			if a.r.Err != nil {
				if !a.op.Read && errors.Is(a.r.Err, ErrUnknown) {
					unknown++
				}
				continue
			}
			v := a.r.Reg.Versioned
			if !a.op.Read && a.r.Reg.OK {
				c := a.op.CAS
				if v.Version != c.Expected+1 || string(v.Value) != string(c.Value) {
					rt.Fatalf("%v: a successful cas must answer version %d and its value", a, c.Expected+1)
				}
				if b, dup := succeeded[c.Expected]; dup {
					rt.Fatalf("two successful cas from version %d:\n  %v\n  %v\nall answers:\n%v", c.Expected, b, a, answers)
				}
				succeeded[c.Expected] = a
			}
			if b, seen := values[v.Version]; seen && string(b.r.Reg.Value) != string(v.Value) {
				rt.Fatalf("version %d shown with two values:\n  %v\n  %v\nall answers:\n%v", v.Version, b, a, answers)
			}
			if !mayHaveWritten[string(v.Value)] {
				rt.Fatalf("%v shows a value no successful or unknown cas wrote\nall answers:\n%v", a, answers)
			}
			if v.Version == 0 && len(v.Value) != 0 {
				rt.Fatalf("%v: version 0 with a value", a)
			}
			values[v.Version] = a
		}
		if got := final.Reg.Version; got < uint64(len(succeeded)) || got > uint64(len(succeeded)+unknown) {
			rt.Fatalf("final version %d; %d cas succeeded and %d are unknown\nall answers:\n%v", got, len(succeeded), unknown, answers)
		}
	})
}
