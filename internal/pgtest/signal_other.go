//go:build !unix

package pgtest

import "errors"

var errNoSignals = errors.New("suspending a process needs a unix system")

func signalStop(int) error { return errNoSignals }

func signalCont(int) error { return errNoSignals }
