package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// newSchemasCmd builds `herald schemas` and its subcommands.
func newSchemasCmd(c *cli) *cobra.Command {
	return newGroupCmd("schemas", "Register, inspect and delete the JSON Schemas of event payloads",
		newSchemasPutCmd(c),
		newSchemasListCmd(c),
		newSchemasGetCmd(c),
		newSchemasDeleteCmd(c),
	)
}

// readSchemaArg reads a schema document: a file name, "@file", "-" (standard input) or
// an inline JSON object.
func (c *cli) readSchemaArg(arg string) (json.RawMessage, error) {
	var data []byte
	var label string
	var err error
	switch {
	case strings.HasPrefix(strings.TrimSpace(arg), "{"):
		data, label = []byte(arg), "schema argument"
	case arg == "-" || strings.HasPrefix(arg, "@"):
		data, label, err = readSource(arg, "schema", c.stdin)
	default:
		data, err = os.ReadFile(arg)
		label = "schema from file " + arg
		if err != nil {
			err = fmt.Errorf("schema: %w", err)
		}
	}
	if err != nil {
		return nil, err
	}
	return decodeObject(data, label)
}

// newSchemasPutCmd builds `herald schemas put`.
func newSchemasPutCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "put KEY FILE|-",
		Short: "Register the JSON Schema that payloads of an event key must conform to",
		Long: `Register (or replace) the JSON Schema of an exact event key. From then on a push
or webhook delivery of that key whose payload does not conform is refused with
422 schema_violation, naming the failing value by JSON pointer, and nothing is
stored. The schema is compiled now: an invalid one is refused with the
compiler's message. FILE is a file name; "-" reads standard input, and an
argument starting with "{" is the schema itself. Drafts 2020-12 (default),
2019-09, 7, 6 and 4 are understood; "format" is asserted; references must stay
inside the document.`,
		Example: `  herald schemas put order:paid order-paid.schema.json
  cat schema.json | herald schemas put user:created -
  herald schemas put ping '{"type":"object","additionalProperties":false}'`,
		Args: argsBetween(2, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := c.readSchemaArg(args[1])
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			s, err := cl.PutEventSchema(cmd.Context(), args[0], doc)
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(s)
			}
			fmt.Fprintf(c.stdout, "schema of %s saved\n", s.Key)
			return nil
		},
	}
}

// newSchemasListCmd builds `herald schemas list`.
func newSchemasListCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List the event keys that have a payload schema",
		Example: "  herald schemas list",
		Args:    argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			ss, err := cl.ListEventSchemas(cmd.Context())
			if err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(pageJSON(ss, ""))
			}
			t := newTable(c.stdout, "KEY", "BYTES", "UPDATED")
			for _, s := range ss {
				t.row(s.Key, len(s.Schema), fmtTime(s.UpdatedAt))
			}
			return t.flush()
		},
	}
}

// newSchemasGetCmd builds `herald schemas get`.
func newSchemasGetCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the JSON Schema of an event key",
		Long: `Print the JSON Schema of an event key, indented (so that it can be saved to a
file and put again); with -o json, the whole record with its times.`,
		Example: "  herald schemas get order:paid > order-paid.schema.json",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			s, err := cl.GetEventSchema(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.showSchema(s)
		},
	}
}

func (c *cli) showSchema(s *herald.EventSchema) error {
	if c.jsonOutput() {
		return c.printJSON(s)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, s.Schema, "", "  "); err != nil {
		return fmt.Errorf("the engine sent a schema that is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := c.stdout.Write(buf.Bytes())
	return err
}

// newSchemasDeleteCmd builds `herald schemas delete`.
func newSchemasDeleteCmd(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:     "delete KEY",
		Short:   "Delete the schema of an event key; its payloads are no longer checked",
		Example: "  herald schemas delete order:paid",
		Args:    argsBetween(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			if err := cl.DeleteEventSchema(cmd.Context(), args[0]); err != nil {
				return err
			}
			if c.jsonOutput() {
				return c.printJSON(map[string]any{"deleted": args[0]})
			}
			fmt.Fprintf(c.stdout, "schema of %s deleted\n", args[0])
			return nil
		},
	}
}
