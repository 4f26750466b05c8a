package httpstep

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tasker-systems/tasker/pluginsdk"
)

// DoJSON sends req with Do and decodes a 2xx JSON body into out (nil out,
// or a 204 response, discards the body). A body that cannot be read because
// the connection failed is retryable; one that is not valid JSON for out,
// or larger than MaxBodyBytes, is permanent.
func (c *Client) DoJSON(ctx context.Context, req *http.Request, out any) error {
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	where := redact(req.URL)
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: reading the response: %w", req.Method, where, ctx.Err())
		}
		return pluginsdk.Retryable(fmt.Errorf("%s %s: reading the response: %w", req.Method, where, err))
	}
	if len(body) > MaxBodyBytes {
		return pluginsdk.PermanentErrorf("%s %s: %s: the response body exceeds %d bytes", req.Method, where, resp.Status, MaxBodyBytes)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return pluginsdk.PermanentErrorf("%s %s: %s: decoding the JSON response: %v; body: %s",
			req.Method, where, resp.Status, err, excerpt(body))
	}
	return nil
}

// GetJSON sends GET url and decodes the 2xx JSON response into out.
func (c *Client) GetJSON(ctx context.Context, url string, out any) error {
	req, err := NewJSONRequest(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	return c.DoJSON(ctx, req, out)
}

// PostJSON sends body encoded as JSON with POST url and decodes the 2xx
// JSON response into out (nil to ignore it).
func (c *Client) PostJSON(ctx context.Context, url string, body, out any) error {
	req, err := NewJSONRequest(ctx, http.MethodPost, url, body)
	if err != nil {
		return err
	}
	return c.DoJSON(ctx, req, out)
}

// NewJSONRequest builds a request whose body is body encoded as JSON (no
// body when body is nil) and that accepts JSON, for handlers that need to
// add headers (an Idempotency-Key, say) before DoJSON. Errors (a bad URL,
// a body that cannot be encoded) are permanent.
func NewJSONRequest(ctx context.Context, method, rawURL string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, pluginsdk.PermanentErrorf("%s %s: encoding the request body: %v", method, redactString(rawURL), err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, r)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the URL
		}
		return nil, pluginsdk.PermanentErrorf("%s %s: %v", method, redactString(rawURL), err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}
