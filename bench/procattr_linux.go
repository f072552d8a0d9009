package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes cmd's process receive SIGKILL when this process dies, so that a
// chaos run interrupted hard leaves no engine or worker behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
