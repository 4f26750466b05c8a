package wire

import "path"

// MatchEvent reports whether an event called name matches the globs of a
// subscription (path.Match syntax); no globs match every event. The host
// filters with it before delivering; pluginsdk and plugintest use it to
// do the same.
func MatchEvent(globs []string, name string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// ValidEventGlob reports whether g is a usable glob on event names.
func ValidEventGlob(g string) bool {
	if g == "" {
		return false
	}
	_, err := path.Match(g, "")
	return err == nil
}
