package core

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, doc string) (*Template, error) {
	t.Helper()
	return ParseTemplate(TemplateSource{Origin: "test.yaml", YAML: []byte(doc)})
}

const diamond = `
name: diamond
version: 1.2.0
step_templates:
  - name: start
    handler: h
  - name: left
    handler: h
    depends_on_step: start
    default_retry_limit: 5
    retry_backoff_ms: 50
  - name: right
    handler: h
    depends_on_steps: [start]
    default_retryable: false
  - name: join
    handler: h
    depends_on_step: left
    depends_on_steps: [left, right]
    handler_config: {url: "http://x"}
`

func TestParseTemplateValid(t *testing.T) {
	t.Parallel()
	tpl, err := parse(t, diamond)
	require.NoError(t, err)
	require.Equal(t, "default/diamond@1.2.0", tpl.Key())
	require.Equal(t, []string{"left", "right"}, tpl.Steps[3].Dependencies(), "both dependency keys count, once each")

	def, digest, err := tpl.Definition()
	require.NoError(t, err)
	require.Len(t, digest, 64)
	var got struct {
		Steps []stepDefinition `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(def, &got))
	require.Equal(t, stepDefinition{Name: "start", Handler: "h", DependsOn: []string{}, Retryable: true,
		RetryLimit: DefaultRetryLimit, BackoffBaseMS: DefaultBackoffBaseMS, BackoffMaxMS: DefaultBackoffMaxMS}, got.Steps[0])
	require.Equal(t, 5, got.Steps[1].RetryLimit)
	require.Equal(t, 50, got.Steps[1].BackoffBaseMS)
	require.False(t, got.Steps[2].Retryable)
	require.Equal(t, map[string]any{"url": "http://x"}, got.Steps[3].HandlerConfig)

	_, digest2, err := tpl.Definition()
	require.NoError(t, err)
	require.Equal(t, digest, digest2, "the digest is stable")
}

func TestParseTemplateRefusesBadTemplates(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		doc  string
		want []string
	}{
		"unknown dependency": {`
name: t
version: 1.0.0
step_templates:
  - {name: a, handler: h, depends_on_step: nope}`, []string{"test.yaml", `step "a" depends on unknown step "nope"`}},
		"duplicate step": {`
name: t
version: 1.0.0
step_templates:
  - {name: a, handler: h}
  - {name: a, handler: h}`, []string{`step "a" is defined twice`}},
		"cycle": {`
name: t
version: 1.0.0
step_templates:
  - {name: a, handler: h}
  - {name: b, handler: h, depends_on_steps: [a, d]}
  - {name: c, handler: h, depends_on_step: b}
  - {name: d, handler: h, depends_on_step: c}`, []string{"cycle: b -> c -> d -> b"}},
		"self dependency": {`
name: t
version: 1.0.0
step_templates:
  - {name: a, handler: h, depends_on_step: a}`, []string{`step "a" depends on itself`}},
		"unknown key": {`
name: t
version: 1.0.0
step_templates:
  - {name: a, handler: h, depend_on_step: x}`, []string{"invalid YAML", "depend_on_step"}},
		"malformed yaml": {"name: [t\n", []string{"test.yaml: invalid YAML"}},
		"bad version and no steps and no handler": {`
name: t
version: one
step_templates: []`, []string{`version "one" is not a semantic version`, "step_templates is empty"}},
		"missing handler, bad retry limit": {`
name: t
version: 1.0.0
step_templates:
  - {name: a, default_retry_limit: 0}`, []string{`step "a" has no handler`, "default_retry_limit is 0"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, tc.doc)
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
