// Command argocd-bed is the two Argo CD servers the test bed runs, built from the
// module proxy at the version pinned in go.mod. Argo CD ships one binary whose
// behaviour follows its own name (argo-cd's cmd/main.go); the bed needs only the
// application controller and the repo server, so this wrapper links only those two
// and build.sh installs it under both names (symlinks).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func main() {
	// client-go logs through klog; without this its lines bypass Argo CD's
	// --loglevel/--logformat (argo-cd's own main does the same)
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))

	var command *cobra.Command
	switch name := filepath.Base(os.Args[0]); name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "%s: run me as %s or %s (a symlink)\n",
			name, common.CommandApplicationController, common.CommandRepoServer)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
