package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newTenantsCmd builds `herald tenants` and its subcommands (operators only).
func newTenantsCmd(c *cli) *cobra.Command {
	return newGroupCmd("tenants", "Create and list tenants (needs an operator token)",
		newTenantsCreateCmd(c),
		newTenantsListCmd(c),
	)
}

// newTenantsCreateCmd builds `herald tenants create`.
func newTenantsCreateCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a tenant",
		Example: "  herald tenants create acme",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			tn, err := cl.CreateTenant(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(tn)
			}
			fmt.Fprintf(c.stdout, "tenant %s created (id %s)\n", tn.Name, tn.ID)
			return nil
		},
	}
}

// newTenantsListCmd builds `herald tenants list`.
func newTenantsListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List tenants",
		Example: "  herald tenants list",
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			tns, err := cl.ListTenants(cmd.Context())
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(tns, ""))
			}
			t := newTable(c.stdout, "ID", "NAME", "CREATED")
			for _, tn := range tns {
				t.row(tn.ID, tn.Name, fmtTime(tn.CreatedAt))
			}
			return t.flush()
		},
	}
}
