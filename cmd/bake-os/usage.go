package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// unknownCommand is the usage error for an argument that names no
// sub-command of cmd, with cobra's suggestions on the same line:
// unknown command "pakc" for "bake-os sysext"; did you mean "pack"?
func unknownCommand(cmd *cobra.Command, arg string) error {
	msg := fmt.Sprintf("unknown command %q for %q", arg, cmd.CommandPath())
	if s := suggestions(cmd, arg); len(s) > 0 {
		q := make([]string, len(s))
		for i, n := range s {
			q[i] = fmt.Sprintf("%q", n)
		}
		msg += "; did you mean " + strings.Join(q, " or ") + "?"
	} else {
		msg += fmt.Sprintf(": see %q", cmd.CommandPath()+" --help")
	}
	return usagef("%s", msg)
}

// suggestions are the sub-commands of cmd whose names are close to arg
// (Levenshtein distance 2, or a prefix), as cobra finds them.
func suggestions(cmd *cobra.Command, arg string) []string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	return cmd.SuggestionsFor(arg)
}

// groupCommand completes a command that only groups sub-commands: alone
// it prints its help, with an argument that is no sub-command it refuses
// with suggestions (cobra would print the help and exit 0).
func groupCommand(cmd *cobra.Command) {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
}

// usageArgs marks argument-count errors as usage errors (exit status 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			if _, ok := err.(usageError); ok {
				return err
			}
			return usagef("%s: %v (usage: %s)", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), err, cmd.UseLine())
		}
		return nil
	}
}

// markUsageErrors makes every command's argument check and flag errors
// usage errors, down the whole tree, and every command that only groups
// others refuse unknown arguments (groupCommand).
func markUsageErrors(cmd *cobra.Command) {
	if cmd.Args != nil {
		cmd.Args = usageArgs(cmd.Args)
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		groupCommand(cmd)
	}
	for _, c := range cmd.Commands() {
		markUsageErrors(c)
	}
}

// checkSysextArgs is the root command's argument check: each argument is
// NAME:FILE; a word close to a sub-command's name is a mistyped command.
func checkSysextArgs(cmd *cobra.Command, args []string) error {
	for _, a := range args {
		if strings.Contains(a, ":") {
			continue
		}
		if len(suggestions(cmd, a)) > 0 {
			return unknownCommand(cmd, a)
		}
		return usagef("argument %q is not NAME:FILE (or a command, see --help)", a)
	}
	return nil
}

// helpColumns is the width --help output fits in.
const helpColumns = 80

// fitHelp makes cmd's help (and its sub-commands', which inherit the
// template) wrap flag descriptions at helpColumns.
func fitHelp(cmd *cobra.Command) {
	t := cmd.UsageTemplate()
	t = strings.ReplaceAll(t, ".LocalFlags.FlagUsages", fmt.Sprintf("(.LocalFlags.FlagUsagesWrapped %d)", helpColumns))
	t = strings.ReplaceAll(t, ".InheritedFlags.FlagUsages", fmt.Sprintf("(.InheritedFlags.FlagUsagesWrapped %d)", helpColumns))
	cmd.SetUsageTemplate(t)
}

// newHelpCmd replaces cobra's help command, which prints "Unknown help
// topic" and exits 0 for a mistyped command: here that is a usage error
// with suggestions.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return usageError{err}
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest[0])
			}
			return target.Help()
		},
	}
}
