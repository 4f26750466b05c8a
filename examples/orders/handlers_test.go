package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/tasker-systems/tasker/pluginsdk"
)

const orderContext = `{"order_id": 42, "amount_cents": 1999, "customer_email": "ada@example.com"}`

func request(attempt int, ctx string, deps map[string]string) pluginsdk.Request {
	results := map[string]json.RawMessage{}
	for step, raw := range deps {
		results[step] = json.RawMessage(raw)
	}
	return pluginsdk.Request{
		TaskID: 1, StepID: 2, Attempt: attempt,
		Context: json.RawMessage(ctx), HandlerConfig: json.RawMessage("null"),
		DependencyResults: results,
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestValidateOrder(t *testing.T) {
	t.Parallel()
	res, err := validateOrder(context.Background(), request(1, orderContext, nil))
	require.NoError(t, err)
	require.JSONEq(t, `{"order_id": 42, "valid": true, "amount_cents": 1999}`, asJSON(t, res))

	for _, bad := range []string{
		`{"order_id": 0, "amount_cents": 1999}`,
		`{"order_id": 42, "amount_cents": -5}`,
		`{"order_id": "x"}`,
	} {
		_, err := validateOrder(context.Background(), request(1, bad, nil))
		require.Error(t, err, bad)
		require.True(t, pluginsdk.IsPermanent(err), bad)
	}
}

func TestProcessPayment(t *testing.T) {
	t.Parallel()
	deps := map[string]string{"validate_order": `{"order_id": 42, "valid": true, "amount_cents": 1999}`}

	_, err := processPayment(context.Background(), request(1, orderContext, deps))
	require.EqualError(t, err, "payment gateway timed out (simulated transient failure on first attempt)")
	require.False(t, pluginsdk.IsPermanent(err))

	res, err := processPayment(context.Background(), request(2, orderContext, deps))
	require.NoError(t, err)
	require.JSONEq(t, `{"payment_id": "pay_42", "amount_cents": 1999, "status": "captured"}`, asJSON(t, res))

	_, err = processPayment(context.Background(), request(2, orderContext, nil))
	require.ErrorContains(t, err, `no result from dependency step "validate_order"`)
	require.True(t, pluginsdk.IsPermanent(err))
}

func TestSendConfirmation(t *testing.T) {
	t.Parallel()
	deps := map[string]string{"process_payment": `{"payment_id": "pay_42", "amount_cents": 1999, "status": "captured"}`}
	res, err := sendConfirmation(context.Background(), request(1, orderContext, deps))
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, json.Unmarshal([]byte(asJSON(t, res)), &got))
	require.Equal(t, "ada@example.com", got["sent_to"])
	require.Equal(t, "pay_42", got["payment_id"])
	require.Contains(t, got["message"], "Order 42 confirmed")
}

func TestTemplateUsesOurHandlers(t *testing.T) {
	t.Parallel()
	data, err := fs.ReadFile(files, "templates/order_process.yaml")
	require.NoError(t, err)
	var tmpl struct {
		Name          string `yaml:"name"`
		StepTemplates []struct {
			Name    string `yaml:"name"`
			Handler string `yaml:"handler"`
		} `yaml:"step_templates"`
	}
	require.NoError(t, yaml.Unmarshal(data, &tmpl))
	require.Equal(t, "order_process", tmpl.Name)
	require.Len(t, tmpl.StepTemplates, 3)
	for _, st := range tmpl.StepTemplates {
		require.Contains(t, handlers(), st.Handler)
	}
}
