package redir

import (
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Config is a namespace's shape and its members' soft-state timing. Every
// member and client of one namespace must use the same Branching, Levels
// and StartLevel: they decide which DHT keys hold which records.
type Config struct {
	// Branching is b, the children of each tree node: a power of two from
	// 2 to 256.
	Branching int
	// Levels is L, the depth of the tree (levels 0..L-1); Levels times
	// log2(Branching) is at most 64 bits.
	Levels int
	// StartLevel is l0, where members always put their record and where
	// the first lookup of a namespace starts; 0 <= StartLevel < Levels.
	StartLevel int
	// TTL is the lifetime of a member record, in the DHT's whole seconds
	// (at least one second). A member that vanished without leaving is
	// listed for up to this long.
	TTL time.Duration
}

// DefaultConfig is the paper's tree with the timing of a small service.
func DefaultConfig() Config {
	return Config{
		// b = 2: the paper's choice; lookups rarely need more than two gets.
		Branching: 2,
		// 16 levels: 65,536 leaf intervals, so the deepest nodes stay small
		// for namespaces up to tens of thousands of members.
		Levels: 16,
		// l0 = 2: the start level RFC 7374 recommends; the 4 nodes at level
		// 2 list every member, which is what Members reads.
		StartLevel: 2,
		// 5 minutes: members refresh every TTL/3 (RefreshPeriod), so a
		// record the DHT lost comes back within 100 s while a crashed member
		// is forgotten within 5 minutes.
		TTL: 5 * time.Minute,
	}
}

// ErrConfig wraps every reason Validate gives.
var ErrConfig = errors.New("redir: bad config")

// Validate rejects a shape the tree cannot have.
func (c Config) Validate() error {
	if c.Branching < 2 || c.Branching > 256 || bits.OnesCount(uint(c.Branching)) != 1 {
		return fmt.Errorf("%w: branching factor %d is not a power of two from 2 to 256", ErrConfig, c.Branching)
	}
	if c.Levels < 1 || c.Levels*c.digitBits() > 64 {
		return fmt.Errorf("%w: %d levels of branching %d need %d bits; at most 64", ErrConfig, c.Levels, c.Branching, c.Levels*c.digitBits())
	}
	if c.StartLevel < 0 || c.StartLevel >= c.Levels {
		return fmt.Errorf("%w: start level %d is outside levels 0..%d", ErrConfig, c.StartLevel, c.Levels-1)
	}
	if c.TTL < time.Second {
		return fmt.Errorf("%w: TTL %v is shorter than one second", ErrConfig, c.TTL)
	}
	return nil
}

// RefreshPeriod is how often a member should Refresh: three times per TTL,
// so one lost or late refresh does not let its records expire.
func (c Config) RefreshPeriod() time.Duration { return c.TTL / 3 }

// digitBits is log2(Branching): the bits of the ID one level consumes.
func (c Config) digitBits() int { return bits.TrailingZeros(uint(c.Branching)) }
