package plugins

import (
	"os/exec"
	"syscall"
)

// configureCmd makes the kernel kill the plugin when tasker dies, even by
// SIGKILL, so no plugin process outlives its host. (pluginsdk.Serve also
// exits when its parent goes away, for hosts on other systems.)
func configureCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
