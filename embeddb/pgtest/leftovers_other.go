//go:build !unix

package pgtest

// reapLeftovers has nothing to do where the embedded PostgreSQL does not run.
func reapLeftovers() {}
