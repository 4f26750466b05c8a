package embeddb

import (
	"archive/tar"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/xi2/xz"
)

// bundleFS holds bundle/<goos>-<goarch>/ for the platform being built and
// nothing else: each bundle_<goos>_<goarch>.go embeds its own folder, so a
// release binary carries one PostgreSQL, not all of them. Platforms without a
// bundle get an empty bundleFS (bundle_other.go).

// completeMarker is written last into an extracted tree; a tree without it is
// the remains of an interrupted extraction and is never used.
const completeMarker = ".tasker-extracted"

// bundle describes the PostgreSQL archive embedded for this GOOS/GOARCH.
type bundle struct {
	name    string // postgres-<goos>-<goarch>
	version string // e.g. 18.4.0
	sha256  string // hex, from the .sha256 file next to the archive
}

func bundleName() string { return "postgres-" + platform() }

func platform() string { return runtime.GOOS + "-" + runtime.GOARCH }

// bundlePath is where a file of this platform's bundle sits in bundleFS.
func bundlePath(file string) string { return "bundle/" + platform() + "/" + file }

// BundleInfo reports the PostgreSQL version embedded in this binary; ok is
// false when the binary was built without the bundle (a plain `go build`).
func BundleInfo() (version string, ok bool) {
	b, err := loadBundle()
	if err != nil {
		return "", false
	}
	return b.version, true
}

func loadBundle() (bundle, error) {
	name := bundleName()
	if !bundleSupported {
		return bundle{}, fmt.Errorf("tasker has no embedded PostgreSQL for %s: "+
			"point it at an external PostgreSQL with --database-url (or database_url in tasker.yaml)", platform())
	}
	missing := fmt.Errorf("this tasker binary was built without the PostgreSQL bundle (%s.txz): "+
		"run `make build` to build it with embedded PostgreSQL, or use --database-url", name)
	if _, err := fs.Stat(bundleFS, bundlePath(name+".txz")); err != nil {
		return bundle{}, missing
	}
	version, err1 := bundleFS.ReadFile(bundlePath(name + ".version"))
	sum, err2 := bundleFS.ReadFile(bundlePath(name + ".txz.sha256"))
	if err1 != nil || err2 != nil {
		return bundle{}, missing
	}
	b := bundle{name: name, version: strings.TrimSpace(string(version)), sha256: strings.TrimSpace(string(sum))}
	if len(b.sha256) != 64 || b.version == "" {
		return bundle{}, fmt.Errorf("embedded PostgreSQL bundle %s has a malformed .version or .sha256 file", name)
	}
	return b, nil
}

// major is the PostgreSQL major version, which is what PG_VERSION records.
func (b bundle) major() string { return strings.SplitN(b.version, ".", 2)[0] }

// display shortens 18.4.0 to 18.4 for log lines.
func (b bundle) display() string { return strings.TrimSuffix(b.version, ".0") }

// dirName keys extracted trees by content, so a rebuilt bundle with the same
// version never reuses binaries from another build.
func (b bundle) dirName() string { return b.version + "-" + b.sha256[:12] }

func (b bundle) open() (fs.File, error) {
	f, err := bundleFS.Open(bundlePath(b.name + ".txz"))
	if err != nil {
		return nil, fmt.Errorf("open embedded PostgreSQL bundle: %w", err)
	}
	return f, nil
}

// verify hashes the embedded archive; a mismatch means the build mixed
// outputs of two mkbundle.sh runs.
func (b bundle) verify() error {
	f, err := b.open()
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hash embedded PostgreSQL bundle: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != b.sha256 {
		return fmt.Errorf("embedded PostgreSQL bundle %s.txz is corrupt: its sha256 is %s but %s.txz.sha256 says %s; rebuild with `make build`",
			b.name, got, b.name, b.sha256)
	}
	return nil
}

// ensureExtracted returns the directory holding bin/, lib/ and share/ for this
// bundle, extracting it first when needed. Extraction goes to a temporary
// sibling that is renamed into place only once complete, so a crash never
// leaves a tree that a later start would trust.
func (b bundle) ensureExtracted(pgbinDir string) (dir string, extracted bool, err error) {
	dir = filepath.Join(pgbinDir, b.dirName())
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err == nil {
		return dir, false, nil
	}
	if err := b.verify(); err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(pgbinDir, 0o755); err != nil {
		return "", false, fmt.Errorf("create %s: %w", pgbinDir, err)
	}
	tmp := filepath.Join(pgbinDir, ".tmp-"+b.dirName()+"-"+rand.Text()[:8])
	defer os.RemoveAll(tmp) // no-op after the rename
	if err := b.extractTo(tmp); err != nil {
		return "", false, fmt.Errorf("extract PostgreSQL %s to %s: %w", b.version, tmp, err)
	}
	if err := writeSynced(filepath.Join(tmp, completeMarker), []byte(b.sha256+"\n"), 0o644); err != nil {
		return "", false, err
	}
	// An incomplete tree from an earlier crash would make the rename fail.
	if err := os.RemoveAll(dir); err != nil {
		return "", false, fmt.Errorf("remove incomplete %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", false, fmt.Errorf("move extracted PostgreSQL into place: %w", err)
	}
	return dir, true, nil
}

func (b bundle) extractTo(dst string) error {
	f, err := b.open()
	if err != nil {
		return err
	}
	defer f.Close()
	xr, err := xz.NewReader(f, 0)
	if err != nil {
		return fmt.Errorf("read xz: %w", err)
	}
	tr := tar.NewReader(xr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			// The rename that publishes the tree is only trustworthy once
			// the contents are on disk; one filesystem sync is far cheaper
			// than an fsync per file (about a thousand of them).
			return syncFilesystem(dst)
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("archive entry %q escapes the target directory", h.Name)
		}
		target := filepath.Join(dst, h.Name)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeFileFrom(target, tr, fs.FileMode(h.Mode).Perm(), false); err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q has unsupported type %q", h.Name, h.Typeflag)
		}
	}
}

func writeFileFrom(path string, r io.Reader, mode fs.FileMode, sync bool) error {
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if sync {
		if err := out.Sync(); err != nil {
			out.Close()
			return fmt.Errorf("sync %s: %w", path, err)
		}
	}
	return out.Close()
}

func writeSynced(path string, data []byte, mode fs.FileMode) error {
	return writeFileFrom(path, strings.NewReader(string(data)), mode, true)
}

// removeStaleTrees deletes binaries of other bundle versions and leftovers of
// interrupted extractions; only the current tree is ever used again.
func removeStaleTrees(pgbinDir, keep string) []string {
	entries, err := os.ReadDir(pgbinDir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		p := filepath.Join(pgbinDir, e.Name())
		if os.RemoveAll(p) == nil {
			removed = append(removed, p)
		}
	}
	return removed
}
