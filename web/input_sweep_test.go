package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The input sweep: every route of s.Routes() (so routes added later are
// covered too) gets malformed, oversized, wrong-typed and injection-shaped
// input, and must answer 4xx with a problem document, never 5xx and never
// 2xx, while the tasks, steps, edges and both transition tables stay
// byte-for-byte the same.

// badValues are sent in place of every path parameter and every query
// parameter a route knows.
var badValues = []string{
	"1 OR 1=1",
	"'; drop table tasker.tasks; --",
	"1; delete from tasker.workflow_steps",
	"../../etc/passwd",
	"\x00",
	"%00",
	"123456789012345678901234567890",
	"-1",
	"0",
	"1.5",
	"0x10",
	" 1",
	"ä",
	"<script>alert(1)</script>",
	strings.Repeat("a", 10_000),
}

// queryParams lists the query parameters each route reads, and which of
// badValues each one rightly accepts (a well-formed value that matches
// nothing): those must answer 2xx and change nothing; all others must be
// refused.
var queryParams = map[string]map[string][]string{
	"GET /tasks": {
		"status": nil, "sort": nil, "limit": nil, "version": nil,
		"offset": {"0"},
		// Template names are lowercase letters, digits, '_', '-' and '.'.
		"namespace": {"0", "1.5", "0x10", "123456789012345678901234567890"},
		"name":      {"0", "1.5", "0x10", "123456789012345678901234567890"},
		// Tags are free text: any printable value of 1 to 64 characters
		// without commas is a tag, so most of these are well-formed names.
		"tags": {"1 OR 1=1", "'; drop table tasker.tasks; --", "1; delete from tasker.workflow_steps", "../../etc/passwd", "%00",
			"123456789012345678901234567890", "-1", "0", "1.5", "0x10", " 1", "ä", "<script>alert(1)</script>"},
	},
	"GET /tasks/{id}":                  {"include_dependencies": {"0"}},
	"GET /handlers/{namespace}/{name}": {"version": nil},
}

// badBodies are sent to every route that is not a GET, with valid path
// parameters; a route that takes no body must refuse them as well or
// ignore them without changing anything.
func badBodies(maxBody int) map[string]string {
	return map[string]string{
		"malformed":          `{"reason": `,
		"malformed trailing": `{"reason": "x"} {"reason": "y"}`,
		"not JSON":           `reason=x`,
		"array":              `[{"reason": "x"}]`,
		"string":             `"x"`,
		"number":             `5`,
		"null":               `null`,
		"oversized":          `{"reason": "` + strings.Repeat("x", maxBody) + `"}`,
		"unknown field":      `{"bogus": 1}`,
		"unknown and known":  `{"reason": "x", "name": "pipeline", "retry_limit": 3, "status": "complete"}`,
		"reason number":      `{"reason": 5}`,
		"reason object":      `{"reason": {"$ne": null}}`,
		"name number":        `{"name": 5}`,
		"context array":      `{"name": "pipeline", "namespace": "shop", "context": [1]}`,
		"tags string":        `{"tags": "a"}`,
		"tags numbers":       `{"tags": [1, 2]}`,
		"retry_limit string": `{"retry_limit": "3"}`,
		"retry_limit float":  `{"retry_limit": 1.5}`,
		"retry_limit huge":   `{"retry_limit": 1e40}`,
		"retry_limit zero":   `{"retry_limit": 0}`,
		"inputs array":       `{"inputs": [1]}`,
		"inputs string":      `{"inputs": "x"}`,
		"bypass_steps str":   `{"name": "pipeline", "namespace": "shop", "bypass_steps": "fetch"}`,
		"injection name":     `{"name": "pipeline'; drop table tasker.tasks; --", "namespace": "shop"}`,
		"traversal name":     `{"name": "../../etc/passwd"}`,
		"nul initiator":      `{"name": "pipeline", "namespace": "shop", "initiator": "a\u0000b"}`,
		"long reason":        `{"name": "pipeline", "namespace": "shop", "reason": "` + strings.Repeat("r", 1001) + `"}`,
		"long action reason": `{"reason": "` + strings.Repeat("r", 1001) + `"}`,
		"control in reason":  `{"reason": "a\u0007b"}`,
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// digest fingerprints every row the API could change.
func (e *patchEnv) digest(t *testing.T) string {
	t.Helper()
	var d string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select concat_ws('|',
		(select md5(coalesce(string_agg(t::text, ',' order by task_id), '')) from tasker.tasks t),
		(select md5(coalesce(string_agg(s::text, ',' order by step_id), '')) from tasker.workflow_steps s),
		(select md5(coalesce(string_agg(e::text, ',' order by from_step_id, to_step_id), '')) from tasker.workflow_step_edges e),
		(select md5(coalesce(string_agg(x::text, ',' order by transition_id), '')) from tasker.task_transitions x),
		(select md5(coalesce(string_agg(x::text, ',' order by transition_id), '')) from tasker.step_transitions x),
		(select md5(coalesce(string_agg(x::text, ',' order by template_id), '')) from tasker.task_templates x))`).Scan(&d))
	return d
}

// raw sends a request with a path already escaped and returns the status,
// content type and body.
func (e *patchEnv) raw(method, escapedPath, body string) (int, string, string) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/tasker"+escapedPath, rd)
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()
}

func TestInputSweepRefusesBadInputAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := newPatchEnv(t)
	id, steps := e.newTask(t, `{"name": "pipeline", "namespace": "shop", "tags": ["a"]}`)
	// One step in error too, so that retries and resolves have something to act on.
	e.claim(t, "fetch")
	e.fail(t, steps["fetch"], 1)
	valid := map[string]string{"id": fmt.Sprint(id), "step_id": fmt.Sprint(steps["fetch"]), "namespace": "shop", "name": "pipeline", "event_id": "1"}
	fill := func(path string, bad map[string]string) string {
		return pathParam.ReplaceAllStringFunc(path, func(m string) string {
			name := m[1 : len(m)-1]
			if v, ok := bad[name]; ok {
				return url.PathEscape(v)
			}
			v, ok := valid[name]
			require.True(t, ok, "the sweep has no valid value for path parameter %s: add one", name)
			return v
		})
	}
	refused := func(what string, code int, ctype, body string) {
		t.Helper()
		require.GreaterOrEqual(t, code, 400, "%s: answered %d %s", what, code, clip(body))
		require.Less(t, code, 500, "%s: answered %d %s", what, code, clip(body))
		require.Equal(t, "application/problem+json", ctype, "%s: %s", what, clip(body))
	}

	before := e.digest(t)
	maxBody := 1 << 20 // web.Config's default
	var sent int
	for _, rt := range e.api.Routes() {
		key := rt.Method + " " + rt.Path
		// Path parameters, one at a time.
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			for _, v := range badValues {
				body := ""
				if rt.Method == http.MethodPatch {
					body = `{"reason": "x", "retry_limit": 3}`
				}
				path := fill(rt.Path, map[string]string{m[1]: v})
				code, ctype, resp := e.raw(rt.Method, path, body)
				refused(fmt.Sprintf("%s with %s=%q", key, m[1], clip(v)), code, ctype, resp)
				sent++
			}
		}
		// Query parameters.
		for param, accepted := range queryParams[key] {
			for _, v := range badValues {
				what := fmt.Sprintf("%s?%s=%q", key, param, clip(v))
				code, ctype, resp := e.raw(rt.Method, fill(rt.Path, nil)+"?"+url.Values{param: {v}}.Encode(), "")
				if slices.Contains(accepted, v) {
					require.Equal(t, http.StatusOK, code, "%s is well-formed: %s", what, clip(resp))
				} else {
					refused(what, code, ctype, resp)
				}
				sent++
			}
		}
		// Bodies.
		if rt.Method != http.MethodGet {
			for name, body := range badBodies(maxBody) {
				code, ctype, resp := e.raw(rt.Method, fill(rt.Path, nil), body)
				refused(fmt.Sprintf("%s with a %s body", key, name), code, ctype, resp)
				if name == "oversized" {
					require.Equal(t, http.StatusRequestEntityTooLarge, code, "%s: %s", key, clip(resp))
				}
				sent++
			}
		}
		require.Equal(t, before, e.digest(t), "%s changed the database", key)
	}
	require.Greater(t, sent, 500)
	t.Logf("%d requests over %d routes, all refused or matching nothing", sent, len(e.api.Routes()))
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
