package judge

import (
	"os"
	"strconv"
	"testing"
)

// TestSearchVariants (run by hand) finds seeds at which the variants are
// caught: JUDGE_SEARCH=40 go test -run TestSearchVariants ./linearizability/judge -v
func TestSearchVariants(t *testing.T) {
	RegisterVariants()
	n, _ := strconv.Atoi(os.Getenv("JUDGE_SEARCH"))
	if n == 0 {
		t.Skip("JUDGE_SEARCH not set")
	}
	for _, p := range []string{"caspaxos-minority-quorum", "caspaxos-no-expiry-writeback", "caspaxos-no-read-writeback"} {
		caught := 0
		for seed := uint64(1); seed <= uint64(n); seed++ {
			r, err := RunSim(DefaultConfig(p, seed))
			if err != nil {
				t.Fatal(err)
			}
			if !r.Linearizable() {
				caught++
				t.Logf("%s caught at seed %d (%s, %v) verdict %s", p, seed, r.Family, r.Schedule, r.Verdict)
			}
		}
		t.Logf("%s: caught in %d of %d", p, caught, n)
	}
}
