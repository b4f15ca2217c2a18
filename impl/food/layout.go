package food

import (
	"bytes"
	"compress/flate"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/opendht-go/opendht/impl/cddb"
	"github.com/opendht-go/opendht/impl/dht"
)

// The values FOOD puts (spec/SPEC.md section 15, FOOD-4..FOOD-8). Every
// value starts with the magic "FOOD", a version byte and a kind byte.
const (
	magic   = "FOOD"
	version = 1

	kindEntry  = 'R' // a record's entry, under its disc key
	kindChunk  = 'C' // a piece of a record's compressed text, under its own hash
	kindFamily = 'F' // a pointer for inexact matches, under a family key

	headerLen = len(magic) + 2

	// MaxTitle bounds the title an entry carries (the query answer's
	// text), in bytes; MaxFamilyTitle the one a family entry carries.
	MaxTitle       = 256
	MaxFamilyTitle = 96
	// ChunkData is the compressed text one chunk carries.
	ChunkData = dht.MaxValueLen - headerLen
	// maxOffset bounds a track offset: 100 hours of frames.
	maxOffset = 100 * 60 * 60 * cddb.FramesPerSecond
)

// ErrBadValue: a value under a FOOD key that is not a FOOD value of the
// kind expected (another application's, damaged, or hostile).
var ErrBadValue = errors.New("food: not a FOOD value")

// ErrTooLarge: a record whose compressed text needs more chunks than its
// entry can name.
var ErrTooLarge = errors.New("food: record too large for one entry")

// DiscKey is the key a disc ID's entries are put under (FOOD-4).
func DiscKey(discid uint32) dht.Key {
	return dht.Key(dht.SHA1(fmt.Appendf(nil, "food/discid/%08x", discid)))
}

// FamilyKey is the key of the family of discs with ntracks tracks and a
// disc length of length seconds (FOOD-7).
func FamilyKey(ntracks, length int) dht.Key {
	return dht.Key(dht.SHA1(fmt.Appendf(nil, "food/family/%d/%d", ntracks, length)))
}

// Entry is a record's entry: what a query needs, and where the text is.
type Entry struct {
	Category   string
	DiscID     uint32
	Revision   int
	Title      string
	Offsets    []int
	DiscLength int
	// Sum is the SHA-1 of the record's text, Len its length in bytes.
	Sum [sha1.Size]byte
	Len int
	// Inline holds the compressed text when it fits in the entry; else
	// Chunks names the chunks that hold it, in order.
	Inline []byte
	Chunks []dht.Key
}

// CDDB returns what a query needs of the entry.
func (e Entry) CDDB() cddb.Entry {
	return cddb.Entry{Category: e.Category, DiscID: e.DiscID, Title: e.Title, Offsets: e.Offsets, DiscLength: e.DiscLength}
}

// Values are the puts that store one record: the chunks first, then the
// entry, then the family entry (FOOD-6).
type Values struct {
	DiscKey   dht.Key
	Entry     []byte
	Chunks    [][]byte // each under ChunkKey(chunk)
	FamilyKey dht.Key
	Family    []byte
}

// Puts returns the number of puts the values take.
func (v Values) Puts(family bool) int {
	n := 1 + len(v.Chunks)
	if family {
		n++
	}
	return n
}

// ChunkKey is the key of a chunk: the SHA-1 of the whole value, so a
// chunk proves itself (FOOD-5).
func ChunkKey(chunk []byte) dht.Key { return dht.Key(dht.SHA1(chunk)) }

// Split makes the values that store record r of category categ under
// disc ID discid.
func Split(categ string, discid uint32, r *cddb.Record) (Values, error) {
	z, err := deflate(r.Text)
	if err != nil {
		return Values{}, err
	}
	e := Entry{Category: categ, DiscID: discid, Revision: r.Revision, Title: truncate(r.Title, MaxTitle),
		Offsets: r.Offsets, DiscLength: r.DiscLength, Sum: sha1.Sum(r.Text), Len: len(r.Text), Inline: z}
	v := Values{DiscKey: DiscKey(discid), FamilyKey: FamilyKey(len(r.Offsets), r.DiscLength),
		Family: encodeFamily(Entry{Category: categ, DiscID: discid, Title: truncate(r.Title, MaxFamilyTitle), Offsets: r.Offsets, DiscLength: r.DiscLength})}
	v.Entry = e.encode()
	if len(v.Entry) <= dht.MaxValueLen {
		return v, nil
	}
	e.Inline = nil
	for p := z; len(p) > 0; {
		n := min(len(p), ChunkData)
		c := append(header(kindChunk), p[:n]...)
		v.Chunks = append(v.Chunks, c)
		e.Chunks = append(e.Chunks, ChunkKey(c))
		p = p[n:]
	}
	v.Entry = e.encode()
	if len(v.Entry) > dht.MaxValueLen {
		return Values{}, fmt.Errorf("%w: %d bytes compress to %d, %d chunks", ErrTooLarge, len(r.Text), len(z), len(v.Chunks))
	}
	return v, nil
}

func header(kind byte) []byte { return append([]byte(magic), version, kind) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func deflate(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// inflate decompresses at most n bytes; more, or a broken stream, is an
// error (a value cannot make the reader allocate more than a record).
func inflate(z []byte, n int) ([]byte, error) {
	if n < 0 || n > cddb.MaxRecordLen {
		return nil, fmt.Errorf("%w: length %d", ErrBadValue, n)
	}
	r := flate.NewReader(bytes.NewReader(z))
	out, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadValue, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: text of %d bytes, entry says %d", ErrBadValue, len(out), n)
	}
	return out, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTOC(b []byte, offsets []int, length int) []byte {
	b = binary.AppendUvarint(b, uint64(len(offsets)))
	prev := 0
	for _, o := range offsets {
		b = binary.AppendUvarint(b, uint64(o-prev)) // ascending: deltas are small
		prev = o
	}
	return binary.AppendUvarint(b, uint64(length))
}

func (e Entry) encode() []byte {
	b := header(kindEntry)
	b = appendString(b, e.Category)
	b = binary.BigEndian.AppendUint32(b, e.DiscID)
	b = binary.AppendUvarint(b, uint64(e.Revision))
	b = appendString(b, e.Title)
	b = appendTOC(b, e.Offsets, e.DiscLength)
	b = append(b, e.Sum[:]...)
	b = binary.AppendUvarint(b, uint64(e.Len))
	if e.Chunks == nil {
		b = append(b, 0)
		return append(b, e.Inline...)
	}
	b = append(b, 1, byte(len(e.Chunks)))
	for _, k := range e.Chunks {
		b = append(b, k[:]...)
	}
	return b
}

func encodeFamily(e Entry) []byte {
	b := header(kindFamily)
	b = appendString(b, e.Category)
	b = binary.BigEndian.AppendUint32(b, e.DiscID)
	b = appendString(b, e.Title)
	return appendTOC(b, e.Offsets, e.DiscLength)
}

// reader reads a value with bounds checks; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: bad %s", ErrBadValue, what)
	}
}

func (r *reader) uvarint(what string, limit uint64) int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > limit || n != len(binary.AppendUvarint(nil, v)) { // one encoding per value
		r.fail(what)
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *reader) bytes(what string, n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.fail(what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string(what string, limit int) string {
	s := string(r.bytes(what, r.uvarint(what, uint64(limit))))
	if !utf8.ValidString(s) {
		r.fail(what)
	}
	return s
}

func (r *reader) toc() ([]int, int) {
	n := r.uvarint("track count", cddb.MaxTracks)
	if n == 0 {
		r.fail("track count")
	}
	offs := make([]int, 0, n)
	prev := 0
	for i := range n {
		d := r.uvarint("offset", maxOffset)
		if i > 0 && d == 0 {
			r.fail("offset")
		}
		prev += d
		if prev > maxOffset {
			r.fail("offset")
		}
		offs = append(offs, prev)
	}
	return offs, r.uvarint("disc length", 100*60*60)
}

func (r *reader) header(kind byte) {
	h := r.bytes("header", headerLen)
	if r.err == nil && (string(h[:4]) != magic || h[4] != version || h[5] != kind) {
		r.fail("header")
	}
}

func (r *reader) category() string {
	c := r.string("category", 16)
	if r.err == nil && cddb.CategoryIndex(c) < 0 {
		r.fail("category")
	}
	return c
}

// DecodeEntry reads a record's entry. Anything but a well-formed entry is
// ErrBadValue.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) > dht.MaxValueLen {
		return Entry{}, fmt.Errorf("%w: longer than a value", ErrBadValue)
	}
	r := &reader{b: b}
	var e Entry
	r.header(kindEntry)
	e.Category = r.category()
	if id := r.bytes("disc id", 4); id != nil {
		e.DiscID = binary.BigEndian.Uint32(id)
	}
	e.Revision = r.uvarint("revision", 1<<31)
	e.Title = r.string("title", MaxTitle)
	e.Offsets, e.DiscLength = r.toc()
	copy(e.Sum[:], r.bytes("sum", sha1.Size))
	e.Len = r.uvarint("length", cddb.MaxRecordLen)
	switch mode := r.bytes("mode", 1); {
	case mode == nil:
	case mode[0] == 0:
		e.Inline = bytes.Clone(r.b)
		r.b = nil
	case mode[0] == 1:
		n := r.bytes("chunk count", 1)
		if n == nil || n[0] == 0 {
			r.fail("chunk count")
			break
		}
		for range int(n[0]) {
			var k dht.Key
			copy(k[:], r.bytes("chunk key", dht.KeyLen))
			e.Chunks = append(e.Chunks, k)
		}
	default:
		r.fail("mode")
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return Entry{}, r.err
	}
	return e, nil
}

// DecodeFamily reads a family entry.
func DecodeFamily(b []byte) (Entry, error) {
	if len(b) > dht.MaxValueLen {
		return Entry{}, fmt.Errorf("%w: longer than a value", ErrBadValue)
	}
	r := &reader{b: b}
	var e Entry
	r.header(kindFamily)
	e.Category = r.category()
	if id := r.bytes("disc id", 4); id != nil {
		e.DiscID = binary.BigEndian.Uint32(id)
	}
	e.Title = r.string("title", MaxFamilyTitle)
	e.Offsets, e.DiscLength = r.toc()
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return Entry{}, r.err
	}
	return e, nil
}

// chunkData returns a chunk's compressed text if v is the chunk named key.
func chunkData(key dht.Key, v []byte) ([]byte, bool) {
	if len(v) < headerLen || ChunkKey(v) != key || string(v[:4]) != magic || v[4] != version || v[5] != kindChunk {
		return nil, false
	}
	return v[headerLen:], true
}

// Assemble returns the record text of an entry given its chunks' data
// (nil for an inline entry), checked against the entry's length and sum:
// a text that does not match is never returned (FOOD-8).
func Assemble(e Entry, chunks [][]byte) ([]byte, error) {
	z := e.Inline
	if e.Chunks != nil {
		if len(chunks) != len(e.Chunks) {
			return nil, fmt.Errorf("%w: %d chunks of %d", ErrBadValue, len(chunks), len(e.Chunks))
		}
		z = bytes.Join(chunks, nil)
	}
	text, err := inflate(z, e.Len)
	if err != nil {
		return nil, err
	}
	if sha1.Sum(text) != e.Sum {
		return nil, fmt.Errorf("%w: text does not match its sum", ErrBadValue)
	}
	return text, nil
}
