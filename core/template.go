package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/Masterminds/semver/v3"
	"gopkg.in/yaml.v3"
)

// DefaultNamespace is used when a template or request names none, as in the seed.
const DefaultNamespace = "default"

// Retry defaults for steps whose template says nothing.
const (
	DefaultRetryLimit    = 3
	DefaultBackoffBaseMS = 1000
	DefaultBackoffMaxMS  = 300_000
)

// Template is a task template: named steps, their handlers and dependencies.
// The YAML keys follow the seed's (namespace_name, step_templates,
// depends_on_step(s), default_retryable, default_retry_limit).
type Template struct {
	Name        string `yaml:"name" json:"name"`
	Namespace   string `yaml:"namespace_name" json:"namespace"`
	Version     string `yaml:"version" json:"version"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Concurrent false makes the steps of each task run one at a time (default true).
	Concurrent *bool `yaml:"concurrent" json:"concurrent,omitempty"`
	// Schema is a JSON Schema (draft 2020-12 by default) for the task context.
	Schema map[string]any `yaml:"schema" json:"schema,omitempty"`
	// Identity decides when a request returns an existing task instead of a new one.
	Identity Identity       `yaml:"identity" json:"identity,omitzero"`
	Steps    []StepTemplate `yaml:"step_templates" json:"step_templates"`
	// Events are custom events its handlers may publish (see docs/EVENTS.md).
	Events []EventDeclaration `yaml:"events" json:"events,omitempty"`
}

// StepTemplate describes one step of a Template.
type StepTemplate struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	Handler     string `yaml:"handler" json:"handler"`
	// HandlerVersion pins the plugin version that runs the step: a semver
	// constraint such as "1.0.0", "~1.2", "^1" or ">=1.1, <2". Empty means
	// the highest loaded version providing Handler.
	HandlerVersion string         `yaml:"handler_version" json:"handler_version,omitempty"`
	DependsOnStep  string         `yaml:"depends_on_step" json:"depends_on_step,omitempty"`
	DependsOnSteps []string       `yaml:"depends_on_steps" json:"depends_on_steps,omitempty"`
	Retryable      *bool          `yaml:"default_retryable" json:"default_retryable,omitempty"`
	Skippable      bool           `yaml:"skippable" json:"skippable,omitempty"`
	RetryLimit     *int           `yaml:"default_retry_limit" json:"default_retry_limit,omitempty"`
	RetryBackoffMS *int           `yaml:"retry_backoff_ms" json:"retry_backoff_ms,omitempty"`
	RetryMaxMS     *int           `yaml:"retry_backoff_max_ms" json:"retry_backoff_max_ms,omitempty"`
	TimeoutMS      *int           `yaml:"timeout_ms" json:"timeout_ms,omitempty"`
	HandlerConfig  map[string]any `yaml:"handler_config" json:"handler_config,omitempty"`
}

// Dependencies returns the step's parents from both seed keys, without duplicates.
func (s StepTemplate) Dependencies() []string {
	var deps []string
	seen := map[string]bool{}
	for _, d := range append([]string{s.DependsOnStep}, s.DependsOnSteps...) {
		if d != "" && !seen[d] {
			seen[d] = true
			deps = append(deps, d)
		}
	}
	return deps
}

var (
	identRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	semverRe = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// ParseTemplate decodes and validates one YAML template. Unknown keys are
// errors, so a misspelt key is reported instead of silently ignored. The
// error names origin and, where it can, the step and the problem.
func ParseTemplate(src TemplateSource) (*Template, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src.YAML))
	dec.KnownFields(true)
	var t Template
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("template %s: invalid YAML: %w", src.Origin, err)
	}
	if t.Namespace == "" {
		t.Namespace = DefaultNamespace
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("template %s: %w", src.Origin, err)
	}
	return &t, nil
}

// Key identifies a template: namespace/name@version.
func (t *Template) Key() string { return t.Namespace + "/" + t.Name + "@" + t.Version }

// Validate reports every problem it finds, joined, so one pass over a bad
// template tells its author everything to fix.
func (t *Template) Validate() error {
	var errs []error
	if !identRe.MatchString(t.Name) {
		errs = append(errs, fmt.Errorf("name %q must be lowercase letters, digits, '_', '-' or '.'", t.Name))
	}
	if !identRe.MatchString(t.Namespace) {
		errs = append(errs, fmt.Errorf("namespace_name %q must be lowercase letters, digits, '_', '-' or '.'", t.Namespace))
	}
	if !semverRe.MatchString(t.Version) {
		errs = append(errs, fmt.Errorf("version %q is not a semantic version like 1.0.0", t.Version))
	}
	if _, err := t.CompileSchema(); err != nil {
		errs = append(errs, err)
	}
	if err := t.Identity.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, t.validateEvents()...)
	if len(t.Steps) == 0 {
		errs = append(errs, errors.New("step_templates is empty: a template needs at least one step"))
	}
	names := map[string]bool{}
	for i, s := range t.Steps {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("step %d has no name", i+1))
		case names[s.Name]:
			errs = append(errs, fmt.Errorf("step %q is defined twice", s.Name))
		}
		names[s.Name] = true
		if s.Handler == "" {
			errs = append(errs, fmt.Errorf("step %q has no handler", s.Name))
		}
		if s.HandlerVersion != "" {
			if _, err := semver.NewConstraint(s.HandlerVersion); err != nil {
				errs = append(errs, fmt.Errorf("step %q: handler_version %q is not a semver constraint like 1.0.0, ~1.2 or >=1.1, <2: %v", s.Name, s.HandlerVersion, err))
			}
		}
		if s.RetryLimit != nil && *s.RetryLimit < 1 {
			errs = append(errs, fmt.Errorf("step %q: default_retry_limit is %d; it counts every attempt, so it must be at least 1", s.Name, *s.RetryLimit))
		}
		if s.RetryBackoffMS != nil && *s.RetryBackoffMS < 0 {
			errs = append(errs, fmt.Errorf("step %q: retry_backoff_ms is %d; it must not be negative", s.Name, *s.RetryBackoffMS))
		}
		if s.TimeoutMS != nil && *s.TimeoutMS < 1 {
			errs = append(errs, fmt.Errorf("step %q: timeout_ms is %d; it must be at least 1", s.Name, *s.TimeoutMS))
		}
		if s.RetryMaxMS != nil && *s.RetryMaxMS < 0 {
			errs = append(errs, fmt.Errorf("step %q: retry_backoff_max_ms is %d; it must not be negative", s.Name, *s.RetryMaxMS))
		}
	}
	for _, s := range t.Steps {
		for _, d := range s.Dependencies() {
			switch {
			case d == s.Name:
				errs = append(errs, fmt.Errorf("step %q depends on itself", s.Name))
			case !names[d]:
				errs = append(errs, fmt.Errorf("step %q depends on unknown step %q", s.Name, d))
			}
		}
	}
	if len(errs) == 0 {
		if cycle := t.findCycle(); cycle != nil {
			errs = append(errs, fmt.Errorf("steps form a cycle: %s", strings.Join(cycle, " -> ")))
		}
	}
	return errors.Join(errs...)
}

// findCycle returns one dependency cycle as a path that starts and ends on
// the same step, or nil when the steps form a DAG.
func (t *Template) findCycle() []string {
	const (
		unvisited = iota
		onPath
		done
	)
	deps := map[string][]string{}
	for _, s := range t.Steps {
		deps[s.Name] = s.Dependencies()
	}
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = onPath
		path = append(path, n)
		for _, d := range deps[n] {
			switch state[d] {
			case onPath:
				start := 0
				for i, p := range path {
					if p == d {
						start = i
					}
				}
				// path runs child -> parent; reverse it so the cycle reads in execution order.
				cyc := append([]string{}, path[start:]...)
				for i, j := 0, len(cyc)-1; i < j; i, j = i+1, j-1 {
					cyc[i], cyc[j] = cyc[j], cyc[i]
				}
				return rotateToFirst(cyc, t.Steps)
			case unvisited:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, s := range t.Steps {
		if state[s.Name] == unvisited {
			if c := visit(s.Name); c != nil {
				return c
			}
		}
	}
	return nil
}

// stepDefinition is the normalised form of a step that create_task reads.
type stepDefinition struct {
	Name           string         `json:"name"`
	Handler        string         `json:"handler"`
	HandlerVersion string         `json:"handler_version,omitempty"`
	HandlerConfig  map[string]any `json:"handler_config,omitempty"`
	DependsOn      []string       `json:"depends_on"`
	Retryable      bool           `json:"retryable"`
	Skippable      bool           `json:"skippable"`
	RetryLimit     int            `json:"retry_limit"`
	BackoffBaseMS  int            `json:"backoff_base_ms"`
	BackoffMaxMS   int            `json:"backoff_max_ms"`
	TimeoutMS      *int           `json:"timeout_ms,omitempty"`
}

// Definition returns the template in the normalised JSON form the database
// stores (defaults applied, both dependency keys merged) and its digest.
func (t *Template) Definition() (json.RawMessage, string, error) {
	steps := make([]stepDefinition, 0, len(t.Steps))
	for _, s := range t.Steps {
		d := stepDefinition{
			Name: s.Name, Handler: s.Handler, HandlerVersion: s.HandlerVersion, HandlerConfig: s.HandlerConfig,
			DependsOn: s.Dependencies(), Retryable: true, Skippable: s.Skippable, RetryLimit: DefaultRetryLimit,
			BackoffBaseMS: DefaultBackoffBaseMS, BackoffMaxMS: DefaultBackoffMaxMS, TimeoutMS: s.TimeoutMS,
		}
		if d.DependsOn == nil {
			d.DependsOn = []string{}
		}
		if s.Retryable != nil {
			d.Retryable = *s.Retryable
		}
		if s.RetryLimit != nil {
			d.RetryLimit = *s.RetryLimit
		}
		if s.RetryBackoffMS != nil {
			d.BackoffBaseMS = *s.RetryBackoffMS
		}
		if s.RetryMaxMS != nil {
			d.BackoffMaxMS = *s.RetryMaxMS
		}
		steps = append(steps, d)
	}
	doc := map[string]any{"description": t.Description, "steps": steps, "concurrent": t.Concurrent == nil || *t.Concurrent}
	if len(t.Events) > 0 { // only then, so that templates without events keep their digest
		doc["events"] = t.Events
	}
	def, err := json.Marshal(doc)
	if err != nil {
		return nil, "", fmt.Errorf("template %s: encode definition: %w", t.Key(), err)
	}
	sum := sha256.Sum256(def)
	return def, hex.EncodeToString(sum[:]), nil
}

// rotateToFirst starts a cycle at whichever of its steps the template lists
// first, so the same template always reports the same cycle.
func rotateToFirst(cyc []string, steps []StepTemplate) []string {
	pos := map[string]int{}
	for i, s := range steps {
		pos[s.Name] = i
	}
	first := 0
	for i, n := range cyc {
		if pos[n] < pos[cyc[first]] {
			first = i
		}
	}
	out := append(append([]string{}, cyc[first:]...), cyc[:first]...)
	return append(out, out[0])
}
