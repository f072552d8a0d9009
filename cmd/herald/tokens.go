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
	var role string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an API token and print its secret once",
		Long: `Create an API token for the caller's tenant, or with --tenant for another
tenant (needs an operator token). Creating tokens needs a tenant admin or an
operator token, and no token makes one of a role above its own. The secret is
printed once; Herald keeps only its hash.

Roles: member (events, runs, workflows, filters, schemas, webhooks and workers
of its tenant), admin (also the tenant's tokens) and operator (also tenants,
the tokens of every tenant and /metrics).`,
		Example: `  herald tokens create ci
  herald tokens create acme-admin --tenant acme --role admin
  herald tokens create ops --role operator`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Name = args[0]
			p.Role = herald.Role(role)
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
			kv.row("role:", tok.Role)
			kv.row("secret:", secret)
			if err := kv.flush(); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, secretNote)
			return nil
		},
	}
	cmd.Flags().StringVar(&p.Tenant, "tenant", "", "tenant of the new token (another tenant needs an operator token)")
	cmd.Flags().StringVar(&role, "role", "", "role of the new token: member (default), admin or operator")
	cmd.Flags().BoolVar(&p.Admin, "admin", false, "same as --role admin")
	return cmd
}

// newTokensListCmd builds `herald tokens list`.
func newTokensListCmd(c *cli) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's API tokens (never their secrets)",
		Example: `  herald tokens list
  herald tokens list --tenant acme`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			toks, err := cl.ListTenantTokens(cmd.Context(), tenant)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(toks, ""))
			}
			t := newTable(c.stdout, "ID", "NAME", "TENANT", "ROLE", "CREATED", "REVOKED")
			for _, tok := range toks {
				t.row(tok.ID, tok.Name, tok.Tenant, tok.Role, fmtTime(tok.CreatedAt), fmtTimePtr(tok.RevokedAt))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "list another tenant's tokens (needs an operator token)")
	return cmd
}

// newTokensRevokeCmd builds `herald tokens revoke`.
func newTokensRevokeCmd(c *cli) *cobra.Command {
	var tenant string
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Long: `Revoke an API token of the caller's tenant, or with --tenant of another
tenant (needs an operator token). Any token may revoke itself; revoking another
needs a tenant admin token, and an operator token's needs an operator token.`,
		Example: `  herald tokens revoke 0193a2b4-...
  herald tokens revoke 0193a2b4-... --tenant acme`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.RevokeTenantToken(cmd.Context(), tenant, args[0]); err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(map[string]any{"revoked": args[0]})
			}
			fmt.Fprintf(c.stdout, "token %s revoked\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&tenant, "tenant", "", "the token's tenant, when another (needs an operator token)")
	return cmd
}
