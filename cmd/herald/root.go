package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldhq/herald"
)

// cli carries what every command needs: the process's standard streams, its
// environment, and the global flags once parsed. One cli is built per
// execution; commands are closures over it.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	url     setting
	token   setting
	dataDir setting
	output  string
}

// newRootCmd builds the herald command tree. serverCmds are the commands that
// run the engine itself (serve, migrate); they are defined in their own files
// and get the global flags through cmd.Flags() like every other command.
func newRootCmd(c *cli, serverCmds ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:   "herald",
		Short: "Herald: event-triggered workflows",
		Long: `Herald runs workflows when events arrive.

The client commands talk to an engine at --url (env HERALD_URL) with the API
token from --token, HERALD_TOKEN, or <data-dir>/token (the file 'herald serve'
writes for a local engine).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          groupArgs,
		RunE:          groupRun,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return c.loadGlobalFlags(cmd)
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef("%s%v", subject(cmd), err)
	})

	pf := root.PersistentFlags()
	pf.String("url", defaultURL, "engine URL (env "+envURL+")")
	pf.String("token", "", "API token (env "+envToken+"; default: the contents of <data-dir>/token)")
	pf.String("data-dir", defaultDataDir, "data directory of a local engine (env "+envDataDir+")")
	pf.StringP("output", "o", outputTable, "output format: table or json")

	root.AddCommand(
		newPushCmd(c),
		newRunCmd(c),
		newEventsCmd(c),
		newRunsCmd(c),
		newWorkflowsCmd(c),
		newTokensCmd(c),
		newTenantsCmd(c),
		newWebhooksCmd(c),
		newFiltersCmd(c),
		newSchemasCmd(c),
	)
	for _, sc := range serverCmds {
		if sc != nil {
			root.AddCommand(sc)
		}
	}
	return root
}

// loadGlobalFlags records the global flags of the command being run.
func (c *cli) loadGlobalFlags(cmd *cobra.Command) error {
	flags := cmd.Flags()
	get := func(name string) setting {
		v, _ := flags.GetString(name)
		return setting{value: v, set: flags.Changed(name)}
	}
	c.url = get("url")
	c.token = get("token")
	c.dataDir = get("data-dir")
	out := get("output")
	switch out.value {
	case outputTable, outputJSON:
		c.output = out.value
	default:
		return usagef("--output %q: want table or json", out.value)
	}
	return nil
}

// client builds an SDK client from the global flags and environment.
func (c *cli) client() (*herald.Client, error) {
	dataDir := c.dataDir.resolve(c.getenv, envDataDir, defaultDataDir)
	token, err := resolveToken(c.token, c.getenv, dataDir)
	if err != nil {
		return nil, err
	}
	url := c.url.resolve(c.getenv, envURL, defaultURL)
	cl, err := herald.NewClient(herald.ClientConfig{URL: url, Token: token})
	if err != nil {
		return nil, fmt.Errorf("--url: %s", strings.TrimPrefix(err.Error(), "herald: "))
	}
	return cl, nil
}

// jsonOutput reports whether -o json was asked for.
func (c *cli) jsonOutput() bool { return c.output == outputJSON }

// printJSON writes v to stdout as indented JSON.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// groupArgs rejects unknown subcommands of a command that only groups others.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set lazily by cobra itself
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return usageError{fmt.Errorf("%s", msg)}
}

// groupRun shows the help of a command that only groups others.
func groupRun(cmd *cobra.Command, _ []string) error {
	return cmd.Help()
}

// newGroupCmd returns a command that only groups subcommands.
func newGroupCmd(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  groupArgs,
		RunE:  groupRun,
	}
	cmd.AddCommand(subs...)
	return cmd
}

// argsBetween accepts between min and max positional arguments and reports a
// usage error otherwise.
func argsBetween(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= minArgs && len(args) <= maxArgs {
			return nil
		}
		return usagef("%sgot %d argument%s; usage: %s", subject(cmd), len(args), plural(len(args)), strings.TrimSuffix(cmd.UseLine(), " [flags]"))
	}
}

// subject prefixes a usage error with the subcommand it is about, such as
// "runs get: "; it is empty for the root command, whose name the error
// line already starts with.
func subject(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return ""
	}
	_, path, _ := strings.Cut(cmd.CommandPath(), " ")
	return path + ": "
}

// plural returns "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
