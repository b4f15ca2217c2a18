package store

import (
	"bytes"
	"errors"

	"github.com/opendht-go/opendht/impl/dht"
)

// Requests are how a node's core uses its store without calling it: the
// core, a pure state machine, lists what it wants read or written in its
// outputs (node.Ready), a driver runs each with Exec, in the order they
// were asked for, and hands back the Response as an input. The core never
// blocks on the disk, and the simulated and the real driver run the store
// the same way.

// RequestKind says what a Request asks for.
type RequestKind uint8

const (
	// ReqStep runs one step of the store's state machine (Op at Now):
	// a put, rm or tick through admission (STEP-1). Its writes are applied
	// when Exec returns; Response.Pending says when they are durable.
	ReqStep RequestKind = iota + 1
	// ReqGet reads the values of Get.Key at Now.
	ReqGet
	// ReqDigest returns, for each range of Ranges, the XOR of the
	// summaries (Summary) of the items and tombstones whose key lies in the
	// range, and their count: what anti-entropy compares. It reads the
	// digest index, which holds an expired entry until a step reclaims it
	// (DigestRange).
	ReqDigest
	// ReqList returns the items and tombstones whose key lies in one of
	// Ranges, without values or secrets, from the digest index as
	// ReqDigest does.
	ReqList
	// ReqFetch returns the full records of IDs (those still live).
	ReqFetch
	// ReqSaveState writes Val as the state of Key in namespace NS (a
	// register's acceptor state); Response.Pending says when it is durable.
	ReqSaveState
)

// KeyRange is the keys k with Lo <= k < Hi in byte order; a zero Hi means
// up to and including the largest key.
type KeyRange struct {
	Lo, Hi dht.Key
}

// Contains reports whether k lies in r.
func (r KeyRange) Contains(k dht.Key) bool {
	if bytes.Compare(k[:], r.Lo[:]) < 0 {
		return false
	}
	return r.Hi == (dht.Key{}) || bytes.Compare(k[:], r.Hi[:]) < 0
}

// Request is one thing a node's core asks of its store.
type Request struct {
	// Seq names the request in its Response; the core chooses it.
	Seq  uint64
	Kind RequestKind
	// Now is the store's time for the request (steps, reads, scans).
	Now    dht.Time
	Op     dht.Op     // ReqStep
	Get    dht.Get    // ReqGet
	Ranges []KeyRange // ReqDigest, ReqList
	IDs    []dht.ItemID
	NS     string // ReqSaveState
	Key    dht.Key
	Val    []byte
}

// RangeDigest is what ReqDigest reports for one range.
type RangeDigest struct {
	XOR   uint64
	Count int
}

// Entry is a listed item or tombstone (ReqList).
type Entry struct {
	ID        dht.ItemID
	Tombstone bool
	Summary   uint64
}

// Response answers one Request.
type Response struct {
	Seq  uint64
	Kind RequestKind
	// Err is a disk or lifecycle error (the request did nothing, or, for a
	// step, its outcome must be treated as a crash's); a step's
	// validation error is in Result.Err.
	Err     error
	Result  dht.Result    // ReqStep
	Reply   dht.GetReply  // ReqGet
	Digests []RangeDigest // ReqDigest, one per range
	Entries []Entry       // ReqList, in key order
	Records []Record      // ReqFetch, the live ones of IDs
	Pending *Pending      // ReqStep, ReqSaveState: nil if nothing to sync
	Durable bool          // ReqStep, ReqSaveState: no fsync to wait for
	_       struct{}      // keep literals keyed
}

// Exec runs one request. Requests must be run in the order the core made
// them: a step's writes are visible to every request after it.
func (s *Store) Exec(req Request) Response {
	resp := Response{Seq: req.Seq, Kind: req.Kind}
	switch req.Kind {
	case ReqStep:
		res, p, err := s.StepAsync(req.Op, req.Now)
		resp.Result, resp.Pending, resp.Err = res, p, err
		resp.Durable = err == nil && p == nil
	case ReqGet:
		resp.Reply, resp.Err = s.Get(req.Get, req.Now)
	case ReqDigest:
		resp.Digests, resp.Err = s.digestRanges(req.Ranges, req.Now)
	case ReqList:
		resp.Entries, resp.Err = s.listRanges(req.Ranges, req.Now)
	case ReqFetch:
		for _, id := range req.IDs {
			r, err := s.Fetch(id, req.Now)
			if errors.Is(err, ErrNotStored) {
				continue
			}
			if err != nil {
				resp.Err = err
				break
			}
			resp.Records = append(resp.Records, r)
		}
	case ReqSaveState:
		resp.Pending, resp.Err = s.SaveState(req.NS, req.Key, req.Val)
		resp.Durable = resp.Err == nil && resp.Pending == nil
	default:
		resp.Err = errors.New("store: unknown request kind")
	}
	return resp
}

// ExecAll runs requests in order, like Exec on each, except that a run of
// consecutive steps at the same time goes into one Pebble batch
// (StepsAsync): one WAL record and one fsync for all of them. The
// responses of such a run share one Pending (set on each of them): wait
// for it once, then report every one of them durable.
func (s *Store) ExecAll(reqs []Request) []Response {
	out := make([]Response, 0, len(reqs))
	for i := 0; i < len(reqs); {
		j := i
		for j < len(reqs) && reqs[j].Kind == ReqStep && reqs[j].Now == reqs[i].Now {
			j++
		}
		if j-i < 2 {
			out = append(out, s.Exec(reqs[i]))
			i++
			continue
		}
		ops := make([]dht.Op, j-i)
		for k := range ops {
			ops[k] = reqs[i+k].Op
		}
		res, p, err := s.StepsAsync(ops, reqs[i].Now)
		for k := range ops {
			r := Response{Seq: reqs[i+k].Seq, Kind: ReqStep, Err: err, Pending: p, Durable: err == nil && p == nil}
			if err == nil {
				r.Result = res[k]
			}
			out = append(out, r)
		}
		i = j
	}
	return out
}
