// Command patterns is the example tasker handler plugin for the seed's
// workflow patterns: linear, diamond, tree, parallel merge and a mixed DAG
// (templates/*.yaml, namespace patterns), plus variants with injected
// failures (namespace patterns_faults). One handler, work, runs every step;
// its results show which dependency results reached the step, so a test can
// check that results flow along exactly the DAG's edges.
//
// Build it into the host's plugins directory:
//
//	go build -o bin/plugins/tasker-handler-patterns_v1.0.0 ./examples/patterns
package main

import (
	"embed"
	"io/fs"

	"github.com/tasker-systems/tasker/pluginsdk"
)

//go:embed templates/*.yaml
var files embed.FS

func main() {
	templates, err := fs.Sub(files, "templates")
	if err != nil {
		panic(err)
	}
	pluginsdk.Serve(pluginsdk.Plugin{
		Name:      "patterns",
		Version:   "1.0.0",
		Handlers:  handlers(),
		Templates: templates,
	})
}
