package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/tasker-systems/tasker/embeddb"
)

// Stamped by the release build (Makefile, .goreleaser.yaml) with
// -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildVersion returns the stamped version, commit and date, falling back to
// the module's build info when the binary was built with plain go build:
// the module version (go install pkg@version) and the VCS revision and time
// (go build in a git checkout, unless -buildvcs=false).
func buildVersion() (v, c, d string) {
	v, c, d = version, commit, date
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v, c, d
}

func versionString() string {
	v, c, d := buildVersion()
	pg, ok := embeddb.BundleInfo()
	if !ok {
		pg = "not embedded"
	}
	return fmt.Sprintf("tasker %s (commit %s, built %s, %s, %s/%s, PostgreSQL %s)",
		v, orUnknown(c), orUnknown(d), runtime.Version(), runtime.GOOS, runtime.GOARCH, pg)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
