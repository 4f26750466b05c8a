package httpstep

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

func TestDecoding(t *testing.T) {
	t.Parallel()
	var got struct {
		ID int `json:"id"`
	}
	err := New().GetJSON(context.Background(), serve(t, 200, nil, `<html>maintenance</html>`).URL, &got)
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "decoding the JSON response")
	require.Contains(t, err.Error(), "<html>maintenance</html>")

	err = New().GetJSON(context.Background(), serve(t, 200, nil, `{"id": "seven"}`).URL, &got)
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)

	err = New().GetJSON(context.Background(), serve(t, 200, nil, ``).URL, &got)
	require.True(t, pluginsdk.IsPermanent(err), "an empty 200 body: %v", err)

	require.NoError(t, New().GetJSON(context.Background(), serve(t, 200, nil, `{"id": 7}`).URL, &got))
	require.Equal(t, 7, got.ID)

	// A connection that breaks mid-body is a network failure, not bad JSON.
	c := &Client{HTTP: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		body := io.NopCloser(io.MultiReader(strings.NewReader(`{"id":`), errReader{io.ErrUnexpectedEOF}))
		return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: body, Request: r}, nil
	})}}
	err = c.GetJSON(context.Background(), "http://api.invalid/x", &got)
	require.Equal(t, "retryable", kind(err), "%v", err)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestPostJSONSendsJSON(t *testing.T) {
	t.Parallel()
	var seen http.Header
	var sent map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		require.Equal(t, http.MethodPost, r.Method)
		require.NoError(t, json.NewDecoder(r.Body).Decode(&sent))
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id": 99}`)
	}))
	t.Cleanup(srv.Close)
	var out struct {
		ID int `json:"id"`
	}
	c := New()
	c.UserAgent = "shop-plugin/1.0"
	require.NoError(t, c.PostJSON(context.Background(), srv.URL+"/orders", map[string]any{"cart_id": 7}, &out))
	require.Equal(t, 99, out.ID)
	require.Equal(t, map[string]any{"cart_id": float64(7)}, sent)
	require.Equal(t, "application/json", seen.Get("Content-Type"))
	require.Equal(t, "application/json", seen.Get("Accept"))
	require.Equal(t, "shop-plugin/1.0", seen.Get("User-Agent"))

	// A request's own User-Agent and headers win.
	req, err := NewJSONRequest(context.Background(), http.MethodPost, srv.URL+"/orders", map[string]int{"a": 1})
	require.NoError(t, err)
	req.Header.Set("User-Agent", "mine")
	req.Header.Set("Idempotency-Key", "task-1")
	require.NoError(t, c.DoJSON(context.Background(), req, nil))
	require.Equal(t, "mine", seen.Get("User-Agent"))
	require.Equal(t, "task-1", seen.Get("Idempotency-Key"))
}

func TestBadRequestsArePermanent(t *testing.T) {
	t.Parallel()
	err := New().GetJSON(context.Background(), "http://exa mple.com/?key=s3cret", nil)
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)
	require.NotContains(t, err.Error(), "s3cret")

	err = New().GetJSON(context.Background(), "/relative/path", nil)
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "not an absolute http or https URL")

	err = New().GetJSON(context.Background(), "ftp://example.com/x", nil)
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)

	err = New().PostJSON(context.Background(), "http://example.com/x", map[string]any{"f": func() {}}, nil)
	require.True(t, pluginsdk.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "encoding the request body")
	require.False(t, errors.Is(err, context.Canceled))
}
