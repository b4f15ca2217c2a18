package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func testRoot() *cobra.Command {
	root := &cobra.Command{Use: "tool"}
	var n int
	sub := &cobra.Command{Use: "do X", Args: cobra.ExactArgs(1), RunE: func(*cobra.Command, []string) error { return nil }}
	sub.Flags().IntVar(&n, "n", 1, "a number")
	fail := &cobra.Command{Use: "fail", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error { return errors.New("it broke") }}
	group := &cobra.Command{Use: "group"}
	group.AddCommand(&cobra.Command{Use: "leaf", RunE: func(*cobra.Command, []string) error { return nil }})
	root.AddCommand(sub, fail, group)
	Setup(root)
	return root
}

func TestExitStatuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"do", "x"}, ExitOK, ""},
		{[]string{"fail"}, ExitFailure, "tool: it broke"},
		{[]string{"nosuch"}, ExitUsage, `unknown command "nosuch" for "tool"`},
		{[]string{"group", "nosuch"}, ExitUsage, `unknown command "nosuch" for "tool group"`},
		{[]string{"do"}, ExitUsage, "accepts 1 arg"},
		{[]string{"do", "x", "--n", "ten"}, ExitUsage, "invalid argument"},
		{[]string{"do", "x", "--bogus"}, ExitUsage, "unknown flag: --bogus"},
		{[]string{"fail", "extra"}, ExitUsage, "unknown command"},
		{[]string{"--version"}, ExitOK, ""},
		{[]string{}, ExitOK, ""},
	} {
		var stderr bytes.Buffer
		root := testRoot()
		root.SetOut(&bytes.Buffer{})
		if code := Run(root, tc.args, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("tool %v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.err)
		}
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	var out bytes.Buffer
	root := testRoot()
	root.SetOut(&out)
	if code := Run(root, []string{"--version"}, &bytes.Buffer{}); code != 0 || !strings.HasPrefix(out.String(), "tool ") || !strings.Contains(out.String(), "revision") {
		t.Fatalf("--version: %d %q", code, out.String())
	}
}
