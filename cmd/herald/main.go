// Command herald is the command-line interface of the Herald workflow engine.
//
// Every client command (push, run, events, runs, workflows, tokens, tenants)
// talks to a local or remote engine through the Go SDK's herald.Client; see
// docs/cli.md. The server commands (serve, migrate) are added by serve.go.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes the herald command line args and returns the process exit
// status: 0 on success, 1 on an error, 2 on a usage error. Errors are written
// to stderr as one line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	// Server commands live in their own files; add them here.
	root := newRootCmd(c, newServeCmd(c), newMigrateCmd(c))
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	return reportError(stderr, err)
}
