//go:build unix

package embeddb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir takes an exclusive lock on DataDir for the life of the process.
// The kernel drops it when the process dies, however it dies, so a lock that
// is held means a live tasker: only then is a running postmaster not a
// leftover to stop.
func lockDataDir(dataDir string) (*os.File, error) {
	path := filepath.Join(dataDir, "tasker.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another tasker (pid %s); stop it or choose another --data-dir",
				dataDir, strings.TrimSpace(string(owner)))
		}
		return nil, fmt.Errorf("embedded PostgreSQL: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
