package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newTokensCmd builds `herald tokens` and its subcommands.
func newTokensCmd(c *cli) *cobra.Command {
	return newGroupCmd("tokens", "Create, list and revoke API tokens",
		newTokensCreateCmd(c),
		newTokensListCmd(c),
		newTokensRevokeCmd(c),
	)
}

// secretNote reminds the user that a token secret is shown only once.
const secretNote = "note: store this secret now; it cannot be shown again"

// newTokensCreateCmd builds `herald tokens create`.
func newTokensCreateCmd(c *cli) *cobra.Command {
	var p herald.CreateTokenParams
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token and print its secret once",
		Long: `Create an API token for the caller's tenant, or with --tenant for another
tenant (needs an admin token). The secret is printed once; Herald keeps only
its hash.`,
		Example: `  herald tokens create ci
  herald tokens create acme-admin --tenant acme --admin`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Name = args[0]
			cl, err := c.client()
			if err != nil {
				return err
			}
			tok, secret, err := cl.CreateToken(cmd.Context(), p)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				fmt.Fprintln(c.stderr, secretNote)
				return c.printJSON(struct {
					Token  *herald.TokenInfo `json:"token"`
					Secret string            `json:"secret"`
				}{tok, secret})
			}
			kv := newTable(c.stdout)
			kv.row("token:", tok.ID)
			kv.row("name:", tok.Name)
			kv.row("tenant:", tok.Tenant)
			kv.row("admin:", yesNo(tok.Admin))
			kv.row("secret:", secret)
			if err := kv.flush(); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, secretNote)
			return nil
		},
	}
	cmd.Flags().StringVar(&p.Tenant, "tenant", "", "tenant of the new token (needs an admin token)")
	cmd.Flags().BoolVar(&p.Admin, "admin", false, "make it an admin token (needs an admin token)")
	return cmd
}

// newTokensListCmd builds `herald tokens list`.
func newTokensListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the tenant's API tokens (never their secrets)",
		Example: "  herald tokens list",
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			toks, err := cl.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(toks, ""))
			}
			t := newTable(c.stdout, "ID", "NAME", "TENANT", "ADMIN", "CREATED")
			for _, tok := range toks {
				t.row(tok.ID, tok.Name, tok.Tenant, yesNo(tok.Admin), fmtTime(tok.CreatedAt))
			}
			return t.flush()
		},
	}
}

// newTokensRevokeCmd builds `herald tokens revoke`.
func newTokensRevokeCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API token",
		Example: "  herald tokens revoke 0193a2b4-...",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(map[string]any{"revoked": args[0]})
			}
			fmt.Fprintf(c.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
}
