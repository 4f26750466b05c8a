// Package plugins is the tasker host side of handler plugins: it discovers
// plugin executables in a directory, launches each one with
// hashicorp/go-plugin (gRPC, automatic mTLS), checks its identity, and
// exposes its handlers as core.Handler values and its task templates as
// core.TemplateSource values.
//
// A plugin executable is named tasker-handler-<name>_v<semver> and is
// written with the pluginsdk package. Typical use:
//
//	host := plugins.NewHost(logger, "bin/plugins")
//	defer host.Close()
//	if err := host.Load(ctx); err != nil {
//		return err
//	}
//	for _, p := range host.Plugins() {
//		reg.AddHandlers(p.Name, p.Version, host.PluginHandlers(p.Name, p.Version))
//	}
//
// Several versions of one plugin (tasker-handler-orders_v1.0.0 and
// tasker-handler-orders_v1.1.0) load side by side and may provide the same
// handler names; the registry picks the version each step runs on. A plugin
// that cannot be started, misreports its identity or declares a handler
// another plugin already provides is logged and skipped; it never prevents
// the others from loading. Calling Load again (tasker serve does on SIGHUP)
// loads the plugins that appeared since.
//
// A plugin process that exits unexpectedly (a crash, kill -9) is relaunched
// by the next call to one of its handlers, with the same checks as at load
// time; the handlers keep working without being registered again. The call
// that was running when it died fails as retryable. A plugin that keeps
// crashing is relaunched after waits of 1s, 2s, 4s ... up to 60s (its first
// crash, or one after 60s of uptime, is relaunched at once); during a wait
// its handlers fail at once with a retryable error whose RetryAfter says
// when to come back.
package plugins
