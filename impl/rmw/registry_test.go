package rmw

import (
	"slices"
	"testing"
)

func TestRegistryNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v, not sorted", names)
	}
	for _, want := range []string{"caspaxos", "naive", Default} {
		if !slices.Contains(names, want) || !Known(want) {
			t.Errorf("Names() = %v: %q missing", names, want)
		}
	}
	if Known("paxos-made-simple") {
		t.Errorf("Known reports an unregistered name")
	}
}

func TestRegistryNew(t *testing.T) {
	net := newFakeNet(t, "caspaxos", 1, 1, 0, 1)
	for _, name := range Names() {
		if p, err := New(name, net.hosts[0]); err != nil || p == nil {
			t.Errorf("New(%q) = %v, %v", name, p, err)
		}
	}
	if p, err := New("nope", net.hosts[0]); err == nil || p != nil {
		t.Errorf("New of an unknown name = %v, %v; want an error", p, err)
	}
}

func TestRegisterRefuses(t *testing.T) {
	before := Names()
	for _, name := range []string{"caspaxos", "naive", "", "a-name-longer-than-thirty-two-bytes"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			Register(name, func(h Host) Protocol { return nil })
		}()
	}
	if after := Names(); !slices.Equal(before, after) {
		t.Errorf("a refused Register changed the registry: %v -> %v", before, after)
	}
}
