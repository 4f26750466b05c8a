package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ContextSchema checks a task's context against its template's JSON Schema.
type ContextSchema struct {
	schema *jsonschema.Schema
	doc    any // the schema as decoded JSON, walked to insert defaults
}

// Violation is one way a context fails its schema.
type Violation struct {
	// Path is a JSON pointer into the context ("" for the context itself).
	Path    string `json:"path"`
	Message string `json:"message"`
}

// ContextError lists every violation of a context, so the caller can fix
// them all at once.
type ContextError struct {
	Template   string
	Violations []Violation
}

func (e *ContextError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		path := v.Path
		if path == "" {
			path = "(context)"
		}
		parts[i] = path + ": " + v.Message
	}
	return fmt.Sprintf("context does not match the schema of task template %s: %s", e.Template, strings.Join(parts, "; "))
}

var printer = message.NewPrinter(language.English)

// CompileSchema compiles the template's schema; nil when it has none.
func (t *Template) CompileSchema() (*ContextSchema, error) {
	if t.Schema == nil {
		return nil, nil
	}
	raw, err := json.Marshal(t.Schema)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	// Draft 2020-12 unless the schema says otherwise.
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "tasker:///context.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema is not a valid JSON Schema: %w", err)
	}
	return &ContextSchema{schema: sch, doc: doc}, nil
}

// Apply inserts the schema's defaults for missing properties, then
// validates. It returns the context to store, or a *ContextError.
func (cs *ContextSchema) Apply(template string, ctx json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(ctx)) == 0 {
		ctx = json.RawMessage(`{}`)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(ctx))
	if err != nil {
		return nil, &ContextError{Template: template, Violations: []Violation{{Message: "not valid JSON: " + err.Error()}}}
	}
	v = insertDefaults(cs.doc, v)
	if err := cs.schema.Validate(v); err != nil {
		verr, ok := err.(*jsonschema.ValidationError)
		if !ok {
			return nil, fmt.Errorf("validate context: %w", err)
		}
		return nil, &ContextError{Template: template, Violations: violations(verr)}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode context: %w", err)
	}
	return out, nil
}

// insertDefaults fills in the "default" of each property missing from an
// object, recursively through "properties". It does not follow $ref or
// combinators: defaults live on plain properties in practice.
func insertDefaults(schema, v any) any {
	s, ok := schema.(map[string]any)
	obj, isObj := v.(map[string]any)
	if !ok || !isObj {
		return v
	}
	props, _ := s["properties"].(map[string]any)
	for name, ps := range props {
		psm, _ := ps.(map[string]any)
		if cur, present := obj[name]; present {
			obj[name] = insertDefaults(psm, cur)
		} else if def, has := psm["default"]; has {
			obj[name] = insertDefaults(psm, def)
		}
	}
	return obj
}

// violations flattens the error tree to its leaves, which say what is wrong
// where; the inner nodes only group them.
func violations(e *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			path := ""
			for _, p := range e.InstanceLocation {
				path += "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
			}
			out = append(out, Violation{Path: path, Message: e.ErrorKind.LocalizedString(printer)})
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
