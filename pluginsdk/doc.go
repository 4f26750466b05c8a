// Package pluginsdk is what handler authors import to write a tasker
// handler plugin: a separate executable that the tasker host discovers in
// its plugins directory, launches and calls over gRPC (through
// hashicorp/go-plugin) to run workflow steps.
//
// A plugin is a main package that calls Serve. Build it as
// tasker-handler-<name>_v<version> (for example
// tasker-handler-orders_v1.0.0) and drop it in the host's plugins
// directory; name and version must equal Plugin.Name and Plugin.Version.
//
//	package main
//
//	import (
//		"context"
//		"embed"
//		"io/fs"
//
//		"github.com/tasker-systems/tasker/pluginsdk"
//	)
//
//	//go:embed templates/*.yaml
//	var files embed.FS
//
//	func greet(ctx context.Context, req pluginsdk.Request) (any, error) {
//		var in struct{ Name string `json:"name"` }
//		if err := req.DecodeContext(&in); err != nil {
//			return nil, err
//		}
//		pluginsdk.Logger(ctx).Info("greeting", "name", in.Name)
//		return map[string]string{"greeting": "hello " + in.Name}, nil
//	}
//
//	func main() {
//		templates, _ := fs.Sub(files, "templates")
//		pluginsdk.Serve(pluginsdk.Plugin{
//			Name: "greeter", Version: "1.0.0",
//			Handlers:  map[string]pluginsdk.Handler{"greet": greet},
//			Templates: templates,
//		})
//	}
//
// Errors: return Permanent(err) for failures no retry can fix, RetryAfter
// to ask for a specific delay; any other error is retried with backoff.
//
// Logging: use Logger(ctx). Never write to stdout, which go-plugin reserves
// for its handshake; stderr is forwarded into the host's log.
package pluginsdk
