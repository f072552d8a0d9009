package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// scheduleFlags are `herald push`'s --delay and --deliver-at.
type scheduleFlags struct {
	delay     time.Duration
	deliverAt string
}

// set reports whether either flag was given.
func (f scheduleFlags) set() bool { return f.delay != 0 || f.deliverAt != "" }

// apply puts the flags on ev, checking them before any request.
func (f scheduleFlags) apply(ev *herald.Event) error {
	if f.delay != 0 && f.deliverAt != "" {
		return usagef("push: set either --delay or --deliver-at, not both")
	}
	ev.Delay = f.delay
	if f.deliverAt != "" {
		t, err := time.Parse(time.RFC3339Nano, f.deliverAt)
		if err != nil {
			return fmt.Errorf("--deliver-at: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", f.deliverAt)
		}
		ev.DeliverAt = t
	}
	return nil
}

// searchFlags are the search filters of `herald events list` and `herald runs list`.
type searchFlags struct {
	metadata     []string
	since, until string
}

// add registers the flags.
func (s *searchFlags) add(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringArrayVar(&s.metadata, "metadata", nil, "only "+what+" whose event's additional metadata has NAME=VALUE (a number or boolean by its JSON text); repeatable")
	f.StringVar(&s.since, "since", "", "only "+what+" created at or after this RFC 3339 time")
	f.StringVar(&s.until, "until", "", "only "+what+" created before this RFC 3339 time")
}

// parse checks the flags before any request.
func (s *searchFlags) parse() (md map[string]string, since, until time.Time, err error) {
	for _, pair := range s.metadata {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, since, until, fmt.Errorf("--metadata %q: want NAME=VALUE", pair)
		}
		if md == nil {
			md = map[string]string{}
		}
		md[k] = v
	}
	for _, tf := range []struct {
		flag, val string
		dst       *time.Time
	}{{"--since", s.since, &since}, {"--until", s.until, &until}} {
		if tf.val == "" {
			continue
		}
		t, perr := time.Parse(time.RFC3339Nano, tf.val)
		if perr != nil {
			return nil, since, until, fmt.Errorf("%s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", tf.flag, tf.val)
		}
		*tf.dst = t
	}
	return md, since, until, nil
}

// printDelayedEvents prints a listing of delayed events (status scheduled, cancelled or
// failed).
func (c *cli) printDelayedEvents(page *herald.EventPage) error {
	t := newTable(c.stdout, "ID", "KEY", "STATUS", "DUE", "CREATED", "ERROR")
	for _, e := range page.Items {
		t.row(e.ID, e.Key, e.Status, fmtTimePtr(e.DeliverAt), fmtTime(e.CreatedAt), e.DeliveryError)
	}
	if err := t.flush(); err != nil {
		return err
	}
	printNextCursor(c.stdout, page.NextCursor)
	return nil
}

// newEventsCancelCmd builds `herald events cancel`.
func newEventsCancelCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel ID",
		Short:   "Cancel a delayed event before it is delivered",
		Example: "  herald events cancel 0193a2b4-...",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ev, err := cl.CancelEvent(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(ev)
			}
			fmt.Fprintf(c.stdout, "event %s (%s): %s\n", ev.ID, ev.Key, ev.Status)
			return nil
		},
	}
}

// bulkSchedule reads a bulk event's idempotency_key, delay and deliver_at.
func bulkSchedule(fields map[string]json.RawMessage, ev *herald.Event) error {
	str := func(name string) (string, error) {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s: want a string", name)
		}
		return s, nil
	}
	var err error
	if ev.IdempotencyKey, err = str("idempotency_key"); err != nil {
		return err
	}
	delay, err := str("delay")
	if err != nil {
		return err
	}
	at, err := str("deliver_at")
	if err != nil {
		return err
	}
	sf := scheduleFlags{deliverAt: at}
	if delay != "" {
		if sf.delay, err = time.ParseDuration(delay); err != nil {
			return fmt.Errorf("delay: %q is not a duration such as \"90s\" or \"24h\"", delay)
		}
	}
	if sf.delay != 0 && sf.deliverAt != "" {
		return fmt.Errorf("set either delay or deliver_at, not both")
	}
	if err := sf.apply(ev); err != nil {
		return fmt.Errorf("deliver_at: %q is not an RFC 3339 time", at)
	}
	return nil
}
