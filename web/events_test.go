package web_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core/events"
)

func TestEventCatalog(t *testing.T) {
	t.Parallel()
	cf := setup(t)
	resp, err := http.Get(cf.base + "/events/catalog")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got struct {
		Events []events.Spec `json:"events"`
		Custom []struct {
			Namespace, Name, Version string
			Events                   []struct{ Name, Description string }
		} `json:"custom"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, events.Catalog, got.Events)
	require.Len(t, got.Custom, 2, "both versions of the template declare it")
	require.Equal(t, "shop", got.Custom[0].Namespace)
	require.Equal(t, "order.charged", got.Custom[0].Events[0].Name)
}
