//go:build !unix

package main

// dataDirServed cannot tell on this platform, where the embedded PostgreSQL
// does not run anyway.
func dataDirServed(string) (bool, string, error) { return false, "", nil }
