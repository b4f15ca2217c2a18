package lint

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/opendht-go/opendht"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 4 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// testOnly are imports production code must never have: the model, the
// checkers, and test libraries.
var testOnly = []string{
	module + "/model",
	module + "/linearizability",
	"testing",
	"pgregory.net/rapid",
	"github.com/google/go-cmp",
	"github.com/anishathalye/porcupine",
}

// violations applies the project's layering rules: the vocabulary
// (impl/dht) is a leaf; the model imports only the vocabulary and the
// standard library; production code (impl/, cmd/) never imports the model,
// the checkers or test helpers, and no impl/ package but the simulator
// and its host (impl/simhost, which drives a node core over it) imports
// the simulator (its fault knobs are for tests and cmd/dhtsim).
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		rel := strings.TrimPrefix(p.ImportPath, module)
		if isTestHelper(p.ImportPath) {
			continue // a helper for tests (like net/http/httptest) may use the model
		}
		for _, imp := range p.Imports {
			internal := strings.HasPrefix(imp, module)
			switch {
			case rel == "/impl/dht" && internal:
				out = append(out, "impl/dht is the leaf vocabulary but imports "+imp)
			case rel == "/model" && internal && imp != module+"/impl/dht":
				out = append(out, "model may import only impl/dht, imports "+imp)
			case rel == "/model" && !internal && strings.Contains(imp, "."):
				out = append(out, "model must be pure Go without dependencies, imports "+imp)
			}
			if strings.HasPrefix(rel, "/impl/") && rel != "/impl/simnet" && rel != "/impl/simhost" && (imp == module+"/impl/simnet" || imp == module+"/impl/simhost") {
				out = append(out, "production package "+p.ImportPath+" imports the simulator "+imp)
			}
			if strings.HasPrefix(rel, "/impl/") || strings.HasPrefix(rel, "/cmd/") {
				for _, bad := range testOnly {
					if slices.Contains(judgeTools, p.ImportPath) && (imp == module+"/linearizability" || strings.HasPrefix(imp, module+"/linearizability/")) {
						continue // a judge's command runs the checkers
					}
					if imp == bad || strings.HasPrefix(imp, bad+"/") {
						out = append(out, "production package "+p.ImportPath+" imports "+imp)
					}
				}
				if internal && isTestHelper(imp) {
					out = append(out, "production package "+p.ImportPath+" imports the test helper "+imp)
				}
			}
		}
	}
	return out
}

// judgeTools are the commands whose job is to run the checkers of
// linearizability/ (make linearizability): they may import them. No node
// or client code imports them.
var judgeTools = []string{module + "/cmd/rmwjudge"}

// isTestHelper reports whether a package of this module is a helper for
// tests: its name ends in "test", as net/http/httptest's does.
func isTestHelper(path string) bool {
	return strings.HasPrefix(path, module+"/") && strings.HasSuffix(path[strings.LastIndex(path, "/")+1:], "test")
}

// TestProductionImports checks the layering of the real packages.
func TestProductionImports(t *testing.T) {
	for _, v := range violations(listPackages(t)) {
		t.Error(v)
	}
}

// TestLintCatchesViolations is the negative control: each kind of forbidden
// import is reported.
func TestLintCatchesViolations(t *testing.T) {
	for _, bad := range []pkg{
		{ImportPath: module + "/impl/store", Imports: []string{module + "/model"}},
		{ImportPath: module + "/cmd/opendht", Imports: []string{"pgregory.net/rapid"}},
		{ImportPath: module + "/model", Imports: []string{module + "/impl/store"}},
		{ImportPath: module + "/model", Imports: []string{"github.com/cockroachdb/pebble/v2"}},
		{ImportPath: module + "/impl/dht", Imports: []string{module + "/model"}},
		{ImportPath: module + "/impl/node", Imports: []string{module + "/impl/simnet"}},
		{ImportPath: module + "/cmd/opendht", Imports: []string{module + "/impl/gateway/gatewaytest"}},
		{ImportPath: module + "/cmd/opendht", Imports: []string{module + "/linearizability/judge"}},
		{ImportPath: module + "/cmd/rmwjudge", Imports: []string{module + "/model"}},
	} {
		if len(violations([]pkg{bad})) == 0 {
			t.Errorf("%s importing %v was not reported", bad.ImportPath, bad.Imports)
		}
	}
}
