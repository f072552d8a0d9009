//go:build unix

package pgtest

import "syscall"

func signalStop(pid int) error { return syscall.Kill(pid, syscall.SIGSTOP) }

func signalCont(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }
