package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newEventsCmd builds `herald events` and its subcommands.
func newEventsCmd(c *cli) *cobra.Command {
	return newGroupCmd("events", "List and inspect events",
		newEventsListCmd(c),
		newEventsGetCmd(c),
		newEventsCancelCmd(c),
	)
}

// newEventsListCmd builds `herald events list`.
func newEventsListCmd(c *cli) *cobra.Command {
	var p herald.ListEventsParams
	var search searchFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List events, newest first",
		Example: "  herald events list --key user:created --limit 10\n  herald events list --metadata user_id=u_1 --workflow welcome-user\n  herald events list --status scheduled",
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
			page, err := cl.ListEvents(cmd.Context(), p)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(page.Items, page.NextCursor))
			}
			if p.Status != "" && p.Status != herald.EventDelivered {
				return c.printDelayedEvents(page)
			}
			t := newTable(c.stdout, "ID", "KEY", "SOURCE", "RUNS", "SKIPPED", "CREATED")
			for _, e := range page.Items {
				runs, skipped := countTriggers(e)
				t.row(e.ID, e.Key, e.Source, runs, skipped, fmtTime(e.CreatedAt))
			}
			if err := t.flush(); err != nil {
				return err
			}
			printNextCursor(c.stdout, page.NextCursor)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Key, "key", "", "only events with exactly this key")
	f.StringVar(&p.KeyPrefix, "key-prefix", "", "only events whose key starts with this")
	f.StringVar(&p.Status, "status", "", "delivered (default), or scheduled, cancelled or failed (delayed events)")
	f.StringVar(&p.Workflow, "workflow", "", "only events that started a run of this workflow")
	search.add(cmd, "events")
	f.IntVar(&p.Limit, "limit", 0, "page size, 1-500 (default 50)")
	f.StringVar(&p.Cursor, "cursor", "", "page cursor from a previous listing")
	return cmd
}

// countTriggers counts an event's started runs and skipped triggers.
func countTriggers(e herald.EventInfo) (runs, skipped int) {
	for _, tr := range e.Triggers {
		if tr.Skipped != "" {
			skipped++
		} else {
			runs++
		}
	}
	return runs, skipped
}

// newEventsGetCmd builds `herald events get`.
func newEventsGetCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show an event, its triggers and the runs it started",
		Example: "  herald events get 0193a2b4-...",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ev, err := cl.GetEvent(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(ev)
			}
			return c.printEvent(ev)
		},
	}
}

// printEvent shows an event's fields, its trigger decisions and its runs.
func (c *cli) printEvent(ev *herald.EventInfo) error {
	kv := newTable(c.stdout)
	kv.row("event:", ev.ID)
	kv.row("key:", ev.Key)
	kv.row("source:", ev.Source)
	kv.row("created:", fmtTime(ev.CreatedAt))
	if ev.Status != "" && ev.Status != herald.EventDelivered {
		kv.row("status:", ev.Status)
		kv.row("due:", fmtTimePtr(ev.DeliverAt))
		if ev.DeliveryError != "" {
			kv.row("error:", ev.DeliveryError)
		}
	}
	if ev.ParentRunID != "" {
		kv.row("parent run:", ev.ParentRunID)
		kv.row("parent step:", fmt.Sprintf("%s (%s)", ev.ParentStep, ev.ParentStepRunID))
	}
	if ev.Webhook != "" {
		kv.row("webhook:", ev.Webhook)
	}
	if ev.DedupeID != "" {
		kv.row("delivery id:", ev.DedupeID)
	}
	if ev.Scope != "" {
		kv.row("scope:", ev.Scope)
	}
	kv.row("payload:", compactJSON(ev.Payload))
	if len(ev.AdditionalMetadata) > 0 {
		kv.row("metadata:", compactJSON(ev.AdditionalMetadata))
	}
	if err := kv.flush(); err != nil {
		return err
	}
	if len(ev.Triggers) > 0 {
		fmt.Fprintln(c.stdout)
		t := newTable(c.stdout, "WORKFLOW", "VERSION", "RUN")
		for _, tr := range ev.Triggers {
			t.row(tr.Workflow, tr.Version, decisionText(tr))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if len(ev.Runs) > 0 {
		now := time.Now()
		fmt.Fprintln(c.stdout)
		t := newTable(c.stdout, "RUN", "WORKFLOW", "VERSION", "STATUS", "DURATION")
		for _, r := range ev.Runs {
			t.row(r.ID, r.Workflow, r.Version, r.Status, fmtSpan(r.StartedAt, r.FinishedAt, now))
		}
		return t.flush()
	}
	return nil
}
