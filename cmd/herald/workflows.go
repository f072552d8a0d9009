package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newWorkflowsCmd builds `herald workflows` and its subcommands.
func newWorkflowsCmd(c *cli) *cobra.Command {
	return newGroupCmd("workflows", "List, inspect, enable and disable workflows",
		newWorkflowsListCmd(c),
		newWorkflowsGetCmd(c),
		newWorkflowToggleCmd(c, "enable", "Enable a workflow so its triggers start runs again",
			func(ctx context.Context, cl *herald.Client, name string) (*herald.WorkflowInfo, error) {
				return cl.EnableWorkflow(ctx, name)
			}),
		newWorkflowToggleCmd(c, "disable", "Disable a workflow: matching events record it as skipped",
			func(ctx context.Context, cl *herald.Client, name string) (*herald.WorkflowInfo, error) {
				return cl.DisableWorkflow(ctx, name)
			}),
	)
}

// newWorkflowsListCmd builds `herald workflows list`.
func newWorkflowsListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List workflows",
		Example: "  herald workflows list",
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			wfs, err := cl.ListWorkflows(cmd.Context())
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(wfs, ""))
			}
			t := newTable(c.stdout, "NAME", "VERSION", "STATE", "TRIGGERS", "STEPS", "UPDATED")
			for _, wf := range wfs {
				t.row(wf.Name, wf.Version, workflowState(wf.Active), strings.Join(triggerList(wf), ","), len(wf.Steps), fmtTime(wf.UpdatedAt))
			}
			return t.flush()
		},
	}
}

// newWorkflowsGetCmd builds `herald workflows get`.
func newWorkflowsGetCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a workflow's current definition",
		Example: "  herald workflows get welcome-user",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			wf, err := cl.GetWorkflow(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(wf)
			}
			return c.printWorkflow(wf)
		},
	}
}

// newWorkflowToggleCmd builds `herald workflows enable|disable`.
func newWorkflowToggleCmd(c *cli, verb, short string, do func(context.Context, *herald.Client, string) (*herald.WorkflowInfo, error)) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " NAME",
		Short:   short,
		Example: "  herald workflows " + verb + " welcome-user",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			wf, err := do(cmd.Context(), cl, args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(wf)
			}
			fmt.Fprintf(c.stdout, "workflow %s (v%d) is %s\n", wf.Name, wf.Version, workflowState(wf.Active))
			return nil
		},
	}
}

// workflowState renders a workflow's active flag.
func workflowState(active bool) string {
	if active {
		return "enabled"
	}
	return "disabled"
}

// printWorkflow shows a workflow's fields and a table of its steps.
func (c *cli) printWorkflow(wf *herald.WorkflowInfo) error {
	kv := newTable(c.stdout)
	kv.row("workflow:", wf.Name)
	if wf.Description != "" {
		kv.row("description:", wf.Description)
	}
	kv.row("version:", wf.Version)
	kv.row("state:", workflowState(wf.Active))
	kv.row("triggers:", strings.Join(triggerList(*wf), ", "))
	kv.row("created:", fmtTime(wf.CreatedAt))
	kv.row("updated:", fmtTime(wf.UpdatedAt))
	if err := kv.flush(); err != nil {
		return err
	}
	if len(wf.Steps) == 0 {
		return nil
	}
	fmt.Fprintln(c.stdout)
	t := newTable(c.stdout, "STEP", "PARENTS", "TIMEOUT", "MAX ATTEMPTS")
	for _, s := range wf.Steps {
		t.row(s.Name, strings.Join(s.Parents, ","), fmtSetting(s.Timeout), s.Retry.MaxAttempts)
	}
	return t.flush()
}
