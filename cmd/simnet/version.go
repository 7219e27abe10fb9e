package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionString describes this binary: the module version (a tag when built
// with `go install ...@vX`, "(devel)" in a checkout), the VCS revision and
// whether the tree was modified, and the Go toolchain, all read from the
// build information the Go linker embeds.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "simnet (no build information)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "simnet %s", info.Main.Version)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(&b, " revision %s", rev)
		if t := settings["vcs.time"]; t != "" {
			fmt.Fprintf(&b, " (%s)", t)
		}
		if settings["vcs.modified"] == "true" {
			b.WriteString(" modified")
		}
	}
	fmt.Fprintf(&b, " %s", info.GoVersion)
	return b.String()
}

func init() {
	rootCmd.Version = versionString()
	rootCmd.SetVersionTemplate("{{.Version}}\n")
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the module version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
		},
	})
}
