package testbed

import "context"

// StartWithoutNetem starts a testbed with the netem shaper's topology
// (bridge, veths, HTB classes and u32 filters) whose leaves are plain
// FIFOs: the shaper's plumbing, on a kernel without netem.
func StartWithoutNetem(ctx context.Context, cfg Config) (*Testbed, error) {
	netemLeaf = func(l link) string { return "pfifo limit 10000" }
	defer func() { netemLeaf = netemLeafOf }()
	return startWith(ctx, cfg, "netem")
}
