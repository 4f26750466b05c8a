package core

// ValidIdentifier reports whether s may name a task template or namespace:
// lowercase letters, digits, '_', '-' or '.', starting with a letter or a
// digit (the rule Template.Validate applies).
func ValidIdentifier(s string) bool { return identRe.MatchString(s) }

// ValidVersion reports whether s is a semantic version like 1.0.0, as a
// template's version must be.
func ValidVersion(s string) bool { return semverRe.MatchString(s) }
