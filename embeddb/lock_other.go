//go:build !unix

package embeddb

import "os"

// lockDataDir is not implemented where flock is missing; tasker's embedded
// PostgreSQL targets Unix systems.
func lockDataDir(string) (*os.File, error) { return nil, nil }
