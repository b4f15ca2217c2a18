package overlay

import (
	"math"
	"strings"
	"testing"
)

// TestConfigValidate: the defaults run, and each knob out of its range is
// refused with a message that names it.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default configuration is refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"digit bits 3", func(c *Config) { c.DigitBits = 3 }, "digit bits"},
		{"no route tries", func(c *Config) { c.RouteTries = 0 }, "route tries"},
		{"route tries beyond reason", func(c *Config) { c.RouteTries = MaxTries + 1 }, "route tries"},
		{"negative lookup tries", func(c *Config) { c.LookupTries = -1 }, "lookup tries"},
		{"no peers per host", func(c *Config) { c.PeersPerHost = 0 }, "peers per host"},
		{"negative peers per host", func(c *Config) { c.PeersPerHost = -2 }, "peers per host"},
		{"peers per host beyond reason", func(c *Config) { c.PeersPerHost = MaxPeersPerHost + 1 }, "peers per host"},
		{"no challenges", func(c *Config) { c.MaxChallenges = 0 }, "max challenges"},
		{"challenges beyond reason", func(c *Config) { c.MaxChallenges = MaxMaxChallenges + 1 }, "max challenges"},
		{"host challenges above max", func(c *Config) { c.HostChallenges = c.MaxChallenges + 1 }, "host challenges"},
		{"negative host challenges", func(c *Config) { c.HostChallenges = -1 }, "host challenges"},
		{"zero stranger rate", func(c *Config) { c.StrangerRate = 0 }, "stranger rate"},
		{"negative stranger rate", func(c *Config) { c.StrangerRate = -1 }, "stranger rate"},
		{"NaN stranger rate", func(c *Config) { c.StrangerRate = math.NaN() }, "stranger rate"},
		{"infinite stranger rate", func(c *Config) { c.StrangerRate = math.Inf(1) }, "stranger rate"},
		{"no stranger burst", func(c *Config) { c.StrangerBurst = 0 }, "stranger burst"},
		{"stranger burst beyond reason", func(c *Config) { c.StrangerBurst = MaxStrangerBurst + 1 }, "stranger burst"},
	} {
		c := DefaultConfig()
		tc.set(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
}
