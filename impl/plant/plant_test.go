package plant_test

import (
	"testing"

	"github.com/opendht-go/opendht/impl/plant"
)

// TestTable: with the variants tag a variant planted in one thing is seen
// there only and the zero variant removes it; without the tag nothing can
// be planted and every thing answers the zero variant.
func TestTable(t *testing.T) {
	var tb plant.Table[*int, string]
	a, b := new(int), new(int)
	if ok := tb.Plant(a, "bug"); ok != plant.Built {
		t.Fatalf("Plant reported %v in a build where Built is %v", ok, plant.Built)
	}
	want := ""
	if plant.Built {
		want = "bug"
	}
	if got := tb.Of(a); got != want {
		t.Errorf("Of(a) = %q after planting, want %q", got, want)
	}
	if got := tb.Of(b); got != "" {
		t.Errorf("Of(b) = %q, planted in a only", got)
	}
	tb.Plant(a, "")
	if got := tb.Of(a); got != "" {
		t.Errorf("Of(a) = %q after planting the zero variant, want none", got)
	}
}
