// Package registry holds what a node can run: the task templates it knows
// (with their database ids) and the handlers that execute their steps. It is
// safe for concurrent use.
package registry

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tasker-systems/tasker/core"
)

// Entry is a registered template with its database id.
type Entry struct {
	Template *core.Template
	// Schema checks task contexts; nil when the template has none.
	Schema *core.ContextSchema
	ID     int64
	Origin string
}

// Registry maps namespace/name/version to templates, and handler names to handlers.
type Registry struct {
	mu        sync.RWMutex
	templates map[string]Entry // by Template.Key()
	handlers  map[string]core.Handler
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{templates: map[string]Entry{}, handlers: map[string]core.Handler{}}
}

// AddHandlers makes handlers available by name; a name already registered is an error.
func (r *Registry) AddHandlers(hs map[string]core.Handler) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range hs {
		if _, dup := r.handlers[name]; dup {
			return fmt.Errorf("handler %q is registered twice", name)
		}
	}
	for name, h := range hs {
		r.handlers[name] = h
	}
	return nil
}

// Handler returns the handler registered under name.
func (r *Registry) Handler(name string) (core.Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.handlers[name]
	return h, ok
}

// Limits returns the concurrency limit of each handler that has one (see
// core.ConcurrencyLimiter).
func (r *Registry) Limits() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := map[string]int{}
	for name, h := range r.handlers {
		if l, ok := h.(core.ConcurrencyLimiter); ok && l.MaxConcurrency() > 0 {
			out[name] = l.MaxConcurrency()
		}
	}
	return out
}

// CheckHandlers reports each step of t whose handler is not registered, so a
// template is refused at load time rather than failing its tasks later.
func (r *Registry) CheckHandlers(t *core.Template) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, s := range t.Steps {
		if _, ok := r.handlers[s.Handler]; !ok {
			errs = append(errs, fmt.Errorf("step %q uses handler %q, which no loaded plugin provides", s.Name, s.Handler))
		}
	}
	return errors.Join(errs...)
}

// AddTemplate registers a template under its key. Registering a key twice is
// an error naming both origins, unless replace is set.
func (r *Registry) AddTemplate(e Entry, replace bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := e.Template.Key()
	if old, dup := r.templates[key]; dup && !replace {
		return fmt.Errorf("template %s from %s is already registered from %s", key, e.Origin, old.Origin)
	}
	r.templates[key] = e
	return nil
}

// Lookup finds a template. An empty namespace means core.DefaultNamespace;
// an empty version means the highest version registered under that name.
// The error wraps core.ErrNotFound and lists what is available.
func (r *Registry) Lookup(namespace, name, version string) (Entry, error) {
	if namespace == "" {
		namespace = core.DefaultNamespace
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if version != "" {
		if e, ok := r.templates[namespace+"/"+name+"@"+version]; ok {
			return e, nil
		}
	}
	var versions []string
	var best Entry
	for _, e := range r.templates {
		if e.Template.Namespace == namespace && e.Template.Name == name {
			versions = append(versions, e.Template.Version)
			if best.Template == nil || compareSemver(e.Template.Version, best.Template.Version) > 0 {
				best = e
			}
		}
	}
	switch {
	case best.Template == nil:
		return Entry{}, core.NotFoundf("no task template named %q in namespace %q", name, namespace)
	case version != "":
		sort.Strings(versions)
		return Entry{}, core.NotFoundf("task template %s/%s has no version %s (available: %s)",
			namespace, name, version, strings.Join(versions, ", "))
	}
	return best, nil
}

// Templates returns every registered template, sorted by key.
func (r *Registry) Templates() []Entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Entry, 0, len(r.templates))
	for _, e := range r.templates {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Template.Key() < out[j].Template.Key() })
	return out
}

// compareSemver orders MAJOR.MINOR.PATCH numerically; a pre-release sorts
// before its release; build metadata is ignored.
func compareSemver(a, b string) int {
	split := func(v string) ([3]int, string) {
		v, _, _ = strings.Cut(v, "+")
		core, pre, _ := strings.Cut(v, "-")
		var n [3]int
		for i, p := range strings.SplitN(core, ".", 3) {
			n[i], _ = strconv.Atoi(p)
		}
		return n, pre
	}
	na, pa := split(a)
	nb, pb := split(b)
	for i := range na {
		if na[i] != nb[i] {
			return na[i] - nb[i]
		}
	}
	switch {
	case pa == pb:
		return 0
	case pa == "":
		return 1
	case pb == "":
		return -1
	}
	return strings.Compare(pa, pb)
}
