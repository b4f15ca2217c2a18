package rmw

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/wire"
)

// The bytes of caspaxos: its messages, and the acceptor records it keeps
// through Host.SaveState. Both are read with impl/wire's field decoder:
// every length and count is checked against its limit before anything is
// allocated, and a malformed or hostile input yields an error that names
// the field, wrapping errCPMalformed (a message) or errCPRecord (a record).
//
// A message:
//
//	kind (1 byte) | op (uvarint) | key (20) | ballot | nack (1) | promised | accepted |
//	version (uvarint) | value (uvarint length, bytes) | expiry (varint, Unix ms) |
//	tag (16) | life (16) | history top (uvarint) | history length (1) | tags (16 each) |
//	peer count (uvarint) | peers (id (20), address length (1), netip.AddrPort binary)
//
// where a ballot is counter (uvarint) | proposer ID (20) | incarnation (uvarint).
// Every message carries every field (unused ones zero): one layout, one
// decoder.

// Message kinds.
const (
	cpLookup     = 1 // proposer -> root (routed): who are the acceptors?
	cpLookupResp = 2
	cpPrepare    = 3
	cpPromise    = 4
	cpAccept     = 5
	cpAccepted   = 6
	cpPush       = 7 // acceptor -> member: catch-up (repair)
	cpPushAck    = 8 // member -> acceptor: it holds the pushed state (Accepted: its own)
)

// Reasons an acceptor refuses.
const (
	nackHigher    = 1 // promised a higher ballot (Promised)
	nackStale     = 2 // the ballot is older than the window
	nackNotMember = 3 // this node is not in the key's replica set
)

type cpMsg struct {
	Kind     uint8
	Op       uint64
	Key      dht.Key
	Ballot   ballot
	Nack     uint8
	Promised ballot
	Accepted ballot
	State    cpState
	Peers    []wire.Peer
}

// Limits of a message, checked before anything is allocated.
const (
	cpMaxPeers = 16
	// cpMaxAddr is the longest binary netip.AddrPort without a zone: an
	// IPv6 address and a port.
	cpMaxAddr = 18
)

var (
	errCPMalformed = errors.New("caspaxos: malformed message")
	errCPRecord    = errors.New("caspaxos: malformed acceptor record")
)

func (m *cpMsg) encode() []byte {
	e := wire.NewEncoder(make([]byte, 0, 128+len(m.State.Value)+len(m.State.Hist)*cpHistEntry))
	e.U8(m.Kind)
	e.Uvarint(m.Op)
	e.ID(m.Key)
	encodeBallot(e, m.Ballot)
	e.U8(m.Nack)
	encodeBallot(e, m.Promised)
	encodeBallot(e, m.Accepted)
	encodeState(e, m.State)
	e.Uvarint(uint64(len(m.Peers)))
	for _, p := range m.Peers {
		e.ID(p.ID)
		// Zones are local to a host: they are not sent (nor accepted).
		a, _ := netip.AddrPortFrom(p.Addr.Addr().WithZone(""), p.Addr.Port()).MarshalBinary()
		e.U8(byte(len(a)))
		e.Fixed(a)
	}
	return e.Bytes()
}

func encodeBallot(e *wire.Encoder, x ballot) {
	e.Uvarint(x.N)
	e.ID(x.ID)
	e.Uvarint(x.Inc)
}

func decodeBallot(d *wire.Decoder) ballot {
	return ballot{N: d.Uvarint(), ID: d.ID(), Inc: d.Uvarint()}
}

// encodeState writes a state as messages and records both carry it.
func encodeState(e *wire.Encoder, s cpState) {
	e.Uvarint(s.Version)
	e.String(s.Value)
	e.Varint(s.Expiry)
	e.Fixed(s.Tag[:])
	e.Fixed(s.Life[:])
	e.Uvarint(s.HistTop)
	e.U8(byte(len(s.Hist)))
	for _, t := range s.Hist {
		e.Fixed(t[:])
	}
}

func decodeState(d *wire.Decoder) cpState {
	var s cpState
	s.Version = d.Uvarint()
	s.Value = d.String(dht.MaxValueLen, "value")
	s.Expiry = d.Varint()
	d.Fixed(s.Tag[:], "tag")
	d.Fixed(s.Life[:], "life")
	s.HistTop = d.Uvarint()
	n := d.U8()
	if n > cpHistMax {
		d.Fail(fmt.Sprintf("%d history entries, at most %d", n, cpHistMax))
		return s
	}
	// Each entry takes 16 bytes: refuse counts the input cannot hold.
	if d.Err() == nil && d.Len() < int(n)*cpHistEntry {
		d.Fail("short history")
		return s
	}
	if n > 0 && d.Err() == nil {
		s.Hist = make([]tag, n)
		for i := range s.Hist {
			d.Fixed(s.Hist[i][:], "history entry")
		}
	}
	return s
}

// cpErr turns a decoder's error into one of this protocol's.
func cpErr(sentinel error, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

func decodeCP(b []byte) (cpMsg, error) {
	d := wire.NewDecoder(b)
	var m cpMsg
	m.Kind = d.U8()
	if d.Err() == nil && (m.Kind < cpLookup || m.Kind > cpPushAck) {
		return m, fmt.Errorf("%w: kind %d", errCPMalformed, m.Kind)
	}
	m.Op = d.Uvarint()
	m.Key = d.ID()
	m.Ballot = decodeBallot(d)
	m.Nack = d.U8()
	m.Promised = decodeBallot(d)
	m.Accepted = decodeBallot(d)
	m.State = decodeState(d)
	np := d.UvarintMax(cpMaxPeers, "peer list")
	for range np {
		if d.Err() != nil {
			break
		}
		var p wire.Peer
		p.ID = d.ID()
		l := d.U8()
		if l > cpMaxAddr {
			d.Fail(fmt.Sprintf("peer address of %d bytes", l))
			break
		}
		var a [cpMaxAddr]byte
		d.Fixed(a[:l], "peer address")
		if d.Err() != nil {
			break
		}
		if err := p.Addr.UnmarshalBinary(a[:l]); err != nil || !p.Addr.IsValid() {
			d.Fail("peer address")
			break
		}
		m.Peers = append(m.Peers, p)
	}
	d.End()
	if err := d.Err(); err != nil {
		return cpMsg{}, cpErr(errCPMalformed, err)
	}
	return m, nil
}

// ---- acceptor records ----

// An acceptor's record is its promise, its accepted ballot and the state
// it accepted. Records of format 0 (before records carried a format) are
// the push message that carries the state, and so begin with cpPush;
// later formats begin with their number, which is never cpPush. A record
// is read in every format this code has ever written; it is written in
// the newest.
//
// Format 1:
//
//	format (1 byte: 1) | promise | accepted | state (as in a message)
const (
	recordFormat0 = cpPush // the first byte of a format 0 record
	recordFormat1 = 1
)

func encodeAcceptor(a acceptor) []byte {
	e := wire.NewEncoder(make([]byte, 0, 96+len(a.State.Value)+len(a.State.Hist)*cpHistEntry))
	e.U8(recordFormat1)
	encodeBallot(e, a.Promise)
	encodeBallot(e, a.Accepted)
	encodeState(e, a.State)
	return e.Bytes()
}

// decodeAcceptor reads a record; no record (nil) is the zero acceptor.
func decodeAcceptor(b []byte) (acceptor, error) {
	if b == nil {
		return acceptor{}, nil
	}
	if len(b) == 0 {
		return acceptor{}, fmt.Errorf("%w: empty", errCPRecord)
	}
	switch b[0] {
	case recordFormat0:
		m, err := decodeCP(b)
		if err != nil {
			return acceptor{}, fmt.Errorf("%w (format 0): %w", errCPRecord, err)
		}
		return acceptor{Promise: m.Promised, Accepted: m.Accepted, State: m.State}, nil
	case recordFormat1:
		d := wire.NewDecoder(b[1:])
		var a acceptor
		a.Promise = decodeBallot(d)
		a.Accepted = decodeBallot(d)
		a.State = decodeState(d)
		d.End()
		if err := d.Err(); err != nil {
			return acceptor{}, fmt.Errorf("%w (format 1): %w", errCPRecord, err)
		}
		return a, nil
	default:
		return acceptor{}, fmt.Errorf("%w: unknown format %d (this node reads formats 0 and 1: written by a newer version?)", errCPRecord, b[0])
	}
}
