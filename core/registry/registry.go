// Package registry holds what a node can run: the task templates it knows
// (with their database ids) and the handlers that execute their steps. It is
// safe for concurrent use.
package registry

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"

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

// Registry maps namespace/name/version to templates, and handler names to
// the handlers that provide them, one per plugin version.
type Registry struct {
	mu        sync.RWMutex
	templates map[string]Entry       // by Template.Key()
	handlers  map[string][]versioned // by handler name, highest version first
	// limits is derived from handlers whenever they change, because the
	// engine reads it before every claim; it is replaced, never modified.
	limits map[string]int
}

// versioned is one plugin version's implementation of a handler.
type versioned struct {
	plugin  string
	version *semver.Version
	h       core.Handler
}

// InProcess is the plugin name under which AddUnversioned registers
// handlers compiled into the process (tests, embedders); they are its
// version 0.0.0.
const InProcess = "in-process"

// New returns an empty registry.
func New() *Registry {
	return &Registry{templates: map[string]Entry{}, handlers: map[string][]versioned{}}
}

// AddHandlers makes the handlers of version of plugin available by name.
// Several versions of one plugin may provide the same handler name side by
// side; a name another plugin already provides, or the same plugin version
// registered twice, is an error and registers nothing.
func (r *Registry) AddHandlers(plugin, version string, hs map[string]core.Handler) error {
	v, err := semver.StrictNewVersion(version)
	if err != nil {
		return fmt.Errorf("plugin %s: version %q is not a semantic version: %w", plugin, version, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range hs {
		for _, o := range r.handlers[name] {
			switch {
			case o.plugin != plugin:
				return fmt.Errorf("handler %q of plugin %s v%s is already provided by plugin %s v%s",
					name, plugin, version, o.plugin, o.version)
			case o.version.Equal(v):
				return fmt.Errorf("handler %q is registered twice (plugin %s v%s)", name, plugin, version)
			}
		}
	}
	for name, h := range hs {
		list := append(r.handlers[name], versioned{plugin: plugin, version: v, h: h})
		sort.SliceStable(list, func(i, j int) bool { return list[i].version.GreaterThan(list[j].version) })
		r.handlers[name] = list
	}
	r.limits = map[string]int{}
	for name, list := range r.handlers {
		if l, ok := list[0].h.(core.ConcurrencyLimiter); ok && l.MaxConcurrency() > 0 {
			r.limits[name] = l.MaxConcurrency()
		}
	}
	return nil
}

// AddUnversioned registers in-process handlers as version 0.0.0 of the
// plugin InProcess. A step pinned to a handler_version that 0.0.0 does not
// satisfy cannot use them.
func (r *Registry) AddUnversioned(hs map[string]core.Handler) error {
	return r.AddHandlers(InProcess, "0.0.0", hs)
}

// Handler returns the highest loaded version of the handler name that
// satisfies constraint (a semver constraint such as "1.0.0", "~1.2", "^1"
// or ">=1.1, <2"; empty means any version), with that version. The error
// names the handler, the constraint and the versions loaded.
func (r *Registry) Handler(name, constraint string) (core.Handler, string, error) {
	c, err := parseConstraint(constraint)
	if err != nil {
		return nil, "", fmt.Errorf("handler %q: %w", name, err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := pick(r.handlers[name], c)
	if !ok {
		return nil, "", r.missingLocked(name, constraint)
	}
	return v.h, v.version.Original(), nil
}

// pick returns the first (highest) entry of list that satisfies c (nil: any).
func pick(list []versioned, c *semver.Constraints) (versioned, bool) {
	for _, v := range list {
		if c == nil || c.Check(v.version) {
			return v, true
		}
	}
	return versioned{}, false
}

func (r *Registry) missingLocked(name, constraint string) error {
	list := r.handlers[name]
	if len(list) == 0 {
		return fmt.Errorf("handler %q is not provided by any loaded plugin", name)
	}
	versions := make([]string, len(list))
	for i, v := range list {
		versions[i] = v.version.Original()
	}
	slices.Reverse(versions)
	return fmt.Errorf("handler %q has no loaded version satisfying %q (loaded: plugin %s v%s)",
		name, constraint, list[0].plugin, strings.Join(versions, ", v"))
}

func parseConstraint(constraint string) (*semver.Constraints, error) {
	if constraint == "" {
		return nil, nil
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return nil, fmt.Errorf("handler_version %q is not a semver constraint: %w", constraint, err)
	}
	return c, nil
}

// Limits returns the concurrency limit of each handler name that has one
// (see core.ConcurrencyLimiter). Limits are per handler name on this node,
// whatever the version that runs a step: each name takes the limit its
// highest loaded version declares. The map is shared: do not modify it.
func (r *Registry) Limits() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.limits
}

// CheckHandlers reports each step of t whose handler no loaded version
// provides (or none that satisfies the step's handler_version), so a
// template is refused at load time rather than failing its tasks later.
func (r *Registry) CheckHandlers(t *core.Template) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var errs []error
	for _, s := range t.Steps {
		c, err := parseConstraint(s.HandlerVersion)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("step %q: %w", s.Name, err))
		case len(r.handlers[s.Handler]) == 0:
			errs = append(errs, fmt.Errorf("step %q uses handler %q, which no loaded plugin provides", s.Name, s.Handler))
		default:
			if _, ok := pick(r.handlers[s.Handler], c); !ok {
				errs = append(errs, fmt.Errorf("step %q: %w", s.Name, r.missingLocked(s.Handler, s.HandlerVersion)))
			}
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

// Template returns the template registered under key (see core.Template.Key).
func (r *Registry) Template(key string) (Entry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.templates[key]
	return e, ok
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
