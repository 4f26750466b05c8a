//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// dataDirServed reports whether a tasker holds <dataDir>/tasker.lock (embeddb
// takes it for as long as its PostgreSQL runs) and that tasker's pid. It
// never creates the file: as root that would leave one the service's user
// cannot open.
func dataDirServed(dataDir string) (served bool, pid string, err error) {
	path := filepath.Join(dataDir, "tasker.lock")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			owner, _ := os.ReadFile(path)
			return true, strings.TrimSpace(string(owner)), nil
		}
		return false, "", err
	}
	// Closing f releases the shared lock at once.
	return false, "", nil
}
