// Command orders is the example tasker handler plugin for the order
// workflow (templates/order_process.yaml): validate an order, take the
// payment, send a confirmation. It also subscribes to task.completed to log
// the orders that completed (subscriptions.go).
//
// Build it into the host's plugins directory:
//
//	go build -o bin/plugins/tasker-handler-orders_v1.0.0 ./examples/orders
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
		Name:          "orders",
		Version:       "1.0.0",
		Handlers:      handlers(),
		Templates:     templates,
		Subscriptions: subscriptions(),
	})
}
