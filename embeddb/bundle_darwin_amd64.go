package embeddb

import "embed"

// The "all:" prefix keeps the committed .gitignore in the pattern, so the
// package compiles on a fresh clone that has no bundle yet (see bundle.go).
//
//go:embed all:bundle/darwin-amd64
var bundleFS embed.FS

const bundleSupported = true
