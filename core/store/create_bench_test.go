package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
)

// BenchmarkCreateBatch measures the SQL side of a burn-down's creation: 64
// diamond tasks created in one CreateTasks, as the creator shares one
// transaction among the requests that arrive together. It reports tasks/s.
func BenchmarkCreateBatch(b *testing.B) {
	const batch = 64
	ctx := context.Background()
	st := store.New(pgtest.New(b))
	tplID, err := st.RegisterTemplate(ctx, diamond(nil))
	require.NoError(b, err)
	cs := make([]store.Creation, batch)
	for i := range cs {
		cs[i] = store.Creation{NewTask: store.NewTask{TemplateID: tplID},
			Request: core.TaskRequest{Context: json.RawMessage(`{"order_id": 7}`), Tags: []string{"bench"}}}
	}
	for b.Loop() {
		got, err := st.CreateTasks(ctx, cs)
		require.NoError(b, err)
		require.Len(b, got, batch)
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "tasks/s")
}
