//go:build unix

package pgtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reapLeftovers stops the PostgreSQL of earlier test binaries that died
// without stopping it (a panicking test or a -timeout ends a test binary
// without its deferred calls) and removes their directories. A directory is
// stale when nobody holds its data directory's lock (see embeddb): the
// kernel released it when its test binary died.
func reapLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tasker-pgtest-*"))
	for _, dir := range dirs {
		lock, err := os.OpenFile(filepath.Join(dir, "data", "tasker.lock"), os.O_RDWR, 0)
		if err != nil {
			continue // starting, or not one of ours: leave it alone
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close() // its test binary is alive
			continue
		}
		if pid := postmasterPID(filepath.Join(dir, "data", "pg", "postmaster.pid")); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGINT) // PostgreSQL's fast shutdown
			for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
				time.Sleep(50 * time.Millisecond)
			}
		}
		lock.Close()
		_ = os.RemoveAll(dir)
	}
}

func postmasterPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}
