// Package plugintest helps handler authors test a tasker handler plugin
// written with pluginsdk, in two ways.
//
// In process, Run calls a handler the way pluginsdk.Serve does for the
// host: its value is JSON-encoded as in production (so a value that cannot
// be encoded fails as it would in tasker), a panic becomes the same
// retryable failure, and the Result tells how tasker would treat the
// attempt. Requests are built with NewRequest; values are JSON-encoded, and
// one that cannot be encoded fails the test.
//
//	func TestCharge(t *testing.T) {
//		req := plugintest.NewRequest("charge").
//			WithContext(map[string]any{"order_id": 42}).
//			WithConfig(map[string]any{"currency": "EUR"}).
//			WithResult("validate", map[string]any{"valid": true}).
//			WithAttempt(2)
//		res := plugintest.Run(t, charge, req)
//		var out struct{ PaymentID string `json:"payment_id"` }
//		res.Decode(&out) // fails the test if the attempt failed
//
//		res = plugintest.Run(t, charge, req.WithContext(map[string]any{"order_id": -1}))
//		if !res.IsPermanent() {
//			t.Fatalf("want a permanent failure, got %v", res)
//		}
//	}
//
// Failures are classified with Result.IsPermanent, Result.IsRetryable and
// Result.RetryAfter (the delay asked for with pluginsdk.RetryAfter).
//
// Through the real protocol, Build compiles the plugin's main package under
// the file name the host looks for, Start launches it with go-plugin exactly
// as the host does (and kills it when the test ends), and Plugin.Execute
// calls a handler over gRPC:
//
//	func TestPlugin(t *testing.T) {
//		p := plugintest.Start(t, plugintest.Build(t, ".", "orders", "1.0.0"))
//		if info := p.Info(); !slices.Contains(info.Handlers, "validate_order") {
//			t.Fatalf("handlers: %v", info.Handlers)
//		}
//		v := p.Execute(t.Context(), "validate_order",
//			plugintest.NewRequest("validate_order").WithContext(order))
//		pay := p.Execute(t.Context(), "process_payment",
//			plugintest.NewRequest("process_payment").WithResult("validate_order", v))
//		...
//	}
//
// A Result can be passed to WithResult as is, to feed a step's results to
// the next step. Building and starting a plugin takes a second or so (the
// go build cache helps): start it once per test and run several steps.
package plugintest
