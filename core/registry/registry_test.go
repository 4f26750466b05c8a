package registry

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
)

func tpl(ns, name, version string) Entry {
	return Entry{Template: &core.Template{Namespace: ns, Name: name, Version: version,
		Steps: []core.StepTemplate{{Name: "a", Handler: "h"}}}, Origin: name + "-" + version + ".yaml"}
}

func TestLookupPicksVersions(t *testing.T) {
	t.Parallel()
	r := New()
	for _, v := range []string{"1.2.0", "1.10.0", "1.10.0-rc.1", "0.9.9"} {
		require.NoError(t, r.AddTemplate(tpl("default", "orders", v), false))
	}
	e, err := r.Lookup("", "orders", "")
	require.NoError(t, err)
	require.Equal(t, "1.10.0", e.Template.Version, "highest version, numerically, release over pre-release")

	e, err = r.Lookup("default", "orders", "1.2.0")
	require.NoError(t, err)
	require.Equal(t, "1.2.0", e.Template.Version)

	_, err = r.Lookup("default", "orders", "2.0.0")
	require.ErrorIs(t, err, core.ErrNotFound)
	require.ErrorContains(t, err, "available: 0.9.9, 1.10.0, 1.10.0-rc.1, 1.2.0")

	_, err = r.Lookup("payments", "orders", "")
	require.ErrorIs(t, err, core.ErrNotFound)
	require.ErrorContains(t, err, `no task template named "orders" in namespace "payments"`)
}

func TestAddTemplateConflict(t *testing.T) {
	t.Parallel()
	r := New()
	require.NoError(t, r.AddTemplate(tpl("default", "orders", "1.0.0"), false))
	err := r.AddTemplate(tpl("default", "orders", "1.0.0"), false)
	require.ErrorContains(t, err, "already registered from orders-1.0.0.yaml")
	require.NoError(t, r.AddTemplate(tpl("default", "orders", "1.0.0"), true))
}

func TestCheckHandlers(t *testing.T) {
	t.Parallel()
	r := New()
	e := tpl("default", "orders", "1.0.0")
	require.ErrorContains(t, r.CheckHandlers(e.Template), `step "a" uses handler "h", which no loaded plugin provides`)
	require.NoError(t, r.AddUnversioned(map[string]core.Handler{"h": nil}))
	require.NoError(t, r.CheckHandlers(e.Template))
	require.ErrorContains(t, r.AddUnversioned(map[string]core.Handler{"h": nil}), `handler "h" is registered twice`)

	e.Template.Steps[0].HandlerVersion = "^1"
	require.ErrorContains(t, r.CheckHandlers(e.Template),
		`step "a": handler "h" has no loaded version satisfying "^1" (loaded: plugin in-process v0.0.0)`)
	e.Template.Steps[0].HandlerVersion = "not a constraint"
	require.ErrorContains(t, r.CheckHandlers(e.Template), `step "a": handler_version "not a constraint" is not a semver constraint`)
}

// stamp is a handler that stands for one plugin version.
type stamp struct {
	version string
	limit   int
}

func (s stamp) Execute(context.Context, core.StepRequest) (json.RawMessage, error) { return nil, nil }
func (s stamp) MaxConcurrency() int                                                { return s.limit }

func TestHandlerVersionSelection(t *testing.T) {
	t.Parallel()
	r := New()
	// Registered out of order: selection must not depend on it.
	for _, v := range []string{"1.1.0", "2.0.0-rc.1", "1.0.0", "2.0.0", "1.2.3"} {
		require.NoError(t, r.AddHandlers("orders", v, map[string]core.Handler{"pay": stamp{version: v, limit: len(v)}}))
	}
	for constraint, want := range map[string]string{
		"":               "2.0.0",
		"1.0.0":          "1.0.0",
		"~1.1":           "1.1.0",
		"^1":             "1.2.3",
		">=1.1, <2":      "1.2.3",
		"1.1.0 || 1.0.0": "1.1.0",
		">=2.0.0-rc":     "2.0.0",
	} {
		h, version, err := r.Handler("pay", constraint)
		require.NoError(t, err, constraint)
		require.Equal(t, want, version, constraint)
		require.Equal(t, want, h.(stamp).version, constraint)
	}

	_, _, err := r.Handler("pay", "^3")
	require.EqualError(t, err, `handler "pay" has no loaded version satisfying "^3" (loaded: plugin orders v1.0.0, v1.1.0, v1.2.3, v2.0.0-rc.1, v2.0.0)`)
	_, _, err = r.Handler("nope", "")
	require.EqualError(t, err, `handler "nope" is not provided by any loaded plugin`)
	_, _, err = r.Handler("pay", "bad")
	require.ErrorContains(t, err, `handler "pay": handler_version "bad" is not a semver constraint`)

	require.Equal(t, map[string]int{"pay": len("2.0.0")}, r.Limits(), "the limit of the highest version")
}

func TestHandlerConflicts(t *testing.T) {
	t.Parallel()
	r := New()
	require.NoError(t, r.AddHandlers("orders", "1.0.0", map[string]core.Handler{"pay": stamp{}, "ship": stamp{}}))
	require.NoError(t, r.AddHandlers("orders", "1.1.0", map[string]core.Handler{"pay": stamp{}}), "versions of one plugin side by side")

	err := r.AddHandlers("billing", "3.0.0", map[string]core.Handler{"refund": stamp{}, "pay": stamp{}})
	require.EqualError(t, err, `handler "pay" of plugin billing v3.0.0 is already provided by plugin orders v1.1.0`)
	_, _, err = r.Handler("refund", "")
	require.Error(t, err, "a refused plugin registers none of its handlers")

	require.ErrorContains(t, r.AddHandlers("orders", "1.0.0", map[string]core.Handler{"ship": stamp{}}), `handler "ship" is registered twice (plugin orders v1.0.0)`)
	require.ErrorContains(t, r.AddHandlers("orders", "v1", map[string]core.Handler{"x": stamp{}}), `plugin orders: version "v1" is not a semantic version`)
}
