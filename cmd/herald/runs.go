package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newRunsCmd builds `herald runs` and its subcommands.
func newRunsCmd(c *cli) *cobra.Command {
	return newGroupCmd("runs", "List, inspect and cancel runs",
		newRunsListCmd(c),
		newRunsGetCmd(c),
		newRunsCancelCmd(c),
	)
}

// newRunsListCmd builds `herald runs list`.
func newRunsListCmd(c *cli) *cobra.Command {
	var p herald.ListRunsParams
	var search searchFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List runs, newest first",
		Example: "  herald runs list --workflow welcome-user --status failed --limit 20",
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if p.Metadata, p.Since, p.Until, err = search.parse(); err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			page, err := cl.ListRuns(cmd.Context(), p)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(page.Items, page.NextCursor))
			}
			now := time.Now()
			t := newTable(c.stdout, "ID", "WORKFLOW", "VERSION", "STATUS", "EVENT", "CREATED", "DURATION")
			for _, r := range page.Items {
				t.row(r.ID, r.Workflow, r.Version, r.Status, r.EventID, fmtTime(r.CreatedAt), fmtSpan(r.StartedAt, r.FinishedAt, now))
			}
			if err := t.flush(); err != nil {
				return err
			}
			printNextCursor(c.stdout, page.NextCursor)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Workflow, "workflow", "", "only runs of this workflow")
	f.StringVar(&p.Status, "status", "", "only runs with this status (queued, running, succeeded, failed, cancelled)")
	f.StringVar(&p.EventID, "event", "", "only runs triggered by this event id")
	f.StringVar(&p.Key, "key", "", "only runs whose event has exactly this key")
	f.StringVar(&p.KeyPrefix, "key-prefix", "", "only runs whose event's key starts with this")
	search.add(cmd, "runs")
	f.IntVar(&p.Limit, "limit", 0, "page size, 1-500 (default 50)")
	f.StringVar(&p.Cursor, "cursor", "", "page cursor from a previous listing")
	return cmd
}

// newRunsGetCmd builds `herald runs get`.
func newRunsGetCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show a run and its steps",
		Example: "  herald runs get 0193a2b4-...",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			run, err := cl.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(run)
			}
			return c.printRun(run, false)
		},
	}
}

// newRunsCancelCmd builds `herald runs cancel`.
func newRunsCancelCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel ID",
		Short:   "Cancel a run that has not ended",
		Example: "  herald runs cancel 0193a2b4-...",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			run, err := cl.CancelRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(run)
			}
			fmt.Fprintf(c.stdout, "run %s (%s v%d): %s\n", run.ID, run.Workflow, run.Version, run.Status)
			return nil
		},
	}
}

// printRun shows a run's fields and a table of its steps; withOutputs adds
// each step's output.
func (c *cli) printRun(run *herald.Run, withOutputs bool) error {
	now := time.Now()
	kv := newTable(c.stdout)
	kv.row("run:", run.ID)
	kv.row("workflow:", fmt.Sprintf("%s v%d", run.Workflow, run.Version))
	kv.row("status:", run.Status)
	if run.Error != "" {
		kv.row("error:", run.Error)
	}
	kv.row("event:", run.EventID)
	kv.row("created:", fmtTime(run.CreatedAt))
	kv.row("started:", fmtTimePtr(run.StartedAt))
	kv.row("finished:", fmtTimePtr(run.FinishedAt))
	kv.row("duration:", fmtSpan(run.StartedAt, run.FinishedAt, now))
	if err := kv.flush(); err != nil {
		return err
	}
	if len(run.Steps) == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout)
	t := newTable(c.stdout, "STEP", "STATUS", "ATTEMPT", "WORKER", "DURATION", "ERROR")
	for _, s := range run.Steps {
		attempt := fmt.Sprintf("%d/%d", s.Attempt, s.MaxAttempts)
		t.row(s.Name, s.Status, attempt, s.WorkerID, fmtSpan(s.StartedAt, s.FinishedAt, now), s.Error)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if !withOutputs {
		return nil
	}
	fmt.Fprintln(c.stdout)
	out := newTable(c.stdout, "STEP", "OUTPUT")
	for _, s := range run.Steps {
		out.row(s.Name, compactJSON(s.Output))
	}
	return out.flush()
}
