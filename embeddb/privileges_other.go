//go:build !linux

package embeddb

import (
	"errors"
	"log/slog"
	"os"
	"time"
)

// DropRootPrivileges is implemented on Linux only; elsewhere it reports
// (false, nil) when not root and an error when root, since PostgreSQL will not
// run as root and this platform has no privilege drop yet.
func DropRootPrivileges(logger *slog.Logger, userName string, dirs ...string) (dropped bool, err error) {
	if os.Geteuid() != 0 {
		return false, nil
	}
	return false, errors.New("running as root is not supported on this platform: PostgreSQL refuses to run as root; run tasker as an unprivileged user")
}

// syncFilesystem is a no-op here: no PostgreSQL bundle exists for these
// platforms yet, so nothing is ever extracted.
func syncFilesystem(string) error { return nil }

// stopLeftover is a no-op here for the same reason.
func stopLeftover(*slog.Logger, string, string, time.Duration) error { return nil }
