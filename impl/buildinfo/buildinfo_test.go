package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfoReadsVCSStamps(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"},
		{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := FromBuildInfo(bi, true)
	want := Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Time: "2026-01-02T03:04:05Z", Modified: true, GoVersion: "go1.99"}
	if got != want {
		t.Fatalf("FromBuildInfo = %+v, want %+v", got, want)
	}
	if s := got.String(); s != "v1.2.3 (revision 0123456789ab+dirty, 2026-01-02T03:04:05Z, go1.99)" {
		t.Fatalf("String = %q", s)
	}
}

func TestFromBuildInfoWithoutInformation(t *testing.T) {
	got := FromBuildInfo(nil, false)
	if got.Version != "unknown" || got.ShortRevision() != "unknown" || !strings.HasPrefix(got.GoVersion, "go") {
		t.Fatalf("FromBuildInfo(nil) = %+v", got)
	}
	if Get().GoVersion == "" {
		t.Fatal("Get has no Go version")
	}
}
