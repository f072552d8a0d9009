package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newPushCmd builds `herald push`.
func newPushCmd(c *cli) *cobra.Command {
	var (
		metadata []string
		bulk     string
		idemKey  string
		dryRun   bool
		sched    scheduleFlags
	)
	cmd := &cobra.Command{
		Use:   "push KEY [JSON | @file | -]",
		Short: "Push an event and show the runs it triggered",
		Long: `Push an event with KEY and a JSON object payload, given inline, read from
@file, or read from standard input with "-" (default {}).

The reply lists the runs the event started and the matching workflows that
were skipped (for example because they are disabled).

With --bulk FILE, push many events in one request instead: FILE (or "-" for
standard input) holds a JSON array of events or one event per line (NDJSON),
each {"key": ..., "payload": {...}, "additional_metadata": {...},
"idempotency_key": ..., "delay": "90s" or "deliver_at": ...}. A bulk
request is all or nothing; files of more than 1000 events are sent in
batches of 1000.`,
		Example: `  herald push user:created '{"user_id": "u_1"}' --metadata source=signup
  herald push order:paid @order.json --idempotency-key order-42-paid
  herald push reminder:due '{"user_id": "u_1"}' --delay 24h
  echo '{"n": 1}' | herald push tick -
  herald push --bulk events.ndjson`,
		Args: func(cmd *cobra.Command, args []string) error {
			if bulk != "" {
				if len(args) > 0 {
					return usagef("%s--bulk takes no KEY or payload argument", subject(cmd))
				}
				if len(metadata) > 0 {
					return usagef("%s--metadata cannot be used with --bulk; put additional_metadata in each event", subject(cmd))
				}
				if idemKey != "" {
					return usagef("%s--idempotency-key cannot be used with --bulk; put idempotency_key in each event", subject(cmd))
				}
				if dryRun {
					return usagef("%s--dry-run cannot be used with --bulk", subject(cmd))
				}
				if cmd.Flags().Changed("scope") {
					return usagef("%s--scope cannot be used with --bulk; put scope in each event", subject(cmd))
				}
				if sched.set() {
					return usagef("%s--delay and --deliver-at cannot be used with --bulk; put delay or deliver_at in each event", subject(cmd))
				}
				return nil
			}
			if dryRun && sched.set() {
				return usagef("%s--dry-run cannot be used with --delay or --deliver-at", subject(cmd))
			}
			return argsBetween(1, 2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if bulk != "" {
				return c.pushBulk(cmd, bulk)
			}
			if dryRun {
				return c.pushDryRun(cmd, args, metadata, idemKey)
			}
			return c.pushOne(cmd, args, metadata, idemKey, sched)
		},
	}
	cmd.Flags().StringArrayVar(&metadata, "metadata", nil, "additional metadata KEY=VALUE (string) or KEY:=JSON (number, boolean); repeatable")
	cmd.Flags().StringVar(&idemKey, "idempotency-key", "", "push at most once per key: a repeat within the engine's idempotency window returns the original event and its runs")
	cmd.Flags().String("scope", "", "the event's scope: only the workflow filters of this scope see it (docs/triggers.md)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "store nothing; show for every workflow whether the event would trigger it, and if not why")
	cmd.Flags().StringVar(&bulk, "bulk", "", `push the events in FILE ("-" for standard input): a JSON array or NDJSON`)
	cmd.Flags().DurationVar(&sched.delay, "delay", 0, `deliver the event this long from now ("90s", "24h"): it is stored at once and triggers when due`)
	cmd.Flags().StringVar(&sched.deliverAt, "deliver-at", "", "deliver the event at this RFC 3339 time: it is stored at once and triggers when due")
	return cmd
}

// eventArgs builds the event of `herald push KEY [payload]` and a client, checking the
// local input before any request.
func (c *cli) eventArgs(args []string, metadata []string, idemKey string) (herald.Event, *herald.Client, error) {
	payload, err := parseObjectArg(args[1:], "payload", c.stdin)
	if err != nil {
		return herald.Event{}, nil, err
	}
	md, err := parseMetadata(metadata)
	if err != nil {
		return herald.Event{}, nil, err
	}
	cl, err := c.client()
	if err != nil {
		return herald.Event{}, nil, err
	}
	return herald.Event{Key: args[0], Payload: payload, AdditionalMetadata: md, IdempotencyKey: idemKey}, cl, nil
}

// pushOne pushes a single event, delayed when sf is set. A delayed event that is not
// delivered yet is shown with its due time; one already due, as any push.
func (c *cli) pushOne(cmd *cobra.Command, args []string, metadata []string, idemKey string, sf scheduleFlags) error {
	ev, cl, err := c.eventArgs(args, metadata, idemKey)
	if err != nil {
		return err
	}
	ev.Scope = scopeFlag(cmd)
	if err := sf.apply(&ev); err != nil {
		return err
	}
	res, err := cl.Push(cmd.Context(), ev)
	if err != nil {
		return err
	}
	if c.jsonOutput() {
		return c.printJSON(res)
	}
	if res.Event.Status != herald.EventDelivered && res.Event.DeliverAt != nil {
		fmt.Fprintf(c.stdout, "event %s (%s) %s, due %s\n", res.Event.ID, res.Event.Key, res.Event.Status, fmtTime(*res.Event.DeliverAt))
		if res.Duplicate {
			fmt.Fprintln(c.stdout, "duplicate: the idempotency key was already used; nothing new was stored")
		}
		return nil
	}
	fmt.Fprintf(c.stdout, "event %s (%s)\n", res.Event.ID, res.Event.Key)
	if res.Duplicate {
		fmt.Fprintln(c.stdout, "duplicate: the idempotency key was already used; nothing new was stored or triggered")
	}
	if len(res.Event.Triggers) == 0 && len(res.Runs) == 0 {
		fmt.Fprintln(c.stdout, "no workflow is triggered by this key")
		return nil
	}
	t := newTable(c.stdout, "WORKFLOW", "VERSION", "RUN")
	writeTriggerRows(t, res, nil)
	return t.flush()
}

// pushDryRun explains what an event would trigger, storing nothing.
func (c *cli) pushDryRun(cmd *cobra.Command, args []string, metadata []string, idemKey string) error {
	ev, cl, err := c.eventArgs(args, metadata, idemKey)
	if err != nil {
		return err
	}
	ev.Scope = scopeFlag(cmd)
	res, err := cl.DryRun(cmd.Context(), ev)
	if err != nil {
		return err
	}
	if c.jsonOutput() {
		return c.printJSON(res)
	}
	fmt.Fprintf(c.stdout, "dry run of %s: nothing was stored\n", res.Key)
	if res.DuplicateOf != "" {
		fmt.Fprintf(c.stdout, "duplicate: the idempotency key is held by event %s; a push would trigger nothing\n", res.DuplicateOf)
	}
	t := newTable(c.stdout, "WORKFLOW", "VERSION", "TRIGGER", "WHY")
	for _, w := range res.Workflows {
		trig, why := "no", w.Reason
		if w.Trigger {
			trig, why = "yes", "matches "+strings.Join(w.MatchedTriggers, ", ")
			if w.FilterID != "" {
				why += " via filter " + w.FilterID
			}
		}
		if w.Message != "" {
			why += ": " + w.Message
		}
		t.row(w.Workflow, w.Version, trig, why)
	}
	return t.flush()
}

// writeTriggerRows writes one row per trigger decision of a push result (a
// started run or a skipped workflow); prefix cells come first in each row.
func writeTriggerRows(t *table, res *herald.PushResult, prefix []any) {
	if len(res.Event.Triggers) == 0 {
		// Older engines may list only the runs.
		for _, r := range res.Runs {
			t.row(append(append([]any(nil), prefix...), r.Workflow, r.Version, r.RunID)...)
		}
		return
	}
	for _, tr := range res.Event.Triggers {
		t.row(append(append([]any(nil), prefix...), tr.Workflow, tr.Version, decisionText(tr))...)
	}
}

// pushBulk pushes the events of a file in batches of at most maxBulkBatch.
func (c *cli) pushBulk(cmd *cobra.Command, file string) error {
	src := file
	if src != "-" {
		src = "@" + file
	}
	data, label, err := readSource(src, "--bulk", c.stdin)
	if err != nil {
		return err
	}
	events, err := parseBulk(data, label)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	results := make([]herald.PushResult, 0, len(events))
	for start := 0; start < len(events); start += maxBulkBatch {
		end := min(start+maxBulkBatch, len(events))
		batch, err := cl.BulkPush(cmd.Context(), events[start:end])
		if err != nil {
			if start > 0 {
				return fmt.Errorf("events %d–%d: %w (events 0–%d were stored)", start, end-1, err, start-1)
			}
			return err
		}
		results = append(results, batch...)
	}
	if c.jsonOutput() {
		return c.printJSON(pageJSON(results, ""))
	}
	t := newTable(c.stdout, "EVENT", "KEY", "WORKFLOW", "VERSION", "RUN")
	runs := 0
	for i := range results {
		res := &results[i]
		runs += len(res.Runs)
		if len(res.Event.Triggers) == 0 && len(res.Runs) == 0 {
			t.row(res.Event.ID, res.Event.Key, "", "", "")
			continue
		}
		writeTriggerRows(t, res, []any{res.Event.ID, res.Event.Key})
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "pushed %d event%s, started %d run%s\n", len(results), plural(len(results)), runs, plural(runs))
	return nil
}
