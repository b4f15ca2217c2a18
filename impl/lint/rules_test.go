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
// only when its whole ID appears as a word: FST-1 does not count for
// FST-10, and a range such as "PUT-1..PUT-6" names PUT-1 and PUT-6 only,
// so every rule a test checks is written out where the test says so.
func unreferenced(rules []string, text string) []string {
	named := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b[A-Z]+-[0-9]+\b`).FindAllString(text, -1) {
		named[m] = true
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

// TestEveryRuleIsChecked: every rule of spec/SPEC.md is named by at least
// one test (the Done-when of the foundation).
func TestEveryRuleIsChecked(t *testing.T) {
	if missing := unreferenced(specRules(t), testText(t)); len(missing) > 0 {
		t.Fatalf("rules of spec/SPEC.md that no test names: %v", missing)
	}
}

// TestRuleCoverageCatchesMissing is the negative control of the above.
func TestRuleCoverageCatchesMissing(t *testing.T) {
	got := unreferenced([]string{"PUT-1", "PUT-3", "PUT-4", "PUT-7", "FST-1", "FST-10"}, "checks PUT-1..PUT-4 and FST-10")
	if strings.Join(got, ",") != "FST-1,PUT-3,PUT-7" {
		t.Fatalf("unreferenced = %v, want [FST-1 PUT-3 PUT-7]: a range names its ends only", got)
	}
}
