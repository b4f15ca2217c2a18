package largevalue

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/opendht-go/opendht/impl/dht"
)

// Sizes of the stored format (spec/SPEC.md, LV-1, LV-2).
const (
	// BlockSize is the size of every data block but the last, in bytes: the
	// largest value a put carries (LIM-2).
	BlockSize = dht.MaxValueLen
	// RootFanout is the number of children a root manifest names.
	RootFanout = (BlockSize - rootHeader) / dht.KeyLen
	// InnerFanout is the number of children an inner manifest names.
	InnerFanout = (BlockSize - innerHeader) / dht.KeyLen
	// MaxHeight bounds the height of a manifest tree: a root of height 5
	// covers 49 * 50^4 blocks (about 300 GB), far beyond any MaxSize.
	MaxHeight = 5

	formatVersion = 1
	kindRoot      = 1
	kindInner     = 2
	nonceLen      = 16
	// magic, version, kind, height, flags, size, created, nonce, slack, count.
	rootHeader = 2 + 1 + 1 + 1 + 1 + 8 + 8 + nonceLen + 4 + 2
	// magic, version, kind, height, count.
	innerHeader   = 2 + 1 + 1 + 1 + 2
	flagRemovable = 1
)

var magic = [2]byte{'L', 'V'}

// ErrMalformed is the error of a manifest that is not one this layer
// writes: a value under the name that is not a root manifest is skipped,
// an inner manifest that does not parse fails the read.
var ErrMalformed = errors.New("largevalue: manifest is malformed")

// BlockKey is the key of a block or inner manifest: the SHA-1 of its bytes
// (LV-1). A block is so self-verifying: whatever a get returns under the
// key, only the block itself hashes to it. The key is also the value hash
// of the block's item (PUT-1), so a remove names a block without reading
// it (LV-7).
func BlockKey(b []byte) dht.Key { return dht.Key(dht.SHA1(b)) }

// Root is a decoded root manifest: the value's description, stored under
// its name (LV-2).
type Root struct {
	// Height is the tree's height: its children are data blocks when it is
	// 1, inner manifests of height Height-1 otherwise.
	Height int
	// Removable reports that the blocks and inner manifests were put with
	// the version's derived secret (LV-7).
	Removable bool
	// Size is the value's length in bytes.
	Size int64
	// Created is the writer's clock when the write began, in Unix
	// nanoseconds: the newest root of a name is its value (LV-5).
	Created int64
	// Nonce makes every write distinct, and derives its blocks' secret.
	Nonce [nonceLen]byte
	// Slack is how many seconds longer than the root the blocks live
	// (LV-6): a remove keeps its tombstones that much longer.
	Slack uint32
	// Children are the keys of the children, in value order.
	Children []dht.Key
}

// Encode returns the root's bytes.
func (r *Root) Encode() []byte {
	if len(r.Children) > RootFanout || r.Height < 1 || r.Height > MaxHeight {
		panic(fmt.Sprintf("largevalue: root of height %d with %d children", r.Height, len(r.Children)))
	}
	b := make([]byte, 0, rootHeader+len(r.Children)*dht.KeyLen)
	b = append(b, magic[:]...)
	b = append(b, formatVersion, kindRoot, byte(r.Height))
	var flags byte
	if r.Removable {
		flags |= flagRemovable
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Created))
	b = append(b, r.Nonce[:]...)
	b = binary.BigEndian.AppendUint32(b, r.Slack)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Children)))
	for _, c := range r.Children {
		b = append(b, c[:]...)
	}
	return b
}

// DecodeRoot parses a root manifest. It refuses anything this layer does
// not write (LV-10): another version or kind, a height out of range, a
// size that does not fit the tree, trailing bytes.
func DecodeRoot(b []byte) (*Root, error) {
	if len(b) < rootHeader || [2]byte(b[:2]) != magic || b[2] != formatVersion || b[3] != kindRoot {
		return nil, ErrMalformed
	}
	r := &Root{Height: int(b[4]), Removable: b[5]&flagRemovable != 0}
	if b[5]&^flagRemovable != 0 || r.Height < 1 || r.Height > MaxHeight {
		return nil, ErrMalformed
	}
	size := binary.BigEndian.Uint64(b[6:])
	r.Created = int64(binary.BigEndian.Uint64(b[14:]))
	copy(r.Nonce[:], b[22:])
	r.Slack = binary.BigEndian.Uint32(b[22+nonceLen:])
	n := int(binary.BigEndian.Uint16(b[26+nonceLen:]))
	if n > RootFanout || len(b) != rootHeader+n*dht.KeyLen {
		return nil, ErrMalformed
	}
	if size > uint64(capacity(r.Height, n)) {
		return nil, ErrMalformed
	}
	r.Size = int64(size)
	r.Children = keys(b[rootHeader:], n)
	return r, nil
}

// capacity returns the most bytes a tree of the given height whose root
// has n children can hold, saturating at 1<<62.
func capacity(height, n int) int64 {
	c := int64(n) * BlockSize
	for range height - 1 {
		if c > 1<<62/InnerFanout {
			return 1 << 62
		}
		c *= InnerFanout
	}
	return c
}

// encodeInner returns the bytes of an inner manifest of the given height
// naming children.
func encodeInner(height int, children []dht.Key) []byte {
	if len(children) > InnerFanout || height < 1 || height > MaxHeight {
		panic(fmt.Sprintf("largevalue: inner manifest of height %d with %d children", height, len(children)))
	}
	b := make([]byte, 0, innerHeader+len(children)*dht.KeyLen)
	b = append(b, magic[:]...)
	b = append(b, formatVersion, kindInner, byte(height))
	b = binary.BigEndian.AppendUint16(b, uint16(len(children)))
	for _, c := range children {
		b = append(b, c[:]...)
	}
	return b
}

// decodeInner parses an inner manifest that must have the given height.
func decodeInner(b []byte, height int) ([]dht.Key, error) {
	if len(b) < innerHeader || [2]byte(b[:2]) != magic || b[2] != formatVersion || b[3] != kindInner || int(b[4]) != height {
		return nil, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(b[5:]))
	if n == 0 || n > InnerFanout || len(b) != innerHeader+n*dht.KeyLen {
		return nil, ErrMalformed
	}
	return keys(b[innerHeader:], n), nil
}

func keys(b []byte, n int) []dht.Key {
	out := make([]dht.Key, n)
	for i := range out {
		copy(out[i][:], b[i*dht.KeyLen:])
	}
	return out
}
