package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/store"
)

// Event streams (GET {prefix}/events/stream): server-sent events read from
// the outbox in delivery order (see core/store.EventsAfter), woken by the
// tasker_events notification through one shared LISTEN connection (an
// events.Broadcaster) and polling besides.

const (
	streamBatch      = 100
	streamRetryMs    = 2000
	streamWriteGrace = 30 * time.Second // how long one write may take before the stream is dropped
)

// streams is the state every event stream of a server shares.
type streams struct {
	bcast    *events.Broadcaster
	open     atomic.Int64
	stopOnce sync.Once
	stop     chan struct{} // closed by MarkStopping: every stream ends
}

// StreamListeners returns how many LISTEN connections the event streams
// hold (one however many streams are open, none when no stream is).
func (s *Server) StreamListeners() int { return s.streams.bcast.Connections() }

// OpenStreams returns how many event streams are open.
func (s *Server) OpenStreams() int { return int(s.streams.open.Load()) }

// endStreams ends every open event stream (and refuses new ones), so that
// a graceful shutdown does not wait for clients that never hang up.
func (s *Server) endStreams() { s.streams.stopOnce.Do(func() { close(s.streams.stop) }) }

// StreamCursor is the SSE id of an event: an opaque token of its position
// in the delivery order, which Last-Event-ID (or ?after=) resumes after.
func StreamCursor(c store.Cursor) string { return fmt.Sprintf("%d-%d", c.TxID, c.EventID) }

// ParseStreamCursor reads a token of StreamCursor.
func ParseStreamCursor(tok string) (store.Cursor, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(tok), "-")
	tx, err1 := strconv.ParseUint(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || id < 0 {
		return store.Cursor{}, fmt.Errorf("event cursor %q is not one this server sent (the id: of an event)", clip(tok))
	}
	return store.Cursor{TxID: tx, EventID: id}, nil
}

func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var taskID int64
	if v := q.Get("task_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			writeProblem(w, r, http.StatusBadRequest, "task_id must be a positive integer, not "+strconv.Quote(clip(v)))
			return
		}
		taskID = id
	}
	var globs []string
	for _, g := range strings.Split(q.Get("events"), ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if strings.ContainsAny(g, `[\`) || len(g) > 200 {
			writeProblem(w, r, http.StatusBadRequest, "events: "+strconv.Quote(clip(g))+" is not a glob of event names with * and ? (such as task.* or step.failed)")
			return
		}
		globs = append(globs, g)
	}
	tok := r.Header.Get("Last-Event-ID")
	if tok == "" {
		tok = q.Get("after")
	}
	var cur store.Cursor
	if tok != "" {
		c, err := ParseStreamCursor(tok)
		if err != nil {
			writeProblem(w, r, http.StatusBadRequest, err.Error())
			return
		}
		cur = c
	}
	if taskID != 0 {
		if _, err := s.cfg.Store.GetTask(r.Context(), taskID); s.storeError(w, r, err) {
			return
		}
	}
	if tok == "" {
		var err error
		if taskID != 0 {
			cur, err = s.cfg.Store.TaskEventsStart(r.Context(), taskID)
		} else {
			cur, err = s.cfg.Store.EventsEnd(r.Context())
		}
		if s.storeError(w, r, err) {
			return
		}
	}
	select {
	case <-s.streams.stop:
		writeProblem(w, r, http.StatusServiceUnavailable, "the node is shutting down")
		return
	default:
	}
	if n := s.streams.open.Add(1); n > int64(s.cfg.MaxStreams) {
		s.streams.open.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeProblem(w, r, http.StatusServiceUnavailable,
			fmt.Sprintf("too many event streams are open (%d, api.max_streams); try again later", s.cfg.MaxStreams))
		return
	}
	defer s.streams.open.Add(-1)
	wake, unsubscribe := s.streams.bcast.Subscribe()
	defer unsubscribe()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not buffer it
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(text string) error {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteGrace)) // the server's WriteTimeout must not cut the stream
		if _, err := fmt.Fprint(w, text); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write(fmt.Sprintf("retry: %d\n\n", streamRetryMs)) != nil {
		return
	}
	ctx := r.Context()
	poll := time.NewTicker(s.cfg.StreamPoll)
	defer poll.Stop()
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	for {
		next, err := s.sendEvents(ctx, write, cur, taskID, globs)
		cur = next
		if err != nil {
			if ctx.Err() == nil && !isWriteErr(err) {
				s.cfg.Logger.Warn("event stream ended", "error", err, "correlation_id", CorrelationID(ctx))
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-s.streams.stop:
			return
		case <-wake:
		case <-poll.C:
		case <-heartbeat.C:
			if write(": heartbeat\n\n") != nil {
				return
			}
		}
	}
}

type writeErr struct{ error }

func isWriteErr(err error) bool {
	var w writeErr
	return errors.As(err, &w)
}

// sendEvents writes every event after cur that the stream wants and
// returns the new cursor.
func (s *Server) sendEvents(ctx context.Context, write func(string) error, cur store.Cursor, taskID int64, globs []string) (store.Cursor, error) {
	for {
		var batch []core.Event
		var err error
		if taskID != 0 {
			batch, err = s.cfg.Store.EventsAfterTask(ctx, cur, taskID, streamBatch)
		} else {
			batch, err = s.cfg.Store.EventsAfter(ctx, cur, streamBatch)
		}
		if err != nil {
			return cur, err
		}
		for _, e := range batch {
			cur = store.Cursor{TxID: e.TxID, EventID: e.ID}
			if !wanted(e.Name, globs) {
				continue
			}
			data, err := json.Marshal(e)
			if err != nil {
				return cur, err
			}
			if err := write(fmt.Sprintf("id: %s\nevent: %s\ndata: %s\n\n", StreamCursor(cur), e.Name, data)); err != nil {
				return cur, writeErr{err}
			}
		}
		if len(batch) < streamBatch {
			return cur, nil
		}
	}
}

func wanted(name string, globs []string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}
