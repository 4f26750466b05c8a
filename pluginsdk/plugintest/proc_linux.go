package plugintest

import (
	"os/exec"
	"syscall"
)

// configureCmd makes the kernel kill the plugin when the test process dies,
// as the host does for its plugins.
func configureCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
