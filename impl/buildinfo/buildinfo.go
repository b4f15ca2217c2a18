// Package buildinfo says which build of the software is running: the
// module version, the VCS revision and time the Go toolchain stamped into
// the binary (runtime/debug.ReadBuildInfo), and the Go version. Both
// binaries print it for --version, a node's status page shows it and its
// metrics export it as opendht_build_info.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Info describes the running binary.
type Info struct {
	// Version is the main module's version ("v1.2.3", or "(devel)" for a
	// build from a work tree).
	Version string
	// Revision is the VCS commit the binary was built from; empty when the
	// build had no VCS information (go test, go run of a file list).
	Revision string
	// Time is the commit's time (RFC 3339), or empty.
	Time string
	// Modified reports a build from a work tree with uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

var (
	once   sync.Once
	cached Info
)

// Get returns the running binary's build information, read once.
func Get() Info {
	once.Do(func() {
		bi, ok := debug.ReadBuildInfo()
		cached = FromBuildInfo(bi, ok)
	})
	return cached
}

// FromBuildInfo extracts Info from what debug.ReadBuildInfo returned.
func FromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	info := Info{Version: "unknown", GoVersion: runtime.Version()}
	if !ok || bi == nil {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// ShortRevision is the first 12 hex digits of the revision, with "+dirty"
// for a modified work tree; "unknown" without VCS information.
func (i Info) ShortRevision() string {
	r := i.Revision
	if r == "" {
		return "unknown"
	}
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified {
		r += "+dirty"
	}
	return r
}

// String is the one line a binary prints for --version, after its name.
func (i Info) String() string {
	s := fmt.Sprintf("%s (revision %s", i.Version, i.ShortRevision())
	if i.Time != "" {
		s += ", " + i.Time
	}
	return s + ", " + i.GoVersion + ")"
}
