package cli

import (
	"github.com/spf13/cobra"

	"github.com/preflightkit/preflight/schema"
)

func (a *app) schemaCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of a spec's documents, for editors",
		Long: `Schema prints the JSON Schema (draft 2020-12) the loader validates spec documents against,
for editors such as yaml-language-server:

  preflight schema > preflight.schema.json

and then, on the first line of a spec:

  # yaml-language-server: $schema=preflight.schema.json`,
		Args: noArgs,
		RunE: a.wrap(func(cmd *cobra.Command, args []string) error {
			b := schema.JSON()
			if len(b) > 0 && b[len(b)-1] != '\n' {
				b = append(b, '\n')
			}
			if _, err := a.stdout.Write(b); err != nil {
				return withCode(ExitError, err)
			}
			return nil
		}),
	}
}
