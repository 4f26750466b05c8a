//go:build !linux

package plugintest

import "os/exec"

// configureCmd has nothing to add where the kernel offers no parent-death
// signal; pluginsdk.Serve exits on its own when its parent goes away.
func configureCmd(*exec.Cmd) {}
