package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/plugins"
)

// reloader loads, on SIGHUP, the plugins that appeared in the plugins
// directory since the last load, and the task templates they ship or that
// appeared in the templates directory.
type reloader struct {
	log               *slog.Logger
	host              *plugins.Host
	reg               *registry.Registry
	eng               *engine.Engine
	templatesDir      string
	templatesRequired bool
}

// reload registers the handlers of each newly loaded plugin version beside
// the versions already loaded, then loads the new plugins' templates and the
// templates directory again (templates already registered with the same
// definition are skipped). Running steps are untouched; steps claimed from
// now on run on the highest version their handler_version allows. Plugins
// are never unloaded: one whose file disappeared keeps running until
// tasker restarts.
func (r reloader) reload(ctx context.Context) {
	r.log.Info("reload: SIGHUP received; loading new plugins and templates")
	known := map[string]bool{}
	for _, p := range r.host.Plugins() {
		known[p.Path] = true
	}
	if err := r.host.Load(ctx); err != nil {
		r.log.Error("reload: loading plugins failed", "error", err)
		return
	}
	var loaded []string
	var sources []core.TemplateSource
	for _, p := range r.host.Plugins() {
		if known[p.Path] {
			if _, err := os.Stat(p.Path); errors.Is(err, fs.ErrNotExist) {
				r.log.Warn(fmt.Sprintf("reload: the file of plugin %s v%s is gone; it stays loaded until tasker restarts (reload does not remove plugins)",
					p.Name, p.Version), "path", p.Path)
			}
			continue
		}
		if err := r.reg.AddHandlers(p.Name, p.Version, r.host.PluginHandlers(p.Name, p.Version)); err != nil {
			r.log.Error(fmt.Sprintf("reload: the handlers of plugin %s v%s were not registered", p.Name, p.Version), "error", err)
			continue
		}
		loaded = append(loaded, fmt.Sprintf("%s v%s", p.Name, p.Version))
		sources = append(sources, r.host.PluginTemplates(p.Name, p.Version)...)
	}
	files, err := core.ReadTemplateDir(r.templatesDir, r.templatesRequired)
	if err != nil {
		r.log.Error("reload: reading the templates directory failed", "error", err)
	}
	before := len(r.reg.Templates())
	// Refused templates are logged by LoadTemplates.
	_ = r.eng.LoadTemplates(ctx, append(sources, files...))
	added := len(r.reg.Templates()) - before
	what := "no new plugins"
	switch len(loaded) {
	case 0:
	case 1:
		what = "loaded plugin " + loaded[0]
	default:
		what = "loaded plugins " + strings.Join(loaded, ", ")
	}
	noun := "templates"
	if added == 1 {
		noun = "template"
	}
	r.log.Info(fmt.Sprintf("reload: %s; %d new %s", what, added, noun))
	r.eng.Wake()
}
