package wire

// Anti-entropy messages: two replicas compare what they hold for each other
// bucket by bucket (a two-level hash tree of fan-out 32 over the key
// space) and then exchange the entries one of them lacks.
const (
	TSyncDigest Type = 14
	TSyncList   Type = 15
	TSyncWant   Type = 16
)

// SyncBuckets is the fan-out of the digest: buckets by the top 5 bits of
// the key.
const SyncBuckets = 32

// MaxSyncEntries bounds the entry summaries in one message.
const MaxSyncEntries = 150

// SyncDigest carries, for each bucket, the XOR of the summaries of the
// entries the sender holds and thinks the receiver should hold too.
type SyncDigest struct {
	Nonce   uint64
	Digests [SyncBuckets]uint64
}

// SyncList lists the receiver-side entries of one bucket whose digest
// differed, in Parts messages.
type SyncList struct {
	Nonce       uint64
	Bucket      uint8
	Part, Parts uint8
	Entries     []uint64
}

// SyncWant asks the receiver to send the entries with these summaries.
type SyncWant struct {
	Nonce   uint64
	Entries []uint64
}

func (SyncDigest) Type() Type { return TSyncDigest }
func (SyncList) Type() Type   { return TSyncList }
func (SyncWant) Type() Type   { return TSyncWant }

func (e *encoder) u64s(v []uint64) {
	e.uv(uint64(len(v)))
	for _, x := range v {
		e.u64(x)
	}
}

func (e *encoder) u64(x uint64) {
	e.b = append(e.b, byte(x>>56), byte(x>>48), byte(x>>40), byte(x>>32), byte(x>>24), byte(x>>16), byte(x>>8), byte(x))
}

func (d *decoder) u64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("short u64")
		return 0
	}
	b := d.b
	d.b = d.b[8:]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func (d *decoder) u64s() []uint64 {
	n := d.uvMax(MaxSyncEntries, "entry list")
	if d.err != nil || n == 0 {
		return nil
	}
	if uint64(len(d.b)) < 8*n {
		d.fail("short entry list")
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = d.u64()
	}
	return out
}

func (m *SyncDigest) encode(e *encoder) {
	e.uv(m.Nonce)
	for _, x := range m.Digests {
		e.u64(x)
	}
}

func (m *SyncDigest) decode(d *decoder) {
	m.Nonce = d.uv()
	for i := range m.Digests {
		m.Digests[i] = d.u64()
	}
}

func (m *SyncList) encode(e *encoder) {
	e.uv(m.Nonce)
	e.u8(m.Bucket)
	e.u8(m.Part)
	e.u8(m.Parts)
	e.u64s(m.Entries)
}

func (m *SyncList) decode(d *decoder) {
	m.Nonce = d.uv()
	m.Bucket = d.u8()
	m.Part = d.u8()
	m.Parts = d.u8()
	if m.Bucket >= SyncBuckets || m.Parts == 0 || m.Part >= m.Parts {
		d.fail("sync list bucket or parts")
	}
	m.Entries = d.u64s()
}

func (m *SyncWant) encode(e *encoder) { e.uv(m.Nonce); e.u64s(m.Entries) }
func (m *SyncWant) decode(d *decoder) { m.Nonce = d.uv(); m.Entries = d.u64s() }
