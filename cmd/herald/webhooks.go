package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/heraldhq/herald"
)

// newWebhooksCmd builds `herald webhooks` and its subcommands.
func newWebhooksCmd(c *cli) *cobra.Command {
	return newGroupCmd("webhooks", "Create, inspect, update and delete webhooks for third-party senders",
		newWebhooksCreateCmd(c),
		newWebhooksListCmd(c),
		newWebhooksGetCmd(c),
		newWebhooksUpdateCmd(c),
		newWebhooksDeleteCmd(c),
		newWebhooksDeliveriesCmd(c),
	)
}

// webhookFlags are the flags of create and update; secrets accept "-" (standard input)
// and "@file" so that they stay out of shell history and process listings.
type webhookFlags struct {
	source, secret, eventKey, scope, dedupe, static string
	auth, header, algorithm, encoding, prefix, user string
}

func (wf *webhookFlags) add(f *pflag.FlagSet) {
	f.StringVar(&wf.source, "source", "", "stripe, github, slack, standard or generic")
	f.StringVar(&wf.secret, "secret", "", `the secret: a preset's signing secret, or the generic HMAC secret, basic-auth password or API key; "-" reads standard input, "@file" a file`)
	f.StringVar(&wf.eventKey, "event-key", "", `CEL expression giving the event key, e.g. "'stripe:' + input.type"`)
	f.StringVar(&wf.scope, "scope", "", "CEL expression giving the event's scope (optional)")
	f.StringVar(&wf.dedupe, "dedupe", "", "CEL expression giving the delivery id, replacing the preset's (optional)")
	f.StringVar(&wf.static, "static-payload", "", `JSON object merged over every body (static values win); inline, @file or "-"; "null" removes it`)
	f.StringVar(&wf.auth, "auth", "", "generic source: hmac, basic or api_key")
	f.StringVar(&wf.header, "header", "", "generic hmac / api_key: the header carrying the signature or key")
	f.StringVar(&wf.algorithm, "algorithm", "", "generic hmac: sha1, sha256 (default) or sha512")
	f.StringVar(&wf.encoding, "encoding", "", "generic hmac: hex (default), base64 or base64url")
	f.StringVar(&wf.prefix, "prefix", "", `generic hmac: text before the signature, e.g. "sha256="`)
	f.StringVar(&wf.user, "username", "", "generic basic: the user name")
}

// authFlags are the flags that make up a generic webhook's auth.
var authFlags = []string{"auth", "header", "algorithm", "encoding", "prefix", "username"}

// readSecret resolves a secret flag: inline, "-" or "@file" (one trailing newline dropped).
func (c *cli) readSecret(v string) (string, error) {
	if v != "-" && !strings.HasPrefix(v, "@") {
		return v, nil
	}
	data, _, err := readSource(v, "--secret", c.stdin)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// staticPayload resolves --static-payload: a JSON object, or null.
func (c *cli) staticPayload(v string) (json.RawMessage, error) {
	if strings.TrimSpace(v) == "null" {
		return json.RawMessage("null"), nil
	}
	data, label, err := readSource(v, "--static-payload", c.stdin)
	if err != nil {
		return nil, err
	}
	return decodeObject(data, label)
}

// genericAuth builds the auth object from the flags, with the secret in the field its
// type uses; nil when no auth flag was given.
func (wf *webhookFlags) genericAuth(cmd *cobra.Command, secret string, secretSet bool) (*herald.WebhookAuth, error) {
	given := false
	for _, n := range authFlags {
		given = given || cmd.Flags().Changed(n)
	}
	if !given {
		return nil, nil
	}
	if wf.auth == "" {
		return nil, usagef("%s--auth (hmac, basic or api_key) is required with --header, --algorithm, --encoding, --prefix or --username", subject(cmd))
	}
	a := &herald.WebhookAuth{Type: wf.auth, Header: wf.header, Algorithm: wf.algorithm, Encoding: wf.encoding, Prefix: wf.prefix, Username: wf.user}
	if secretSet {
		switch wf.auth {
		case "basic":
			a.Password = secret
		case "api_key":
			a.Key = secret
		default:
			a.Secret = secret
		}
	}
	return a, nil
}

// isGeneric reports whether the flags describe a generic webhook.
func (wf *webhookFlags) isGeneric(cmd *cobra.Command) bool {
	return wf.source == herald.WebhookGeneric || cmd.Flags().Changed("auth")
}

// newWebhooksCreateCmd builds `herald webhooks create`.
func newWebhooksCreateCmd(c *cli) *cobra.Command {
	var wf webhookFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a webhook and print the URL to give its sender",
		Long: `Create a webhook of the tenant. Deliveries to its URL need no API token: they
are verified with the secret (presets: stripe, github, slack, standard) or with
--auth (generic: hmac, basic or api_key). The event key, and optionally the
scope and the delivery id, are CEL expressions over input (the body) and
headers (lower-case names); they are checked now. The secret is stored
encrypted and never shown again.`,
		Example: `  herald webhooks create stripe --source stripe --secret @stripe-secret.txt \
      --event-key "'stripe:' + input.type" --scope input.data.object.customer
  herald webhooks create gh --source github --secret - \
      --event-key "'github:' + headers['x-github-event']"
  herald webhooks create partner --source generic --auth hmac --header X-Signature \
      --algorithm sha256 --encoding hex --prefix sha256= --secret @partner.key \
      --event-key "'partner:' + input.event"`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := herald.WebhookParams{Name: args[0], Source: wf.source, EventKeyExpression: wf.eventKey,
				ScopeExpression: wf.scope, DedupeExpression: wf.dedupe}
			if p.Source == "" {
				return usagef("%s--source is required (stripe, github, slack, standard or generic)", subject(cmd))
			}
			if p.EventKeyExpression == "" {
				return usagef("%s--event-key is required (a CEL expression such as \"'stripe:' + input.type\")", subject(cmd))
			}
			secret, err := c.readSecret(wf.secret)
			if err != nil {
				return err
			}
			if wf.static != "" {
				sp, err := c.staticPayload(wf.static)
				if err != nil {
					return err
				}
				p.StaticPayload = sp
			}
			if wf.isGeneric(cmd) {
				if p.Auth, err = wf.genericAuth(cmd, secret, cmd.Flags().Changed("secret")); err != nil {
					return err
				}
			} else {
				p.Secret = secret
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			w, err := cl.CreateWebhook(cmd.Context(), p)
			if err != nil {
				return err
			}
			return c.showWebhook(w)
		},
	}
	wf.add(cmd.Flags())
	return cmd
}

// newWebhooksUpdateCmd builds `herald webhooks update`.
func newWebhooksUpdateCmd(c *cli) *cobra.Command {
	var wf webhookFlags
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a webhook: expressions, static payload, or rotate its secret",
		Long: `Change the given fields of a webhook; the others keep their value. Rotating the
secret is --secret. For a generic webhook, --auth and its flags replace the
whole method (--secret may then be left out to keep the current secret when the
type stays the same). An empty --scope or --dedupe removes the expression;
--static-payload null removes the static payload.`,
		Example: `  herald webhooks update stripe --secret @new-secret.txt
  herald webhooks update gh --event-key "'github:' + headers['x-github-event'] + ':' + input.action"`,
		Args: argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u herald.WebhookUpdate
			changed := cmd.Flags().Changed
			str := func(name, v string) *string {
				if changed(name) {
					return &v
				}
				return nil
			}
			u.Source = str("source", wf.source)
			u.EventKeyExpression = str("event-key", wf.eventKey)
			u.ScopeExpression = str("scope", wf.scope)
			u.DedupeExpression = str("dedupe", wf.dedupe)
			if changed("static-payload") {
				sp, err := c.staticPayload(wf.static)
				if err != nil {
					return err
				}
				u.StaticPayload = sp
			}
			secret, err := c.readSecret(wf.secret)
			if err != nil {
				return err
			}
			a, err := wf.genericAuth(cmd, secret, changed("secret"))
			if err != nil {
				return err
			}
			switch {
			case a != nil:
				u.Auth = a
			case changed("secret"):
				cl, err := c.client()
				if err != nil {
					return err
				}
				// A generic webhook takes its secret in auth: send the current method back
				// with the new secret.
				cur, err := cl.GetWebhook(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if cur.Auth != nil && (u.Source == nil || *u.Source == herald.WebhookGeneric) {
					wf.auth, wf.header, wf.algorithm, wf.encoding, wf.prefix, wf.user =
						cur.Auth.Type, cur.Auth.Header, cur.Auth.Algorithm, cur.Auth.Encoding, cur.Auth.Prefix, cur.Auth.Username
					cmd.Flags().Set("auth", cur.Auth.Type)
					if u.Auth, err = wf.genericAuth(cmd, secret, true); err != nil {
						return err
					}
				} else {
					u.Secret = &secret
				}
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			w, err := cl.UpdateWebhook(cmd.Context(), args[0], u)
			if err != nil {
				return err
			}
			return c.showWebhook(w)
		},
	}
	wf.add(cmd.Flags())
	return cmd
}

// newWebhooksListCmd builds `herald webhooks list`.
func newWebhooksListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the tenant's webhooks",
		Example: "  herald webhooks list",
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ws, err := cl.ListWebhooks(cmd.Context())
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(ws, ""))
			}
			t := newTable(c.stdout, "NAME", "SOURCE", "EVENT KEY", "URL")
			for _, w := range ws {
				t.row(w.Name, webhookKind(&w), w.EventKeyExpression, w.URL)
			}
			return t.flush()
		},
	}
}

// newWebhooksGetCmd builds `herald webhooks get`.
func newWebhooksGetCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "get NAME",
		Short:   "Show a webhook (never its secret)",
		Example: "  herald webhooks get stripe",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			w, err := cl.GetWebhook(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.showWebhook(w)
		},
	}
}

// newWebhooksDeleteCmd builds `herald webhooks delete`.
func newWebhooksDeleteCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a webhook and its delivery log; its URL then answers 404",
		Example: "  herald webhooks delete stripe",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.DeleteWebhook(cmd.Context(), args[0]); err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(map[string]any{"deleted": args[0]})
			}
			fmt.Fprintf(c.stdout, "webhook %s deleted\n", args[0])
			return nil
		},
	}
}

// newWebhooksDeliveriesCmd builds `herald webhooks deliveries`.
func newWebhooksDeliveriesCmd(c *cli) *cobra.Command {
	var p herald.ListDeliveriesParams
	cmd := &cobra.Command{
		Use:     "deliveries NAME",
		Short:   "List a webhook's recent deliveries: status, verification, error, event",
		Example: "  herald webhooks deliveries stripe --limit 20",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			page, err := cl.ListWebhookDeliveries(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(page.Items, page.NextCursor))
			}
			t := newTable(c.stdout, "RECEIVED", "STATUS", "OUTCOME", "VERIFICATION", "EVENT", "ERROR")
			for _, d := range page.Items {
				t.row(fmtTime(d.ReceivedAt), d.StatusCode, d.Outcome, d.Verification, d.EventID, d.Error)
			}
			if err := t.flush(); err != nil {
				return err
			}
			printNextCursor(c.stdout, page.NextCursor)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&p.Limit, "limit", 0, "page size, 1-500 (default 50)")
	f.StringVar(&p.Cursor, "cursor", "", "page cursor from a previous listing")
	return cmd
}

// webhookKind renders a webhook's source, with the generic method.
func webhookKind(w *herald.WebhookInfo) string {
	if w.Auth != nil {
		return w.Source + "/" + w.Auth.Type
	}
	return w.Source
}

// showWebhook prints a webhook: as JSON with -o json, else its fields.
func (c *cli) showWebhook(w *herald.WebhookInfo) error {
	if c.jsonOutput() {
		return c.printJSON(w)
	}
	kv := newTable(c.stdout)
	kv.row("webhook:", w.Name)
	kv.row("source:", webhookKind(w))
	kv.row("url:", w.URL)
	kv.row("event key:", w.EventKeyExpression)
	if w.ScopeExpression != "" {
		kv.row("scope:", w.ScopeExpression)
	}
	if w.DedupeExpression != "" {
		kv.row("dedupe:", w.DedupeExpression)
	}
	if len(w.StaticPayload) > 0 {
		kv.row("static payload:", compactJSON(w.StaticPayload))
	}
	if a := w.Auth; a != nil {
		switch a.Type {
		case "hmac":
			kv.row("signature:", fmt.Sprintf("%s: %s%s(hmac-%s)", a.Header, a.Prefix, a.Encoding, a.Algorithm))
		case "basic":
			kv.row("user name:", a.Username)
		case "api_key":
			kv.row("key header:", a.Header)
		}
	}
	kv.row("created:", fmtTime(w.CreatedAt))
	kv.row("updated:", fmtTime(w.UpdatedAt))
	return kv.flush()
}
