package judge

import (
	"testing"
)

func TestSmoke(t *testing.T) {
	for _, p := range []string{"caspaxos", "naive"} {
		cfg := DefaultConfig(p, 1)
		cfg.OutDir = t.TempDir()
		r, err := RunSim(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", p, r)
	}
}
