//go:build !(linux && amd64) && !(linux && arm64) && !(darwin && amd64) && !(darwin && arm64)

package embeddb

import "embed"

// No PostgreSQL bundle exists for this platform: tasker runs here only with
// --database-url, and loadBundle says so.
var bundleFS embed.FS

const bundleSupported = false
