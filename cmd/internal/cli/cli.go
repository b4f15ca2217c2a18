// Package cli holds the command-line conventions both binaries (opendht
// and dhtctl) share: the exit status (0 success, 1 a failure, 2 bad
// usage: unknown commands and flags, wrong arguments, flags that
// conflict), --version with the build information, and errors printed as
// "NAME: message".
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/opendht-go/opendht/impl/buildinfo"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// UsageError marks an error in the command line: exit status 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// IsUsage reports whether err is a usage error.
func IsUsage(err error) bool {
	var ue UsageError
	return errors.As(err, &ue)
}

// Setup applies the conventions to root and every command under it: bad
// flags and wrong arguments are usage errors, an unknown command is one
// too (it names the commands there are), --version prints the build, and
// cobra prints neither usage nor errors itself (Run does).
func Setup(root *cobra.Command) {
	root.Version = buildinfo.Get().String()
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SilenceUsage, root.SilenceErrors = true, true
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
			return UsageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
		})
		if c.HasSubCommands() && c.Args == nil {
			// A command with subcommands and no run of its own: a word
			// that is not one of them is an unknown command; none at all
			// shows the help.
			c.Args = func(c *cobra.Command, args []string) error {
				if len(args) > 0 {
					return Usagef("unknown command %q for %q (see %s --help)", args[0], c.CommandPath(), c.CommandPath())
				}
				return nil
			}
			if c.RunE == nil && c.Run == nil {
				c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
			}
		} else if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error {
				if err := args(c, a); err != nil && !IsUsage(err) {
					return UsageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
				} else if err != nil {
					return err
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// Run executes root and returns the exit status, having printed the error
// to stderr as "NAME: message".
func Run(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), err)
	if IsUsage(err) {
		return ExitUsage
	}
	return ExitFailure
}

// Main runs root on the process's arguments and exits with its status.
func Main(root *cobra.Command) {
	os.Exit(Run(root, os.Args[1:], os.Stderr))
}
