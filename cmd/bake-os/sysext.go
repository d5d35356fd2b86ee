package main

import "github.com/spf13/cobra"

// newSysextCmd groups the sysext building sub-commands.
func newSysextCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sysext",
		Short: "Build sysext images from directories, recipes and root filesystems",
	}
	cmd.AddCommand(sysextCommands(d)...)
	return cmd
}

// sysextCommands lists the sysext sub-commands, one line each.
func sysextCommands(d *deps) []*cobra.Command {
	return []*cobra.Command{
		newSysextPackCmd(d),
		newSysextCreateCmd(d),
		newSysextListCmd(d),
		newSysextCheckCmd(d),
		newSysextReleaseCmd(d),
		newSysextFlixCmd(d),
		newSysextFlatwrapCmd(d),
		newSysextOCIRootfsCmd(d),
		newSysextTorcxCmd(d),
	}
}
