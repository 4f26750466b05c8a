package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// EventDeclaration is a custom event a template's handlers may publish.
type EventDeclaration struct {
	// Name is <lowercase>.<lowercase> (order.shipped), outside the
	// namespaces of the built-in events (ReservedEventNamespaces).
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Schema, optional, is a JSON Schema (2020-12 by default) the payload must match.
	Schema map[string]any `yaml:"schema" json:"schema,omitempty"`
}

// ReservedEventNamespaces are the first parts of the built-in event names
// (core/events.Catalog); custom events may not use them.
var ReservedEventNamespaces = []string{"task", "step", "engine", "plugin", "template", "handler"}

func (t *Template) validateEvents() []error {
	var errs []error
	seen := map[string]bool{}
	for i, e := range t.Events {
		switch {
		case !EventNameRe.MatchString(e.Name):
			errs = append(errs, fmt.Errorf("events[%d]: name %q must be <lowercase>.<lowercase>, like order.shipped", i, e.Name))
			continue
		case seen[e.Name]:
			errs = append(errs, fmt.Errorf("event %q is declared twice", e.Name))
		}
		seen[e.Name] = true
		ns, _, _ := strings.Cut(e.Name, ".")
		for _, r := range ReservedEventNamespaces {
			if ns == r {
				errs = append(errs, fmt.Errorf("event %q: the namespace %s. belongs to tasker's built-in events (%s.*); choose another",
					e.Name, ns, ns))
			}
		}
		if _, err := e.compile(); err != nil {
			errs = append(errs, fmt.Errorf("event %q: %w", e.Name, err))
		}
	}
	return errs
}

func (e EventDeclaration) compile() (*jsonschema.Schema, error) {
	if e.Schema == nil {
		return nil, nil
	}
	raw, err := json.Marshal(e.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "tasker:///events/" + e.Name + ".schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema is not a valid JSON Schema: %w", err)
	}
	return sch, nil
}

// CheckPublishedEvents checks the custom events a handler published
// against the template's declarations: each name must be declared and its
// payload must match the declared schema. The error names the event.
func (t *Template) CheckPublishedEvents(published []PublishedEvent) error {
	for _, p := range published {
		var decl *EventDeclaration
		for i := range t.Events {
			if t.Events[i].Name == p.Name {
				decl = &t.Events[i]
			}
		}
		if decl == nil {
			return fmt.Errorf("the handler published event %q, which task template %s does not declare (declare it under events:)", p.Name, t.Key())
		}
		sch, err := decl.compile()
		if err != nil || sch == nil {
			continue // compiled at load; an error cannot happen here
		}
		payload := p.Payload
		if len(bytes.TrimSpace(payload)) == 0 {
			payload = json.RawMessage("null")
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("event %q: payload is not valid JSON: %v", p.Name, err)
		}
		if err := sch.Validate(v); err != nil {
			if verr, ok := err.(*jsonschema.ValidationError); ok {
				parts := []string{}
				for _, vi := range violations(verr) {
					path := vi.Path
					if path == "" {
						path = "(payload)"
					}
					parts = append(parts, path+": "+vi.Message)
				}
				return fmt.Errorf("event %q: payload does not match its declared schema: %s", p.Name, strings.Join(parts, "; "))
			}
			return fmt.Errorf("event %q: %v", p.Name, err)
		}
	}
	return nil
}
