package testbed

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNetemBatches: the tc batch of a node has one HTB class, netem leaf
// and destination filter per other endpoint (the host included), with
// the host's direction folded in; a partition changes exactly the leaves
// of the paths it blocks.
func TestNetemBatches(t *testing.T) {
	const n = 3
	m := matrixOf(n, 100*time.Millisecond)
	f := newFaults(n)
	tab := f.table(m, 40*time.Millisecond)
	addr := func(i int) string { return fmt.Sprintf("10.9.0.%d", 10+i) }
	setup := strings.Join(netemSetup(tab, 0, addr), "\n")
	for _, want := range []string{
		"qdisc add dev eth0 root handle 1: htb default 1",
		"qdisc add dev eth0 parent 1:11 handle 11: netem limit 10000 delay 50000us loss 0.0000%",
		"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.9.0.11/32 flowid 1:11",
		"qdisc add dev eth0 parent 1:13 handle 13: netem limit 10000 delay 40000us loss 0.0000%", // the host: the whole client RTT
		"filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.9.0.13/32 flowid 1:13",
	} {
		if !strings.Contains(setup, want) {
			t.Errorf("setup lacks %q:\n%s", want, setup)
		}
	}
	if strings.Contains(setup, "1:10 ") {
		t.Errorf("node 0 has a class for itself:\n%s", setup)
	}
	_ = f.partition(n, [][]int{{0}})
	got := netemChanges(tab, f.table(m, 40*time.Millisecond), 0)
	want := []string{
		"qdisc replace dev eth0 parent 1:11 handle 11: netem limit 10000 loss 100%",
		"qdisc replace dev eth0 parent 1:12 handle 12: netem limit 10000 loss 100%",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
