package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// Polling intervals of `herald run --wait`: it starts fast so short runs are
// reported promptly and backs off for long ones.
const (
	waitFirstPoll = 50 * time.Millisecond
	waitMaxPoll   = time.Second
)

// errWaitTimeout is the cause of the --wait deadline.
var errWaitTimeout = errors.New("wait timed out")

// newRunCmd builds `herald run`.
func newRunCmd(c *cli) *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run WORKFLOW [JSON | @file | -]",
		Short: "Start a run of a workflow by hand",
		Long: `Start a run of WORKFLOW without an event (a manual or debug run). The input is
a JSON object given inline, read from @file, or read from standard input
with "-" (default {}). Disabled workflows can be run this way too.

With --wait, follow the run until it ends, then print its status and the
output of each step; the exit status is 1 if the run failed or was cancelled.`,
		Example: `  herald run welcome-user '{"user_id": "u_1"}'
  herald run nightly-report --wait --timeout 10m`,
		Args: argsBetween(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return usagef("%s--timeout must not be negative", subject(cmd))
			}
			input, err := parseObjectArg(args[1:], "input", c.stdin)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ref, err := cl.RunWorkflow(cmd.Context(), args[0], input)
			if err != nil {
				return err
			}
			if !wait {
				if c.jsonOutput() {
					return c.printJSON(ref)
				}
				fmt.Fprintf(c.stdout, "run %s (%s v%d)\n", ref.RunID, ref.Workflow, ref.Version)
				return nil
			}
			if !c.jsonOutput() {
				fmt.Fprintf(c.stdout, "run %s (%s v%d) started, waiting…\n", ref.RunID, ref.Workflow, ref.Version)
			}
			run, err := waitForRun(cmd.Context(), cl, ref.RunID, timeout)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				if err := c.printJSON(run); err != nil {
					return err
				}
			} else if err := c.printRun(run, true); err != nil {
				return err
			}
			return runOutcome(run)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the run to end and print its result")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait, how long to wait before giving up (0: forever)")
	return cmd
}

// runOutcome turns a finished run into the command's error: nil when it
// succeeded.
func runOutcome(run *herald.Run) error {
	switch run.Status {
	case herald.StatusSucceeded:
		return nil
	case herald.StatusFailed:
		if run.Error != "" {
			return fmt.Errorf("run %s failed: %s", run.ID, run.Error)
		}
		return fmt.Errorf("run %s failed", run.ID)
	default:
		return fmt.Errorf("run %s ended %s", run.ID, run.Status)
	}
}

// waitForRun polls the run until it ends, the timeout passes (0: never) or
// ctx is done.
func waitForRun(ctx context.Context, cl *herald.Client, id string, timeout time.Duration) (*herald.Run, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	timedOut := func(last *herald.Run) error {
		status := "unknown"
		if last != nil {
			status = last.Status
		}
		return fmt.Errorf("run %s has not ended after %s (status: %s); see 'herald runs get %s'", id, timeout, status, id)
	}
	delay := waitFirstPoll
	var last *herald.Run
	for {
		run, err := cl.GetRun(ctx, id)
		if err != nil {
			if errors.Is(context.Cause(ctx), errWaitTimeout) {
				return nil, timedOut(last)
			}
			return nil, err
		}
		if run.Done() {
			return run, nil
		}
		last = run
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			if errors.Is(context.Cause(ctx), errWaitTimeout) {
				return nil, timedOut(last)
			}
			return nil, ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, waitMaxPoll)
	}
}
