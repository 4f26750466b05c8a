package main

import (
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

// loadTemplate parses the plugin's only template, templates/api_order.yaml.
func loadTemplate(t *testing.T) *core.Template {
	t.Helper()
	names, err := fs.Glob(files, "templates/*.yaml")
	require.NoError(t, err)
	require.Equal(t, []string{"templates/api_order.yaml"}, names)
	data, err := fs.ReadFile(files, names[0])
	require.NoError(t, err)
	tmpl, err := core.ParseTemplate(core.TemplateSource{Origin: names[0], YAML: data})
	require.NoError(t, err)
	return tmpl
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	tmpl := loadTemplate(t)
	require.Equal(t, "integrations/api_order@1.0.0", tmpl.Key())

	deps := map[string][]string{}
	for _, st := range tmpl.Steps {
		require.Equal(t, st.Name, st.Handler)
		require.Contains(t, handlers(), st.Handler)
		deps[st.Name] = st.Dependencies()
		require.NotNil(t, st.RetryBackoffMS, st.Name)
		require.LessOrEqual(t, *st.RetryBackoffMS, 100, "%s: a small backoff", st.Name)
		if st.Name == "validate_products" {
			require.Nil(t, st.HandlerConfig, "calls no API")
			continue
		}
		require.NotNil(t, st.RetryLimit, st.Name)
		require.Equal(t, 5, *st.RetryLimit, st.Name)
		require.Equal(t, map[string]any{"base_url": "http://127.0.0.1:9/shop"}, st.HandlerConfig, st.Name)
	}
	require.Equal(t, map[string][]string{
		"fetch_cart": nil, "fetch_products": nil,
		"validate_products": {"fetch_cart", "fetch_products"},
		"create_order":      {"validate_products"},
		"publish_event":     {"create_order"},
	}, deps)

	schema, err := tmpl.CompileSchema()
	require.NoError(t, err)
	for ctx, ok := range map[string]bool{
		`{"cart_id": 7}`: true,
		`{"cart_id": 7, "api_base_url": "http://127.0.0.1:8080/shop"}`: true,
		`{}`:                                false,
		`{"cart_id": "7"}`:                  false,
		`{"cart_id": 7.5}`:                  false,
		`{"cart_id": 0}`:                    false,
		`{"cart_id": 7, "api_base_url": 1}`: false,
	} {
		_, err := schema.Apply(tmpl.Key(), json.RawMessage(ctx))
		require.Equal(t, ok, err == nil, "%s: %v", ctx, err)
	}
}
