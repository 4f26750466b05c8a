// Command apiintegration is the example tasker handler plugin for a workflow
// that talks to an e-commerce HTTP API (templates/api_order.yaml, namespace
// integrations): fetch a cart and the product catalogue, validate the cart
// against the catalogue, create the order, publish an event. Its handlers use
// pluginsdk/httpstep, which turns each HTTP outcome into the error the engine
// needs: a 429 with Retry-After waits as long as the API asked, a 404 fails
// the step at once, a 5xx or a refused connection is retried with backoff.
//
// The API's base URL is handler_config.base_url, unless the task context has
// api_base_url, which then wins (see README.md).
//
// Build it into the host's plugins directory:
//
//	go build -o bin/plugins/tasker-handler-apiintegration_v1.0.0 ./examples/apiintegration
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
		Name:      "apiintegration",
		Version:   "1.0.0",
		Handlers:  handlers(),
		Templates: templates,
	})
}
