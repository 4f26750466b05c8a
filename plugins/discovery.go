package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tasker-systems/tasker/pluginsdk/wire"
)

// candidate is a plugin executable found in the plugins directory.
type candidate struct {
	path    string // absolute
	file    string
	name    string
	version string
}

// discover lists the plugin executables in dir, in file name order. Files
// that are not plugins are logged (one Info line each, saying why) and
// skipped, except checksum sidecars (<file>.sha256), which are skipped
// silently. A missing dir is logged and yields nothing; only a dir that
// exists but cannot be read is an error.
func discover(logger *slog.Logger, dir string) ([]candidate, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("plugins: resolving plugins directory %s: %w", dir, err)
	}
	entries, err := os.ReadDir(abs)
	if errors.Is(err, fs.ErrNotExist) {
		logger.Info("plugins directory does not exist; no plugins loaded", slog.String("dir", dir))
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugins: reading plugins directory: %w", err)
	}
	var out []candidate
	for _, e := range entries {
		file := e.Name()
		if isSidecar(file) {
			continue // a checksum, read when its executable is launched
		}
		ignore := func(why string) {
			logger.Info(fmt.Sprintf("ignoring %s: %s", file, why), slog.String("dir", dir))
		}
		name, version, ok := wire.ParseFileName(file)
		if !ok {
			ignore("not named " + wire.FilePrefix + "<name>_v<semver>")
			continue
		}
		path := filepath.Join(abs, file)
		fi, err := os.Stat(path) // follows symlinks
		switch {
		case err != nil:
			ignore(fmt.Sprintf("cannot stat it: %v", err))
			continue
		case !fi.Mode().IsRegular():
			ignore("not a regular file")
			continue
		case !executable(fi):
			ignore("not executable (its mode is " + fi.Mode().Perm().String() + ")")
			continue
		}
		out = append(out, candidate{path: path, file: file, name: name, version: version})
	}
	return out, nil
}

// executable reports whether the file may be run. Windows has no execute
// bit; there a file that passed the name check is taken as executable.
func executable(fi fs.FileInfo) bool {
	if runtime.GOOS == "windows" {
		return true
	}
	return fi.Mode().Perm()&0o111 != 0
}
