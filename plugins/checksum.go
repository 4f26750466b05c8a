package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// sidecarSuffix ends the name of a plugin executable's checksum sidecar.
const sidecarSuffix = ".sha256"

// maxSidecarBytes bounds the size of a sidecar: one sha256sum line.
const maxSidecarBytes = 4 << 10

// verifyChecksum checks the executable of c against its sidecar
// <path>.sha256 and returns its verified SHA-256 in lower-case hex. Without
// a sidecar it returns "" and no error, unless require is set. Any other
// problem (an unreadable or malformed sidecar, a mismatch) refuses the
// plugin.
func verifyChecksum(c candidate, require bool) (string, error) {
	sidecar := c.file + sidecarSuffix
	want, err := readSidecar(c.path + sidecarSuffix)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if require {
			return "", fmt.Errorf("refused: plugins.require_checksums is on and %s has no %s", c.file, sidecar)
		}
		return "", nil
	case err != nil:
		return "", fmt.Errorf("refused: checksum sidecar %s: %w", sidecar, err)
	}
	got, err := fileSHA256(c.path)
	if err != nil {
		return "", fmt.Errorf("refused: computing the SHA-256 of %s: %w", c.file, err)
	}
	if got != want {
		return "", fmt.Errorf("refused: checksum mismatch: %s has SHA-256 %s, but %s says %s",
			c.file, got, sidecar, want)
	}
	return got, nil
}

// readSidecar returns the lower-case hex checksum a sidecar holds: a bare
// hex SHA-256, or one line of sha256sum output ("<hex>  <file>", "<hex>
// *<file>", or "\<hex>  <escaped file>"). The file name is not checked:
// the hash is what matters.
func readSidecar(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSidecarBytes+1))
	if err != nil {
		return "", err
	}
	malformed := errors.New("it does not hold a SHA-256 checksum (want 64 hex digits, alone or as a sha256sum output line)")
	if len(data) > maxSidecarBytes {
		return "", malformed
	}
	line := strings.TrimSpace(string(data))
	if strings.ContainsAny(line, "\r\n") { // several lines: several files
		return "", malformed
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return "", malformed
	}
	field := strings.ToLower(strings.TrimPrefix(fields[0], `\`))
	if len(field) != hex.EncodedLen(sha256.Size) {
		return "", malformed
	}
	if _, err := hex.DecodeString(field); err != nil {
		return "", malformed
	}
	return field, nil
}

// fileSHA256 streams the file at path through SHA-256 and returns the
// lower-case hex digest.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(hash.Sum(nil)), nil
}

// isSidecar reports whether a directory entry's name is a checksum sidecar,
// which discovery skips without logging.
func isSidecar(file string) bool {
	return len(file) > len(sidecarSuffix) && strings.HasSuffix(file, sidecarSuffix)
}
