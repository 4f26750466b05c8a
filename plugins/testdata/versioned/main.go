// Command versioned is a handler plugin for the tests of plugin versions.
// Its name and version are set at build time, as in
//
//	go build -ldflags "-X main.version=1.1.0" -o tasker-handler-versioned_v1.1.0
//
// and its handler "version" returns {"plugin": name, "version": version}, so
// a test can tell which build ran a step.
package main

import (
	"context"
	"io/fs"
	"testing/fstest"

	"github.com/tasker-systems/tasker/pluginsdk"
)

var (
	name    = "versioned"
	version = "1.0.0"
)

func main() {
	pluginsdk.Serve(pluginsdk.Plugin{
		Name:    name,
		Version: version,
		Handlers: map[string]pluginsdk.Handler{
			"version": func(context.Context, pluginsdk.Request) (any, error) {
				return map[string]string{"plugin": name, "version": version}, nil
			},
		},
		Templates: templates(),
	})
}

// templates ships one template whose version is the plugin's, so that
// each build brings a template of its own.
func templates() fs.FS {
	return fstest.MapFS{"stamp.yaml": {Data: []byte("name: stamp\nversion: " + version +
		"\nstep_templates:\n  - {name: stamp, handler: version}\n")}}
}
