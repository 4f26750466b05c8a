//go:build linux

// Linux-specific process handling: dropping root, and finding and stopping
// a postmaster left behind by an earlier run.

package embeddb

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DropRootPrivileges switches the whole process from root to userName because
// PostgreSQL refuses to run as root. It is a no-op (false, nil) when not root.
// An empty userName means "tasker" if that user exists, else "nobody". Each of
// dirs is created if missing and handed to the user, and every ancestor must
// be traversable by it. HOME is set to the first dir so child processes do not
// try to use root's home. The change cannot be undone.
func DropRootPrivileges(logger *slog.Logger, userName string, dirs ...string) (dropped bool, err error) {
	if os.Geteuid() != 0 {
		return false, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, err := lookupUser(userName)
	if err != nil {
		return false, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return false, fmt.Errorf("drop root privileges: user %s has a non-numeric uid %q or gid %q", u.Username, u.Uid, u.Gid)
	}
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				groups = append(groups, uint32(g))
			}
		}
	}
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return false, fmt.Errorf("drop root privileges: %w", err)
		}
		_, statErr := os.Stat(abs)
		// Parents made here must stay traversable for the user; only the
		// directory itself, which the user will own, is kept private.
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return false, fmt.Errorf("drop root privileges: create %s: %w", abs, err)
		}
		if os.IsNotExist(statErr) {
			if err := os.Chmod(abs, 0o750); err != nil {
				return false, fmt.Errorf("drop root privileges: %w", err)
			}
		}
		if err := chownTree(abs, int(uid), int(gid)); err != nil {
			return false, fmt.Errorf("drop root privileges: hand %s to user %s: %w", abs, u.Username, err)
		}
		if err := checkReachable(abs, uint32(uid), uint32(gid), groups); err != nil {
			return false, fmt.Errorf("drop root privileges to user %s: %w", u.Username, err)
		}
	}

	gids := make([]int, 0, len(groups))
	for _, g := range groups {
		gids = append(gids, int(g))
	}
	// Order matters: after Setuid the process may no longer change groups.
	// Since Go 1.16 these apply to every thread of the process.
	if err := syscall.Setgroups(gids); err != nil {
		return false, fmt.Errorf("drop root privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(int(gid)); err != nil {
		return false, fmt.Errorf("drop root privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(int(uid)); err != nil {
		return false, fmt.Errorf("drop root privileges: setuid %d: %w", uid, err)
	}
	if len(dirs) > 0 {
		home, _ := filepath.Abs(dirs[0])
		os.Setenv("HOME", home)
	}
	logger.Info(fmt.Sprintf("running as root: dropped privileges to user %s (uid %d) because PostgreSQL refuses to run as root", u.Username, uid))
	return true, nil
}

func lookupUser(name string) (*user.User, error) {
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("drop root privileges: look up user %s: %w", name, err)
		}
		return u, nil
	}
	if u, err := user.Lookup("tasker"); err == nil {
		return u, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("drop root privileges: neither user tasker nor nobody exists: %w", err)
	}
	return u, nil
}

// chownTree only touches entries not yet owned by uid, so a warm start over
// a large data directory costs a walk, not a write per file.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid {
			return nil
		}
		return os.Lchown(path, uid, gid)
	})
}

// checkReachable reports the first ancestor of path that a process with the
// given uid, gid and supplementary groups could not traverse. It reads owner
// and mode with stat, so it can be checked for any user without becoming it.
func checkReachable(path string, uid, gid uint32, groups []uint32) error {
	if uid == 0 {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	var ancestors []string
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		ancestors = append([]string{p}, ancestors...)
		if p == filepath.Dir(p) {
			break
		}
	}
	for _, dir := range ancestors {
		info, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("check access to %s: %w", dir, err)
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		// Like the kernel: only the first matching class (owner, group,
		// other) counts, even if a later class would allow more.
		var need fs.FileMode = 0o001
		switch {
		case st.Uid == uid:
			need = 0o100
		case st.Gid == gid || containsGid(groups, st.Gid):
			need = 0o010
		}
		if info.Mode().Perm()&need == 0 {
			return fmt.Errorf("user uid %d cannot reach %s: its parent %s (mode %s, owner uid %d, gid %d) is not searchable by that user; "+
				"pick a --data-dir under a path the user can reach, such as /var/lib/tasker, or run tasker as an unprivileged user",
				uid, path, dir, info.Mode().Perm(), st.Uid, st.Gid)
		}
	}
	return nil
}

func containsGid(groups []uint32, g uint32) bool {
	for _, x := range groups {
		if x == g {
			return true
		}
	}
	return false
}

// syncFilesystem flushes the filesystem holding dir (syncfs(2)). It lives
// here because it is the package's other Linux-only system call.
func syncFilesystem(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// stopLeftover stops a postmaster left running by a tasker that died without
// Stop; starting a second one on the same data directory would fail, and
// leaving it would keep the old server (and its port) alive forever.
func stopLeftover(log *slog.Logger, binDir, pgDir string, timeout time.Duration) error {
	pidFile := filepath.Join(pgDir, "postmaster.pid")
	pid, ok := readPid(pidFile)
	if !ok || !processAlive(pid) {
		return nil // a stale file is PostgreSQL's to handle
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) != "postgres" {
		// The pid was reused (typically after a reboot); PostgreSQL would
		// take the live process for a running postmaster and refuse to start.
		log.Info("removing stale postmaster.pid whose pid now belongs to another program", "pid", pid, "program", strings.TrimSpace(string(comm)))
		return os.Remove(pidFile)
	}
	out, err := exec.Command(filepath.Join(binDir, "bin", "pg_ctl"), "stop", "-m", "fast", "-w",
		"-t", strconv.Itoa(int(timeout.Seconds())), "-D", pgDir).CombinedOutput()
	// The pid file goes before the process has fully exited.
	for deadline := time.Now().Add(5 * time.Second); err == nil && processAlive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || processAlive(pid) {
		return fmt.Errorf("embedded PostgreSQL: a server (pid %d) from an earlier run still uses %s and could not be stopped: %v: %s",
			pid, pgDir, err, bytes.TrimSpace(out))
	}
	log.Info("stopped a leftover PostgreSQL server from an earlier run", "pid", pid, "data", pgDir)
	return nil
}

func readPid(pidFile string) (int, bool) {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

// processAlive treats zombies as dead: an exited postmaster is reparented
// to PID 1, which in a container may never reap it.
func processAlive(pid int) bool {
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
