package largevalue

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// DHT is what the layer needs of the DHT: the original put, get_details
// and rm. A gateway.Backend (a node) and the Go client (through an
// adapter) both provide it. Status 2 and errors that report Timeout() ==
// true are retried by the layer (Config.Attempts); other errors end the
// operation.
type DHT interface {
	Put(ctx context.Context, p dht.Put) (dht.Status, error)
	Get(ctx context.Context, g dht.Get) (dht.GetReply, error)
	Remove(ctx context.Context, r dht.Remove) (dht.Status, error)
}

// Config holds the layer's parameters.
type Config struct {
	// Parallel bounds the puts, gets or removes of blocks one operation has
	// in flight (LV-9); it is also the number of blocks a read or write
	// holds in memory.
	Parallel int
	// MaxSize is the largest value a put accepts, in bytes (LV-10).
	MaxSize int64
	// Attempts bounds the tries of one block's put, get or rm when the DHT
	// answers status 2 or times out.
	Attempts int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to a second.
	Backoff time.Duration
	// MaxPages bounds the get pages read under one key: a block key holds
	// one value unless someone put others there; a name holds one root per
	// write that has not expired.
	MaxPages int
	// SkewMargin is taken off the root's TTL on top of the write's
	// duration, so that the root expires before its blocks at every
	// replica whose clock is within the margin (LV-6), in whole seconds.
	SkewMargin time.Duration
	// Now is the clock of the Created stamp and of the write's duration;
	// nil is time.Now.
	Now func() time.Time
	// Rand is the source of every write's nonce; nil is crypto/rand.
	Rand io.Reader
}

// DefaultConfig returns the layer's defaults.
func DefaultConfig() Config {
	return Config{
		// 32 blocks in flight: about 32 KiB of buffers per operation, and
		// enough round trips in flight to keep a loopback ring busy.
		Parallel: 32,
		// 1 GiB: far beyond the 64 MiB the checks use, small enough that a
		// mistaken upload of a disk image stops.
		MaxSize: 1 << 30,
		// Six tries with backoff 50 ms..1 s wait about 2 s for a queue
		// that says try again (FST-8).
		Attempts:   6,
		Backoff:    50 * time.Millisecond,
		MaxPages:   64,
		SkewMargin: 2 * time.Second,
	}
}

// Validate rejects settings the layer cannot work with.
func (c Config) Validate() error {
	switch {
	case c.Parallel < 1:
		return fmt.Errorf("largevalue: parallel must be at least 1, got %d", c.Parallel)
	case c.MaxSize < 0:
		return fmt.Errorf("largevalue: max size must not be negative, got %d", c.MaxSize)
	case c.Attempts < 1:
		return fmt.Errorf("largevalue: attempts must be at least 1, got %d", c.Attempts)
	case c.Backoff <= 0:
		return fmt.Errorf("largevalue: backoff must be positive, got %v", c.Backoff)
	case c.MaxPages < 1:
		return fmt.Errorf("largevalue: max pages must be at least 1, got %d", c.MaxPages)
	case c.SkewMargin < 0:
		return fmt.Errorf("largevalue: skew margin must not be negative, got %v", c.SkewMargin)
	}
	return nil
}

// Errors of the layer; test them with errors.Is.
var (
	// ErrNotFound: no root manifest under the name (none was written, or
	// it expired or was removed).
	ErrNotFound = errors.New("largevalue: no value under this name")
	// ErrMissing: a block or inner manifest is not stored (LV-4).
	ErrMissing = errors.New("missing")
	// ErrCorrupt: values are stored under a block's key but none hashes to
	// it (LV-4).
	ErrCorrupt = errors.New("corrupt")
	// ErrTooLarge: the value is longer than Config.MaxSize.
	ErrTooLarge = errors.New("largevalue: value is larger than the limit")
	// ErrOverCapacity: a put or rm ended with status 1.
	ErrOverCapacity = errors.New("over capacity (status 1)")
	// ErrTryAgain: a put or rm ended with status 2 on every attempt.
	ErrTryAgain = errors.New("try again (status 2)")
	// ErrTTLTooShort: the write took so long that its root would expire
	// before it could be read (LV-6).
	ErrTTLTooShort = errors.New("largevalue: the ttl is shorter than the write took")
	// ErrBadSecret: a secret that is empty or longer than 40 bytes.
	ErrBadSecret = errors.New("largevalue: a secret has 1 to 40 bytes")
	// ErrReading: the value's reader failed; nothing was stored under the
	// name.
	ErrReading = errors.New("largevalue: reading the value")
	// ErrNotRemovable: no root under the name was put with this secret.
	ErrNotRemovable = errors.New("largevalue: no value under this name was put with this secret")
)

// BlockError names the block or inner manifest an operation failed on.
type BlockError struct {
	// Height is 0 for a data block, the manifest's height otherwise.
	Height int
	// Index is a data block's position in the value (its first byte is at
	// Index*BlockSize); -1 for a manifest.
	Index int64
	// Key is the block's key, the SHA-1 of its bytes.
	Key dht.Key
	// Err says what happened: ErrMissing, ErrCorrupt, ErrMalformed, a
	// status, or the DHT's error.
	Err error
}

func (e *BlockError) Error() string {
	if e.Height == 0 {
		return fmt.Sprintf("largevalue: block %d (bytes from %d) under key %s: %v", e.Index, e.Index*BlockSize, e.Key, e.Err)
	}
	return fmt.Sprintf("largevalue: manifest of height %d under key %s: %v", e.Height, e.Key, e.Err)
}

func (e *BlockError) Unwrap() error { return e.Err }

// Info describes a stored value.
type Info struct {
	// Size is the value's length in bytes.
	Size int64
	// Blocks is the number of data blocks.
	Blocks int64
	// Created is the writer's clock when the write began.
	Created time.Time
	// TTL is the time the root has left (on a put: the TTL it was put with).
	TTL time.Duration
	// Removable reports that the value was put with a secret.
	Removable bool
	// Version is the SHA-1 of the root manifest: it names this write.
	Version dht.Hash
}

// PutOptions are the arguments of a put beyond the name and the bytes.
type PutOptions struct {
	// TTL is the value's lifetime in seconds, counted from the start of
	// the write (LV-6); clamped to a week like every put.
	TTL int64
	// Secret, if set (1 to 40 bytes), makes the value removable (LV-7).
	Secret []byte
	// Client is charged for every put (FST-5, LV-8); a gateway fills in
	// the connection's address, a client leaves it empty.
	Client dht.ClientID
}

// Layer stores and reads large values over a DHT. It is safe for
// concurrent use: every operation has its own state.
type Layer struct {
	d   DHT
	cfg Config
	now func() time.Time
	rnd io.Reader
}

// New returns the layer over d. It panics on an invalid cfg: call
// cfg.Validate first when it comes from a user.
func New(d DHT, cfg Config) *Layer {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	l := &Layer{d: d, cfg: cfg, now: cfg.Now, rnd: cfg.Rand}
	if l.now == nil {
		l.now = time.Now
	}
	if l.rnd == nil {
		l.rnd = rand.Reader
	}
	return l
}

// blockSecret derives the secret of a removable write's blocks and inner
// manifests from the client's secret, the name and the write's nonce
// (LV-7): two writes share no removable item, so removing one never
// removes a block of another, and a block removed once can be written
// again by a later write.
func blockSecret(secret []byte, name dht.Key, nonce [nonceLen]byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("opendht large value blocks\x00"))
	m.Write(name[:])
	m.Write(nonce[:])
	return m.Sum(nil)
}

// Put reads r to its end and stores it under name (LV-1..LV-3): the blocks
// and inner manifests first, Parallel puts at a time, then, once every one
// was acknowledged, the root. On any error no root is written: the name
// keeps its previous value.
func (l *Layer) Put(ctx context.Context, name dht.Key, r io.Reader, o PutOptions) (Info, error) {
	ttl, err := dht.ClampTTL(o.TTL)
	if err != nil {
		return Info{}, err
	}
	if o.Secret != nil && (len(o.Secret) == 0 || len(o.Secret) > dht.MaxSecretLen) {
		return Info{}, ErrBadSecret
	}
	start := l.now()
	root := &Root{Created: start.UnixNano(), Removable: o.Secret != nil}
	if _, err := io.ReadFull(l.rnd, root.Nonce[:]); err != nil {
		return Info{}, fmt.Errorf("largevalue: nonce: %w", err)
	}
	var sh dht.Hash
	if root.Removable {
		sh = dht.SHA1(blockSecret(o.Secret, name, root.Nonce))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := newPool(ctx, l.cfg.Parallel)
	store := func(height int, index int64, b []byte) dht.Key {
		k := BlockKey(b)
		p.do(func(ctx context.Context) error {
			return l.write(ctx, height, index, k, dht.Put{Client: o.Client, Key: k, Value: b, TTL: ttl, SecretHash: sh})
		})
		return k
	}
	// levels[i] holds the keys of the finished nodes of height i (0: data
	// blocks) not yet named by a manifest; a level that fills becomes an
	// inner manifest one level up.
	var levels [][]dht.Key
	var push func(h int, k dht.Key)
	push = func(h int, k dht.Key) {
		if h == len(levels) {
			levels = append(levels, nil)
		}
		levels[h] = append(levels[h], k)
		if len(levels[h]) == InnerFanout {
			inner := encodeInner(h+1, levels[h])
			levels[h] = levels[h][:0]
			push(h+1, store(h+1, -1, inner))
		}
	}
	var blocks int64
	for !p.failed() {
		buf := make([]byte, BlockSize)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if root.Size+int64(n) > l.cfg.MaxSize {
				p.fail(fmt.Errorf("%w (%d bytes)", ErrTooLarge, l.cfg.MaxSize))
				break
			}
			root.Size += int64(n)
			push(0, store(0, blocks, buf[:n]))
			blocks++
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			p.fail(fmt.Errorf("%w: %w", ErrReading, err))
			break
		}
	}
	// The partly filled levels go up until one fits in the root.
	for h := 0; ; h++ {
		if h == len(levels) {
			levels = append(levels, nil)
		}
		top := true
		for _, up := range levels[h+1:] {
			top = top && len(up) == 0
		}
		if top && len(levels[h]) <= RootFanout {
			root.Height = h + 1
			root.Children = levels[h]
			break
		}
		if len(levels[h]) > 0 {
			inner := encodeInner(h+1, levels[h])
			levels[h] = nil
			push(h+1, store(h+1, -1, inner))
		}
	}
	bug := planted(l)
	if !bug.RootBeforeBlocksAcked {
		if err := p.wait(); err != nil {
			return Info{}, err
		}
	}
	// LV-6: the root expires before any of its blocks. The DHT counts
	// whole seconds (RD-6): the write took as many as the clock's second
	// moved.
	elapsed := l.now().Unix() - start.Unix()
	rootTTL := ttl - elapsed - int64(math.Ceil(l.cfg.SkewMargin.Seconds()))
	if bug.RootOutlivesBlocks {
		rootTTL = ttl
	}
	if rootTTL < 1 {
		return Info{}, fmt.Errorf("%w: %ds to write, ttl %ds", ErrTTLTooShort, elapsed, ttl)
	}
	root.Slack = uint32(ttl - rootTTL)
	rb := root.Encode()
	var rootSH dht.Hash
	if root.Removable {
		rootSH = dht.SHA1(o.Secret)
	}
	err = l.write(ctx, root.Height+1, -1, name, dht.Put{Client: o.Client, Key: name, Value: rb, TTL: rootTTL, SecretHash: rootSH})
	if bug.RootBeforeBlocksAcked {
		err = errors.Join(err, p.wait())
	}
	if err != nil {
		return Info{}, err
	}
	return Info{Size: root.Size, Blocks: blocks, Created: start, TTL: time.Duration(rootTTL) * time.Second,
		Removable: root.Removable, Version: dht.SHA1(rb)}, nil
}

// write puts one block, inner or root manifest, trying again on status 2
// and timeouts.
func (l *Layer) write(ctx context.Context, height int, index int64, k dht.Key, p dht.Put) error {
	return l.retry(ctx, height, index, k, func(ctx context.Context) (dht.Status, error) { return l.d.Put(ctx, p) })
}

func (l *Layer) retry(ctx context.Context, height int, index int64, k dht.Key, op func(context.Context) (dht.Status, error)) error {
	var last error
	for attempt := range l.cfg.Attempts {
		if attempt > 0 {
			if err := sleep(ctx, min(l.cfg.Backoff<<(attempt-1), time.Second)); err != nil {
				return errors.Join(err, last)
			}
		}
		st, err := op(ctx)
		switch {
		case err == nil && st == dht.StatusOK:
			return nil
		case err == nil && st == dht.StatusOverCapacity:
			return &BlockError{height, index, k, ErrOverCapacity}
		case err == nil && st == dht.StatusTryAgain:
			last = &BlockError{height, index, k, ErrTryAgain}
		case err == nil:
			return &BlockError{height, index, k, fmt.Errorf("unknown status %d", st)}
		case ctx.Err() == nil && isTimeout(err):
			last = &BlockError{height, index, k, err}
		default:
			return &BlockError{height, index, k, err}
		}
	}
	return last
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) && te.Timeout()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// root is a root manifest read under a name, with its details.
type rootValue struct {
	*Root
	bytes      []byte
	ttl        int64
	secretHash dht.Hash
}

// roots reads every root manifest under name, in no particular order.
// Values that are not root manifests are skipped (anyone may put anything
// under any key).
func (l *Layer) roots(ctx context.Context, name dht.Key) ([]rootValue, error) {
	var out []rootValue
	err := l.values(ctx, name, 1, -1, func(v dht.Value) bool {
		if r, err := DecodeRoot(v.Value); err == nil {
			out = append(out, rootValue{r, v.Value, v.TTLRemaining, v.SecretHash})
		}
		return true
	})
	return out, err
}

// values calls f on the values under k, page by page, until f returns
// false, there are no more, or Config.MaxPages pages were read.
func (l *Layer) values(ctx context.Context, k dht.Key, height int, index int64, f func(dht.Value) bool) error {
	var pm []byte
	for range l.cfg.MaxPages {
		var rep dht.GetReply
		err := l.retry(ctx, height, index, k, func(ctx context.Context) (dht.Status, error) {
			var err error
			rep, err = l.d.Get(ctx, dht.Get{Key: k, MaxVals: 4, Placemark: pm, ItemOrder: true})
			return dht.StatusOK, err
		})
		if err != nil {
			return err
		}
		for _, v := range rep.Values {
			if !f(v) {
				return nil
			}
		}
		if len(rep.Placemark) == 0 {
			return nil
		}
		pm = rep.Placemark
	}
	return nil
}

// newest is the value of a name: the root with the latest Created, ties
// broken by the larger root hash, so every reader picks the same (LV-5).
func newest(rs []rootValue) (rootValue, bool) {
	var best rootValue
	var bestHash dht.Hash
	for _, r := range rs {
		h := dht.SHA1(r.bytes)
		if best.Root == nil || r.Created > best.Created || r.Created == best.Created && bytes.Compare(h[:], bestHash[:]) > 0 {
			best, bestHash = r, h
		}
	}
	return best, best.Root != nil
}

func (r rootValue) info() Info {
	return Info{Size: r.Size, Blocks: (r.Size + BlockSize - 1) / BlockSize, Created: time.Unix(0, r.Created),
		TTL: time.Duration(r.ttl) * time.Second, Removable: r.Removable, Version: dht.SHA1(r.bytes)}
}

// Stat describes the value under name without reading its blocks.
func (l *Layer) Stat(ctx context.Context, name dht.Key) (Info, error) {
	rs, err := l.roots(ctx, name)
	if err != nil {
		return Info{}, err
	}
	r, ok := newest(rs)
	if !ok {
		return Info{}, ErrNotFound
	}
	return r.info(), nil
}

// Get writes the value under name to w (LV-4, LV-5): Parallel blocks are
// fetched at a time and written in order, each checked against its key.
// On an error, what was written is a prefix of the value and must be
// thrown away; the error names the block that failed. started, if not
// nil, is called with the value's Info before its first byte is written.
func (l *Layer) Get(ctx context.Context, name dht.Key, w io.Writer, started func(Info)) (Info, error) {
	rs, err := l.roots(ctx, name)
	if err != nil {
		return Info{}, err
	}
	r, ok := newest(rs)
	if !ok {
		return Info{}, ErrNotFound
	}
	info := r.info()
	if started != nil {
		started(info)
	}
	return info, l.read(ctx, r.Root, w)
}

// fetched is one data block being read.
type fetched struct {
	index int64
	key   dht.Key
	done  chan struct{}
	data  []byte
	err   error
}

// read streams the tree of root to w.
func (l *Layer) read(ctx context.Context, root *Root, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	count := (root.Size + BlockSize - 1) / BlockSize
	// slots bounds the blocks fetched but not yet written (LV-9).
	slots := make(chan struct{}, l.cfg.Parallel)
	order := make(chan *fetched, l.cfg.Parallel)
	walkErr := make(chan error, 1)
	go func() {
		defer close(order)
		var index int64
		var walk func(height int, children []dht.Key) error
		walk = func(height int, children []dht.Key) error {
			for _, k := range children {
				if height > 1 {
					b, err := l.block(ctx, height-1, -1, k)
					if err != nil {
						return err
					}
					kids, err := decodeInner(b, height-1)
					if err != nil {
						return &BlockError{height - 1, -1, k, err}
					}
					if err := walk(height-1, kids); err != nil {
						return err
					}
					continue
				}
				f := &fetched{index: index, key: k, done: make(chan struct{})}
				index++
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
				order <- f
				go func() {
					defer close(f.done)
					f.data, f.err = l.block(ctx, 0, f.index, f.key)
				}()
			}
			return nil
		}
		walkErr <- walk(root.Height, root.Children)
	}()
	var written int64
	for f := range order {
		<-f.done
		<-slots
		if f.err != nil {
			return f.err
		}
		// The shape the writer makes: full blocks, the last one holding
		// the rest of Size.
		want := int64(BlockSize)
		if f.index == count-1 {
			want = root.Size - f.index*BlockSize
		}
		if f.index >= count || int64(len(f.data)) != want {
			return &BlockError{0, f.index, f.key, fmt.Errorf("%w: %d bytes where the root's size %d wants %d", ErrMalformed, len(f.data), root.Size, max(want, 0))}
		}
		if _, err := w.Write(f.data); err != nil {
			return fmt.Errorf("largevalue: writing the value: %w", err)
		}
		written += int64(len(f.data))
	}
	if err := <-walkErr; err != nil {
		return err
	}
	if written != root.Size {
		return fmt.Errorf("%w: the tree holds %d bytes, the root says %d", ErrMalformed, written, root.Size)
	}
	return nil
}

// block reads the block or inner manifest under k: the value that hashes
// to k (LV-4).
func (l *Layer) block(ctx context.Context, height int, index int64, k dht.Key) ([]byte, error) {
	var found []byte
	seen := 0
	skipCheck := planted(l).SkipHashCheck
	err := l.values(ctx, k, height, index, func(v dht.Value) bool {
		seen++
		if skipCheck || BlockKey(v.Value) == k {
			found = v.Value
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return nil, err
	case found != nil:
		return found, nil
	case seen == 0:
		return nil, &BlockError{height, index, k, ErrMissing}
	}
	return nil, &BlockError{height, index, k, fmt.Errorf("%w: %d values under the key, none hashes to it", ErrCorrupt, seen)}
}

// Remove removes every write of the value under name that was put with
// secret (LV-7): first the roots, so that no reader finds them, then the
// blocks and inner manifests of each, whose tombstones free their space.
// It returns ErrNotRemovable when no root under name has this secret.
func (l *Layer) Remove(ctx context.Context, name dht.Key, secret []byte, client dht.ClientID) error {
	if len(secret) == 0 || len(secret) > dht.MaxSecretLen {
		return ErrBadSecret
	}
	rs, err := l.roots(ctx, name)
	if err != nil {
		return err
	}
	sh := dht.SHA1(secret)
	var mine []rootValue
	for _, r := range rs {
		if r.secretHash == sh && r.Removable {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		return ErrNotRemovable
	}
	rm := func(ctx context.Context, height int, index int64, k dht.Key, valueHash dht.Hash, sec []byte, ttl int64) error {
		ttl = min(max(ttl, 1), dht.MaxTTL)
		return l.retry(ctx, height, index, k, func(ctx context.Context) (dht.Status, error) {
			return l.d.Remove(ctx, dht.Remove{Client: client, Key: k, ValueHash: valueHash, Secret: sec, TTL: ttl})
		})
	}
	margin := int64(math.Ceil(l.cfg.SkewMargin.Seconds()))
	for _, r := range mine {
		if err := rm(ctx, r.Height+1, -1, name, dht.SHA1(r.bytes), secret, r.ttl+margin); err != nil {
			return err
		}
	}
	for _, r := range mine {
		if err := l.removeTree(ctx, r, blockSecret(secret, name, r.Nonce), r.ttl+int64(r.Slack)+margin, rm); err != nil {
			return err
		}
	}
	return nil
}

// removeTree removes the blocks and inner manifests of one write.
func (l *Layer) removeTree(ctx context.Context, r rootValue, sec []byte, ttl int64,
	rm func(context.Context, int, int64, dht.Key, dht.Hash, []byte, int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := newPool(ctx, l.cfg.Parallel)
	var index int64
	var walk func(height int, children []dht.Key) error
	walk = func(height int, children []dht.Key) error {
		for _, k := range children {
			if p.failed() {
				return nil
			}
			if height > 1 {
				b, err := l.block(ctx, height-1, -1, k)
				if err != nil {
					return err
				}
				kids, err := decodeInner(b, height-1)
				if err != nil {
					return &BlockError{height - 1, -1, k, err}
				}
				if err := walk(height-1, kids); err != nil {
					return err
				}
				p.do(func(ctx context.Context) error { return rm(ctx, height-1, -1, k, dht.Hash(k), sec, ttl) })
				continue
			}
			i := index
			index++
			p.do(func(ctx context.Context) error { return rm(ctx, 0, i, k, dht.Hash(k), sec, ttl) })
		}
		return nil
	}
	err := walk(r.Height, r.Children)
	return errors.Join(err, p.wait())
}

// pool runs operations, at most n at a time, and keeps the first error.
type pool struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

func newPool(ctx context.Context, n int) *pool {
	ctx, cancel := context.WithCancel(ctx)
	return &pool{ctx: ctx, cancel: cancel, sem: make(chan struct{}, n)}
}

// do runs f once a slot is free; nothing after the pool failed.
func (p *pool) do(f func(context.Context) error) {
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		return
	}
	p.wg.Go(func() {
		defer func() { <-p.sem }()
		if err := f(p.ctx); err != nil {
			p.fail(err)
		}
	})
}

func (p *pool) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.cancel()
}

func (p *pool) failed() bool { return p.ctx.Err() != nil }

// wait waits for every operation and returns the first error, or the
// context's if it ended first.
func (p *pool) wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.cancel()
	if p.err != nil {
		return p.err
	}
	return p.ctx.Err()
}
