// Package httpstep helps step handlers that call HTTP APIs: it sends the
// request and turns every way the call can fail into the error the tasker
// engine needs, so that a handler can simply return it.
//
//	var api = httpstep.New()
//
//	func fetchCart(ctx context.Context, req pluginsdk.Request) (any, error) {
//		var cart Cart
//		if err := api.GetJSON(ctx, baseURL+"/carts/7", &cart); err != nil {
//			return nil, err // already classified for the engine
//		}
//		return cart, nil
//	}
//
// Classification (see Do):
//
//   - 429 Too Many Requests and 503 Service Unavailable with a Retry-After
//     header (delta-seconds or HTTP-date): pluginsdk.RetryAfter with that
//     delay, capped at Client.MaxRetryAfter; without the header: retryable.
//   - any other 4xx, and 1xx/3xx responses that reach the caller:
//     pluginsdk.Permanent. Retrying the same request cannot help.
//   - other 5xx: retryable.
//   - network errors and timeouts (including Client.HTTP.Timeout): retryable.
//   - cancellation or deadline of the handler's ctx: returned unmarked,
//     wrapping ctx.Err(), so errors.Is(err, context.Canceled) holds.
//   - a 2xx body that GetJSON, PostJSON or DoJSON cannot decode: permanent.
//
// Error messages name the method, the URL without its query string and user
// information (which often hold secrets), the status, and the first 200
// bytes of the response body. Failed HTTP responses are also available as a
// *StatusError through errors.As.
//
// The client never retries by itself: the engine retries the step, with the
// step template's backoff and retry limit.
package httpstep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tasker-systems/tasker/pluginsdk"
)

const (
	// DefaultTimeout is the whole-call timeout of the http.Client that New
	// (and a Client with a nil HTTP) uses.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetryAfter caps a server-requested delay when
	// Client.MaxRetryAfter is zero.
	DefaultMaxRetryAfter = 10 * time.Minute
	// MaxBodyBytes is the largest 2xx body that the JSON helpers decode;
	// a larger one is a permanent error.
	MaxBodyBytes = 32 << 20
	// excerptBytes is how much of an error response's body messages quote.
	excerptBytes = 200
)

// defaultHTTP is used by a Client whose HTTP is nil.
var defaultHTTP = &http.Client{Timeout: DefaultTimeout}

// Client sends HTTP requests for step handlers and classifies failures.
// The zero value is usable; a Client is safe for concurrent use as long as
// its fields are not changed meanwhile.
type Client struct {
	// HTTP sends the requests; nil means a shared client with
	// DefaultTimeout.
	HTTP *http.Client
	// MaxRetryAfter caps the delay a server asks for with Retry-After, so a
	// misbehaving API cannot park a step for a day; 0 means
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// UserAgent, when not empty, is sent unless the request sets its own.
	UserAgent string
}

// New returns a Client with its own http.Client (timeout DefaultTimeout),
// MaxRetryAfter DefaultMaxRetryAfter and User-Agent "tasker-httpstep".
func New() *Client {
	return &Client{
		HTTP:          &http.Client{Timeout: DefaultTimeout},
		MaxRetryAfter: DefaultMaxRetryAfter,
		UserAgent:     "tasker-httpstep",
	}
}

// StatusError describes a response whose status is not 2xx. Errors from Do
// wrap it (inside the pluginsdk classification), so a handler can look at
// the status with errors.As, for example to treat a 404 as "nothing to do".
type StatusError struct {
	Method     string
	URL        string // without query string and user information
	StatusCode int
	Status     string // as the server sent it, "404 Not Found"
	Body       string // the first 200 bytes of the body, as valid UTF-8
	// RetryAfter is the delay the server asked for (capped), 0 when none.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Status)
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Do sends req with ctx and returns the response when its status is 2xx;
// the caller then closes its body. Every other outcome is an error
// classified for the engine as the package documentation describes, and
// the response body, if any, is already closed.
func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	req = req.WithContext(ctx)
	where := redact(req.URL)
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		return nil, pluginsdk.PermanentErrorf("%s %s: not an absolute http or https URL", req.Method, where)
	}
	if c.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, where, ctx.Err())
		}
		// url.Error's message repeats the full URL, query included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, pluginsdk.Retryable(fmt.Errorf("%s %s: %w", req.Method, where, err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, excerptBytes+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	se := &StatusError{Method: req.Method, URL: where, StatusCode: resp.StatusCode, Status: resp.Status, Body: excerpt(head)}
	if se.Status == "" {
		se.Status = strconv.Itoa(resp.StatusCode)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			se.RetryAfter = min(d, c.maxRetryAfter())
			return nil, pluginsdk.RetryAfter(se.RetryAfter, se)
		}
		return nil, pluginsdk.Retryable(se)
	case code >= 500:
		return nil, pluginsdk.Retryable(se)
	default:
		return nil, pluginsdk.Permanent(se)
	}
}

func (c *Client) maxRetryAfter() time.Duration {
	if c.MaxRetryAfter > 0 {
		return c.MaxRetryAfter
	}
	return DefaultMaxRetryAfter
}

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP-date
// (a date in the past means now, 0). ok is false when v is absent or bad.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const year = int64(365 * 24 * time.Hour / time.Second)
		secs = min(secs, year) // keeps the Duration from overflowing; capped later anyway
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// redact returns u without user information, query string and fragment.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

// redactString is redact for a URL that may not parse.
func redactString(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return redact(u)
	}
	raw, _, _ = strings.Cut(raw, "?")
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			raw = raw[:j+3] + raw[i+1:]
		}
	}
	return raw
}

// excerpt turns up to excerptBytes of a body into a one-line, valid UTF-8
// string for a message.
func excerpt(b []byte) string {
	truncated := len(b) > excerptBytes
	if truncated {
		b = b[:excerptBytes]
		// Drop a rune the cut split in two.
		for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
			if utf8.RuneStart(b[len(b)-i]) {
				if !utf8.FullRune(b[len(b)-i:]) {
					b = b[:len(b)-i]
				}
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if truncated {
		s += "…"
	}
	return s
}
