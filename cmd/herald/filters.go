package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newFiltersCmd builds `herald filters` and its subcommands.
func newFiltersCmd(c *cli) *cobra.Command {
	return newGroupCmd("filters", "Attach, list and remove runtime filters (scope, expression, payload) of workflows",
		newFiltersCreateCmd(c),
		newFiltersListCmd(c),
		newFiltersDeleteCmd(c),
	)
}

// newFiltersCreateCmd builds `herald filters create`.
func newFiltersCreateCmd(c *cli) *cobra.Command {
	var scope, expr, payload string
	cmd := &cobra.Command{
		Use:   "create WORKFLOW --scope SCOPE [--expression CEL] [--payload JSON]",
		Short: "Attach a runtime filter to a workflow",
		Long: `Attach a runtime filter to WORKFLOW. Once a workflow has filters, an event
matching its triggers starts a run only when it was pushed with the scope of
one of them (herald push --scope) and that filter's expression, if any, is
true; the run's input is then the payload with the filter's payload merged
over it. An event without a scope passes no filter. See docs/triggers.md.`,
		Example: `  herald filters create invoice --scope acme
  herald filters create invoice --scope acme --expression 'input.total > 100' --payload '{"tier": "gold"}'`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := herald.FilterSpec{Scope: scope, Expression: expr}
			if payload != "" {
				data, label, err := readSource(payload, "--payload", c.stdin)
				if err != nil {
					return err
				}
				obj, err := decodeObject(data, label)
				if err != nil {
					return err
				}
				spec.Payload = obj
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			f, err := cl.CreateFilter(cmd.Context(), args[0], spec)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(f)
			}
			fmt.Fprintf(c.stdout, "filter %s created on %s (scope %s)\n", f.ID, f.Workflow, f.Scope)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&scope, "scope", "", "the event scope the filter applies to (required)")
	f.StringVar(&expr, "expression", "", "CEL condition over input, additional_metadata, key and scope (optional)")
	f.StringVar(&payload, "payload", "", `JSON object merged over the payload into the run's input; inline, @file or "-"`)
	_ = cmd.MarkFlagRequired("scope")
	return cmd
}

// newFiltersListCmd builds `herald filters list`.
func newFiltersListCmd(c *cli) *cobra.Command {
	var p herald.ListFiltersParams
	cmd := &cobra.Command{
		Use:     "list WORKFLOW",
		Short:   "List a workflow's runtime filters, newest first",
		Example: "  herald filters list invoice --scope acme",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			page, err := cl.ListFilters(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(page.Items, page.NextCursor))
			}
			t := newTable(c.stdout, "ID", "SCOPE", "EXPRESSION", "PAYLOAD", "CREATED")
			for _, f := range page.Items {
				t.row(f.ID, f.Scope, f.Expression, compactJSON(json.RawMessage(f.Payload)), fmtTime(f.CreatedAt))
			}
			if err := t.flush(); err != nil {
				return err
			}
			printNextCursor(c.stdout, page.NextCursor)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Scope, "scope", "", "list only the filters of this scope")
	f.IntVar(&p.Limit, "limit", 0, "page size, 1-500 (default 50)")
	f.StringVar(&p.Cursor, "cursor", "", "page cursor from a previous listing")
	return cmd
}

// newFiltersDeleteCmd builds `herald filters delete`.
func newFiltersDeleteCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "delete WORKFLOW ID",
		Short:   "Remove a runtime filter from a workflow",
		Example: "  herald filters delete invoice 0193...",
		Args:    argsBetween(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.DeleteFilter(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(map[string]any{"deleted": args[1]})
			}
			fmt.Fprintf(c.stdout, "filter %s deleted from %s\n", args[1], args[0])
			return nil
		},
	}
}

// decisionText shows what an event did to a workflow: the run id, or why it was
// skipped, with the expression error and the filter that let it through.
func decisionText(tr herald.TriggerDecision) string {
	s := tr.RunID
	if tr.Skipped != "" {
		s = "skipped (" + tr.Skipped + ")"
	}
	if tr.FilterID != "" {
		s += " via filter " + tr.FilterID
	}
	if tr.Error != "" {
		s += ": " + tr.Error
	}
	return s
}

// scopeFlag is the --scope of `herald push` ("" when not given).
func scopeFlag(cmd *cobra.Command) string {
	s, _ := cmd.Flags().GetString("scope")
	return s
}

// triggerList shows a workflow's triggers: plain keys, then "key if expression".
func triggerList(wf herald.WorkflowInfo) []string {
	out := append([]string(nil), wf.Triggers...)
	for _, t := range wf.ConditionalTriggers {
		out = append(out, t.Key+" if "+t.Expression)
	}
	return out
}
