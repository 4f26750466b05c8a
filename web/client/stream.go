package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// StreamOptions choose the events of StreamEvents.
type StreamOptions struct {
	// TaskID, when set, streams the events of one task: from its first one
	// unless After is set.
	TaskID int64
	// Events are globs of event names (task.*, step.failed); none means all.
	Events []string
	// After is the id of the last event received (sent as Last-Event-ID):
	// the stream resumes with the next one.
	After string
	// IdleTimeout ends the stream as dropped when nothing, not even a
	// heartbeat, arrived for that long (45s; the server beats every 15s).
	IdleTimeout time.Duration
}

// StreamEvent is one event of a stream: its SSE id (a cursor to resume
// after it), its name and the event.
type StreamEvent struct {
	ID    string
	Name  string
	Event core.Event
}

// ErrStreamEnded is returned by StreamEvents when the server closed the
// stream (it is shutting down) or it went silent: reconnect with the last id.
var ErrStreamEnded = errors.New("the event stream ended")

// StreamPath is the path of an event stream with opts' filters.
func StreamPath(opts StreamOptions) string {
	q := url.Values{}
	if opts.TaskID > 0 {
		q.Set("task_id", strconv.FormatInt(opts.TaskID, 10))
	}
	if len(opts.Events) > 0 {
		q.Set("events", strings.Join(opts.Events, ","))
	}
	if len(q) == 0 {
		return "/events/stream"
	}
	return "/events/stream?" + q.Encode()
}

// StreamEvents follows GET /events/stream and calls fn with each event, in
// order, until fn returns an error (returned as it is), ctx ends
// (ctx.Err()) or the stream ends (ErrStreamEnded, or a *ConnError when the
// connection broke). lastID is the id of the last event fn was given (or
// opts.After): pass it as After to resume. A refused request is an *Error.
func (c *Client) StreamEvents(ctx context.Context, opts StreamOptions, fn func(StreamEvent) error) (lastID string, err error) {
	lastID = opts.After
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = 45 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	target := strings.TrimRight(c.BaseURL, "/") + StreamPath(opts)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return lastID, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.Timeout = 0 // a stream lasts; silence is caught by the idle timer
	var timedOut atomic.Bool
	timer := time.AfterFunc(idle, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil && !timedOut.Load() {
			return lastID, ctx.Err()
		}
		return lastID, &ConnError{Method: http.MethodGet, URL: target, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var p struct {
			Detail string           `json:"detail"`
			Errors []core.Violation `json:"errors"`
		}
		if json.Unmarshal(data, &p) != nil || p.Detail == "" {
			p.Detail = strings.TrimSpace(string(data))
			if p.Detail == "" {
				p.Detail = http.StatusText(resp.StatusCode)
			}
		}
		return lastID, &Error{Status: resp.StatusCode, Detail: p.Detail, Errors: p.Errors}
	}
	rd := bufio.NewReaderSize(resp.Body, 64<<10)
	var ev StreamEvent
	var data strings.Builder
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			switch {
			case timedOut.Load():
				return lastID, fmt.Errorf("%w: nothing received for %s", ErrStreamEnded, idle)
			case ctx.Err() != nil:
				return lastID, ctx.Err()
			case errors.Is(err, io.EOF):
				return lastID, ErrStreamEnded
			}
			return lastID, &ConnError{Method: http.MethodGet, URL: target, Err: err}
		}
		timer.Reset(idle)
		line = strings.TrimRight(line, "\r\n")
		if line == "" { // the end of one event
			if data.Len() > 0 {
				if err := json.Unmarshal([]byte(data.String()), &ev.Event); err != nil {
					return lastID, fmt.Errorf("event stream: bad event %s: %w", ev.ID, err)
				}
				if ev.Name == "" {
					ev.Name = ev.Event.Name
				}
				if err := fn(ev); err != nil {
					return lastID, err
				}
				if ev.ID != "" {
					lastID = ev.ID
				}
			}
			ev, data = StreamEvent{}, strings.Builder{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
}
