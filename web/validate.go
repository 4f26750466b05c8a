package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tasker-systems/tasker/core"
)

// The rules every input meets before it reaches the database, shared by the
// routes that take the same field. A violation is a 400 whose detail names
// the field or parameter and the rule.

const (
	maxTags      = 50   // tags on one task
	maxTagLen    = 64   // characters in one tag
	maxReasonLen = 1000 // characters in a reason
	maxTextLen   = 255  // characters in initiator, source_system, idempotency_key, a step name
	maxIdentLen  = 128  // characters in a namespace, template name or version
	maxBypass    = 100  // steps named in bypass_steps
	maxRetry     = 1000 // a step's retry_limit
)

// checkText refuses a string longer than max characters or holding a
// control character (NUL, newlines, escapes...).
func checkText(field, v string, max int) error {
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Errorf("%s is %d characters long; the limit is %d", field, n, max)
	}
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return fmt.Errorf("%s must not contain control characters (found %U at byte %d)", field, []rune(v[i:])[0], i)
	}
	return nil
}

// checkReason applies the rule of a reason (task or operator action).
func checkReason(field, v string) error { return checkText(field, v, maxReasonLen) }

// checkTags checks a list of tags and returns it without duplicates (the
// first of each kept, in order). A tag is 1 to 64 characters, without
// control characters, commas or spaces at either end, since GET /tasks
// filters on tags=a,b with each name trimmed.
func checkTags(field string, tags []string) ([]string, error) {
	if len(tags) > maxTags {
		return nil, fmt.Errorf("%s has %d tags; the limit is %d", field, len(tags), maxTags)
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for i, tag := range tags {
		name := fmt.Sprintf("%s[%d]", field, i)
		if err := checkTag(name, tag); err != nil {
			return nil, err
		}
		if !seen[tag] {
			seen[tag] = true
			out = append(out, tag)
		}
	}
	return out, nil
}

func checkTag(field, tag string) error {
	switch {
	case tag == "":
		return fmt.Errorf("%s is empty; a tag has 1 to %d characters", field, maxTagLen)
	case strings.TrimSpace(tag) != tag:
		return fmt.Errorf("%s %q must not begin or end with spaces", field, tag)
	case strings.Contains(tag, ","):
		return fmt.Errorf("%s %q must not contain a comma (tags=a,b lists tags)", field, tag)
	}
	return checkText(fmt.Sprintf("%s %q", field, tag), tag, maxTagLen)
}

// checkIdent applies the naming rule of templates and namespaces.
func checkIdent(field, v string) error {
	if len(v) > maxIdentLen || !core.ValidIdentifier(v) {
		return fmt.Errorf("%s %q must be 1 to %d lowercase letters, digits, '_', '-' or '.', starting with a letter or digit",
			field, clip(v), maxIdentLen)
	}
	return nil
}

// checkVersion applies the version rule of templates.
func checkVersion(field, v string) error {
	if len(v) > maxIdentLen || !core.ValidVersion(v) {
		return fmt.Errorf("%s %q must be a semantic version like 1.0.0", field, clip(v))
	}
	return nil
}

// clip shortens a value quoted back in a message.
func clip(v string) string {
	if len(v) <= 80 {
		return v
	}
	return v[:77] + "..."
}

// checkTaskRequest validates what POST /tasks takes besides the context
// (whose template schema the engine applies) and removes duplicate tags.
func checkTaskRequest(req *core.TaskRequest) error {
	if req.Name == "" {
		return fmt.Errorf(`field "name" is required: the name of the task template to run`)
	}
	if err := checkIdent(`field "name"`, req.Name); err != nil {
		return err
	}
	if req.Namespace != "" {
		if err := checkIdent(`field "namespace"`, req.Namespace); err != nil {
			return err
		}
	}
	if req.Version != "" {
		if err := checkVersion(`field "version"`, req.Version); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"initiator", req.Initiator}, {"source_system", req.SourceSystem},
		{"idempotency_key", req.IdempotencyKey}} {
		if err := checkText(fmt.Sprintf("field %q", f.name), f.v, maxTextLen); err != nil {
			return err
		}
	}
	if err := checkReason(`field "reason"`, req.Reason); err != nil {
		return err
	}
	tags, err := checkTags(`field "tags"`, req.Tags)
	if err != nil {
		return err
	}
	if req.Tags != nil {
		req.Tags = tags
	}
	if len(req.BypassSteps) > maxBypass {
		return fmt.Errorf(`field "bypass_steps" names %d steps; the limit is %d`, len(req.BypassSteps), maxBypass)
	}
	for i, step := range req.BypassSteps {
		field := fmt.Sprintf(`field "bypass_steps"[%d]`, i)
		if step == "" {
			return fmt.Errorf("%s is empty: name a step of the template", field)
		}
		if err := checkText(field, step, maxTextLen); err != nil {
			return err
		}
	}
	return nil
}

// pathID reads a positive 64-bit integer path parameter, answering 400
// naming the parameter when it is not one.
func pathID(w http.ResponseWriter, r *http.Request, name, what string) (int64, bool) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("path parameter %s: %s id %q is not a positive integer (1 to %d)",
			name, what, clip(v), int64(1<<63-1)))
		return 0, false
	}
	return id, true
}

// pathIdent reads a namespace or template name path parameter, answering
// 400 naming the parameter when it breaks the naming rule.
func pathIdent(w http.ResponseWriter, r *http.Request, name string) (string, bool) {
	v := r.PathValue(name)
	if err := checkIdent("path parameter "+name, v); err != nil {
		writeProblem(w, r, http.StatusBadRequest, err.Error())
		return "", false
	}
	return v, true
}

// boolParam reads an optional boolean query parameter: true/false or 1/0.
func boolParam(w http.ResponseWriter, r *http.Request, name string) (bool, bool) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, true
	case "true", "1":
		return true, true
	default:
		writeProblem(w, r, http.StatusBadRequest, fmt.Sprintf("query parameter %s=%q must be true or false (or 1 or 0)", name, clip(v)))
		return false, false
	}
}
