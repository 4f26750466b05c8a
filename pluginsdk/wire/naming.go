package wire

import (
	"regexp"
	"runtime"
	"strings"
)

// FilePrefix starts the file name of every plugin executable:
// tasker-handler-<name>_v<version>.
const FilePrefix = "tasker-handler-"

// NamePattern matches a plugin name: lowercase letters, digits, '-' and '_'.
const NamePattern = `[a-z0-9_-]+`

// VersionPattern matches a semantic version without a leading "v":
// MAJOR.MINOR.PATCH with an optional -prerelease and +build (semver.org).
const VersionPattern = `(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)` +
	`(?:-(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*)?` +
	`(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?`

var (
	nameRE    = regexp.MustCompile(`^` + NamePattern + `$`)
	versionRE = regexp.MustCompile(`^` + VersionPattern + `$`)
	fileRE    = regexp.MustCompile(`^` + regexp.QuoteMeta(FilePrefix) + `(` + NamePattern + `)_v(` + VersionPattern + `)$`)
)

// ValidName reports whether name is a valid plugin name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ValidVersion reports whether version is a valid plugin version.
func ValidVersion(version string) bool { return versionRE.MatchString(version) }

// ParseFileName splits a plugin executable's file name,
// tasker-handler-<name>_v<version> (with an optional .exe suffix on
// Windows), into the plugin's name and version. The name is the longest
// prefix that leaves a valid version, so names may themselves contain "_v".
func ParseFileName(file string) (name, version string, ok bool) {
	if runtime.GOOS == "windows" {
		file = strings.TrimSuffix(file, ".exe")
	}
	m := fileRE.FindStringSubmatch(file)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// FileName returns the file name a plugin with this name and version must
// have (without the Windows .exe suffix).
func FileName(name, version string) string {
	return FilePrefix + name + "_v" + version
}
