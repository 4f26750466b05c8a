package httpstep

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// serve answers every request with status, the given headers and body.
func serve(t *testing.T, status int, header map[string]string, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// kind names the classification of err as the engine sees it.
func kind(err error) string {
	switch {
	case err == nil:
		return "ok"
	case pluginsdk.IsPermanent(err):
		return "permanent"
	default:
		return "retryable"
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		kind   string
		delay  time.Duration
	}{
		{"429 with delta-seconds", 429, map[string]string{"Retry-After": "7"}, "retryable", 7 * time.Second},
		{"503 with delta-seconds", 503, map[string]string{"Retry-After": " 2 "}, "retryable", 2 * time.Second},
		{"429 with zero", 429, map[string]string{"Retry-After": "0"}, "retryable", 0},
		{"429 without Retry-After", 429, nil, "retryable", 0},
		{"503 without Retry-After", 503, nil, "retryable", 0},
		{"429 with a bad Retry-After", 429, map[string]string{"Retry-After": "soon"}, "retryable", 0},
		{"503 with a negative Retry-After", 503, map[string]string{"Retry-After": "-5"}, "retryable", 0},
		{"429 with a date in the past", 429, map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, "retryable", 0},
		{"500", 500, nil, "retryable", 0},
		{"502 ignores Retry-After", 502, map[string]string{"Retry-After": "9"}, "retryable", 0},
		{"504", 504, nil, "retryable", 0},
		{"400", 400, nil, "permanent", 0},
		{"401", 401, nil, "permanent", 0},
		{"404", 404, nil, "permanent", 0},
		{"422", 422, nil, "permanent", 0},
		{"304", 304, nil, "permanent", 0},
		{"200", 200, nil, "ok", 0},
		{"204", 204, nil, "ok", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, tc.status, tc.header, `{}`)
			err := New().GetJSON(context.Background(), srv.URL+"/x", &map[string]any{})
			require.Equal(t, tc.kind, kind(err), "%v", err)
			require.Equal(t, tc.delay, pluginsdk.RetryDelay(err))
			if err != nil {
				var se *StatusError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tc.status, se.StatusCode)
				require.Equal(t, tc.delay, se.RetryAfter)
			}
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	at := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	srv := serve(t, 503, map[string]string{"Retry-After": at}, "")
	err := New().GetJSON(context.Background(), srv.URL, nil)
	require.Equal(t, "retryable", kind(err))
	d := pluginsdk.RetryDelay(err)
	require.Greater(t, d, 28*time.Second, "HTTP-dates have whole seconds")
	require.LessOrEqual(t, d, 30*time.Second)

	d, ok := parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", time.Date(1994, 11, 6, 8, 49, 0, 0, time.UTC))
	require.True(t, ok)
	require.Equal(t, 37*time.Second, d)
	d, ok = parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", time.Date(1994, 11, 6, 8, 49, 0, 0, time.UTC))
	require.True(t, ok, "RFC 850 dates are HTTP-dates too")
	require.Equal(t, 37*time.Second, d)
}

func TestRetryAfterIsCapped(t *testing.T) {
	t.Parallel()
	srv := serve(t, 429, map[string]string{"Retry-After": "86400"}, "")
	err := New().GetJSON(context.Background(), srv.URL, nil)
	require.Equal(t, DefaultMaxRetryAfter, pluginsdk.RetryDelay(err))

	c := &Client{MaxRetryAfter: 3 * time.Second}
	require.Equal(t, 3*time.Second, pluginsdk.RetryDelay(c.GetJSON(context.Background(), srv.URL, nil)))

	far := time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)
	srv = serve(t, 503, map[string]string{"Retry-After": far}, "")
	require.Equal(t, 3*time.Second, pluginsdk.RetryDelay(c.GetJSON(context.Background(), srv.URL, nil)))

	srv = serve(t, 429, map[string]string{"Retry-After": "99999999999999"}, "")
	require.Equal(t, DefaultMaxRetryAfter, pluginsdk.RetryDelay((&Client{}).GetJSON(context.Background(), srv.URL, nil)), "no overflow")
}

func TestMessageNamesTheCallAndQuotesTheBody(t *testing.T) {
	t.Parallel()
	body := `{"error": "no such cart",` + "\n  " + `"detail": "` + strings.Repeat("é", 300) + `"}`
	srv := serve(t, 404, nil, body)
	err := New().PostJSON(context.Background(), srv.URL+"/carts/7?api_key=s3cret&x=1#frag", map[string]int{"a": 1}, nil)
	require.True(t, pluginsdk.IsPermanent(err))
	msg := err.Error()
	require.True(t, strings.HasPrefix(msg, "POST "+srv.URL+"/carts/7: 404 Not Found: "), msg)
	require.NotContains(t, msg, "s3cret")
	require.NotContains(t, msg, "frag")
	require.Contains(t, msg, `{"error": "no such cart", "detail": "ééé`, "whitespace folded to one line")
	require.True(t, strings.HasSuffix(msg, "…"), "a long body is cut: %s", msg)
	require.NotContains(t, msg, "\uFFFD", "the cut does not split a rune")

	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.LessOrEqual(t, len(se.Body), 200+len("…"))
	require.Equal(t, srv.URL+"/carts/7", se.URL)

	// User information is dropped too.
	u := strings.Replace(srv.URL, "http://", "http://user:pw@", 1)
	err = New().GetJSON(context.Background(), u+"/x", nil)
	require.NotContains(t, err.Error(), "pw")
	require.Contains(t, err.Error(), "GET "+srv.URL+"/x: 404 Not Found")
}

// closeTracker is a response body that records being closed.
type closeTracker struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeTracker) Close() error { c.closed.Store(true); return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBodyClosedOnError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{404, 429, 500, 503} {
		body := &closeTracker{Reader: strings.NewReader(strings.Repeat("x", 1000))}
		c := &Client{HTTP: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{}, Body: body, Request: r}, nil
		})}}
		req, err := http.NewRequest(http.MethodGet, "http://api.invalid/x", nil)
		require.NoError(t, err)
		resp, err := c.Do(context.Background(), req)
		require.Error(t, err)
		require.Nil(t, resp)
		require.True(t, body.closed.Load(), "status %d", status)
	}
}

func TestNetworkErrorsAndTimeoutsAreRetryable(t *testing.T) {
	t.Parallel()
	// Nothing listens on a port just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	err = New().GetJSON(context.Background(), "http://"+addr+"/x?token=s3cret", nil)
	require.Equal(t, "retryable", kind(err), "%v", err)
	require.Contains(t, err.Error(), "GET http://"+addr+"/x: ")
	require.NotContains(t, err.Error(), "s3cret")

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	c := &Client{HTTP: &http.Client{Timeout: 50 * time.Millisecond}}
	err = c.GetJSON(context.Background(), slow.URL, nil)
	require.Equal(t, "retryable", kind(err), "%v", err)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
}

func TestCancellationIsReturnedAsIs(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(started) })
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	err := New().GetJSON(ctx, srv.URL+"/x", nil)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, pluginsdk.IsPermanent(err))
	require.Zero(t, pluginsdk.RetryDelay(err))
	require.Equal(t, "GET "+srv.URL+"/x: context canceled", err.Error())

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	slow := serveSlowBody(t)
	err = New().GetJSON(ctx, slow.URL, &map[string]any{})
	require.ErrorIs(t, err, context.DeadlineExceeded, "a deadline while reading the body: %v", err)
}

// serveSlowBody sends a 200 header and part of the body, then waits.
func serveSlowBody(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"a": `)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}
