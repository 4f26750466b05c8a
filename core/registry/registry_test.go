package registry

import (
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
	require.NoError(t, r.AddHandlers(map[string]core.Handler{"h": nil}))
	require.NoError(t, r.CheckHandlers(e.Template))
	require.ErrorContains(t, r.AddHandlers(map[string]core.Handler{"h": nil}), `handler "h" is registered twice`)
}
