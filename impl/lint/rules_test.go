package lint

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var ruleID = regexp.MustCompile(`\*\*([A-Z]+-[0-9]+)\*\*`)

// specRules returns the rule IDs defined in spec/SPEC.md (written **ID**).
func specRules(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../spec/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ruleID.FindAllSubmatch(b, -1) {
		ids = append(ids, string(m[1]))
	}
	if len(ids) < 40 {
		t.Fatalf("found only %d rules in SPEC.md", len(ids))
	}
	return ids
}

// testText concatenates every Go test file of the module.
func testText(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != "../.." {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, "_test.go") && !strings.HasSuffix(p, "rules_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sb.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// unreferenced returns the rules no test names. A rule counts as named
// when its ID appears as a whole word (FST-1 does not count for FST-10), or
// inside a range such as "PUT-1..PUT-6".
func unreferenced(rules []string, text string) []string {
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b([A-Z]+)-([0-9]+)(?:\.\.(?:[A-Z]+-)?([0-9]+))?\b`).FindAllStringSubmatch(text, -1) {
		lo := atoi(m[2])
		hi := lo
		if m[3] != "" {
			hi = atoi(m[3])
		}
		for i := lo; i <= hi && i < lo+100; i++ {
			named[m[1]+"-"+itoa(i)] = true
		}
	}
	var out []string
	for _, r := range rules {
		if !named[r] {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestEveryRuleIsChecked: every rule of spec/SPEC.md is named by at least
// one test (the Done-when of the foundation).
func TestEveryRuleIsChecked(t *testing.T) {
	if missing := unreferenced(specRules(t), testText(t)); len(missing) > 0 {
		t.Fatalf("rules of spec/SPEC.md that no test names: %v", missing)
	}
}

// TestRuleCoverageCatchesMissing is the negative control of the above.
func TestRuleCoverageCatchesMissing(t *testing.T) {
	got := unreferenced([]string{"PUT-1", "PUT-3", "PUT-7", "FST-1", "FST-10"}, "checks PUT-1..PUT-4 and FST-10")
	if strings.Join(got, ",") != "FST-1,PUT-7" {
		t.Fatalf("unreferenced = %v, want [FST-1 PUT-7]", got)
	}
}
