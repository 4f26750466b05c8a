package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/auth"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
)

// TaskCreator creates tasks; the engine is one.
type TaskCreator interface {
	CreateTask(ctx context.Context, req core.TaskRequest) (id int64, created bool, err error)
}

// Config is what the API needs from the rest of the node.
type Config struct {
	Prefix   string // route prefix, "/tasker" when empty
	Store    *store.Store
	Tasks    TaskCreator
	Logger   *slog.Logger
	Registry *registry.Registry
	// Wake, when set, tells the local engine that operator actions made steps ready.
	Wake func()
	// Plugins, when set, describes the loaded plugins for health/status.
	Plugins        func() any
	StatusCacheTTL time.Duration // how long health/status is reused (15s, as in the seed)
	MaxBody        int64         // request body limit in bytes (1 MiB)
	// Auth, when set, checks each route's permission: a missing or refused
	// credential is 401, a missing permission 403. Nil leaves the API open.
	Auth *auth.Authenticator
	// StatusRequiresAuth makes health/status need its permission when Auth
	// is set; otherwise it is open like live and ready.
	StatusRequiresAuth bool
	// Metrics serves {prefix}/metrics (Prometheus text format); when nil
	// the route answers 404.
	Metrics http.Handler
	// Webhooks, when set, are the configured webhooks the API reports on
	// and redelivers dead letters of; nil means none.
	Webhooks *events.Webhooks
	// MaxStreams bounds the open event streams (GET {prefix}/events/stream);
	// more are refused with 503 (100).
	MaxStreams int
	// StreamPoll is how often an event stream looks for events when no
	// notification woke it (1s); StreamHeartbeat how often an idle stream
	// sends a comment, so that proxies and clients see it alive (15s).
	StreamPoll, StreamHeartbeat time.Duration
	// NoListen turns LISTEN on tasker_events off for event streams (behind
	// a transaction pooler): they poll.
	NoListen bool
}

// Server serves the API. Ready reports 503 until MarkReady and after MarkStopping.
type Server struct {
	cfg         Config
	ready       atomic.Bool
	stopping    atomic.Bool
	mux         *http.ServeMux
	statusCache statusCache
	streams     streams
}

// New builds the API's routes.
func New(cfg Config) *Server {
	if cfg.Prefix == "" {
		cfg.Prefix = "/tasker"
	}
	cfg.Prefix = "/" + strings.Trim(cfg.Prefix, "/")
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.StatusCacheTTL <= 0 {
		cfg.StatusCacheTTL = 15 * time.Second
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 100
	}
	if cfg.StreamPoll <= 0 {
		cfg.StreamPoll = time.Second
	}
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = 15 * time.Second
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.streams.stop = make(chan struct{})
	s.streams.bcast = events.NewBroadcaster(cfg.Store, cfg.Logger, cfg.NoListen)
	for _, rt := range s.routes() {
		s.mux.HandleFunc(rt.Method+" "+cfg.Prefix+rt.Path, s.guard(rt))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path+"; the API lives under "+cfg.Prefix)
	})
	return s
}

// Route is one operation of the API: its method, its path under the prefix
// and the permission a caller needs when authorization is on ("" when the
// route is open to anyone, as the probes are).
type Route struct {
	Method     string
	Path       string
	Permission string
	handler    http.HandlerFunc
}

// Routes lists every operation the API serves, for documentation and for
// tests that must walk all of them.
func (s *Server) Routes() []Route { return s.routes() }

func (s *Server) routes() []Route {
	return []Route{
		{"POST", "/tasks", "tasker.task:create", s.createTask},
		{"POST", "/tasks/batch", "tasker.task:create", s.createTasks},
		{"GET", "/tasks", "tasker.task:index", s.listTasks},
		{"GET", "/tasks/{id}", "tasker.task:show", s.getTask},
		{"PATCH", "/tasks/{id}", "tasker.task:update", s.updateTask},
		{"DELETE", "/tasks/{id}", "tasker.task:cancel", s.cancelTask},
		{"POST", "/tasks/{id}/retry", "tasker.task:retry", s.retryTask},
		{"GET", "/tasks/{id}/workflow_steps", "tasker.workflow_step:index", s.listSteps},
		{"GET", "/tasks/{id}/workflow_steps/{step_id}", "tasker.workflow_step:show", s.getStep},
		{"PATCH", "/tasks/{id}/workflow_steps/{step_id}", "tasker.workflow_step:update", s.updateStep},
		{"DELETE", "/tasks/{id}/workflow_steps/{step_id}", "tasker.workflow_step:cancel", s.cancelStep},
		{"POST", "/tasks/{id}/workflow_steps/{step_id}/retry", "tasker.workflow_step:retry", s.retryStep},
		{"POST", "/tasks/{id}/workflow_steps/{step_id}/resolve", "tasker.workflow_step:resolve", s.resolveStep},
		{"GET", "/handlers", "tasker.handler:index", s.listNamespaces},
		{"GET", "/handlers/{namespace}", "tasker.handler:index", s.listNamespace},
		{"GET", "/handlers/{namespace}/{name}", "tasker.handler:show", s.getTemplate},
		{"GET", "/events/catalog", "tasker.event:index", s.eventCatalog},
		{"GET", "/events/stream", "tasker.event:index", s.eventStream},
		{"GET", "/events/webhooks", "tasker.event:index", s.listWebhooks},
		{"GET", "/events/webhooks/{name}/dead_letters", "tasker.event:index", s.listDeadLetters},
		{"POST", "/events/webhooks/{name}/dead_letters/{event_id}/retry", "tasker.event:retry", s.retryDeadLetter},
		{"GET", "/health/live", "", s.live},
		{"GET", "/health/ready", "", s.readiness},
		{"GET", "/health/status", "tasker.health_status:index", s.status},
		{"GET", "/openapi.json", "", s.openAPI},
		{"GET", "/metrics", "tasker.metrics:index", s.metrics},
	}
}

// MarkReady is called once templates and plugins are loaded.
func (s *Server) MarkReady() { s.ready.Store(true) }

// MarkStopping makes readiness fail so load balancers stop sending work,
// and ends the open event streams (clients reconnect elsewhere with
// Last-Event-ID), so that a graceful shutdown does not wait for them.
func (s *Server) MarkStopping() {
	s.stopping.Store(true)
	s.endStreams()
}

// ServeHTTP gives each request its correlation id (see withCorrelation)
// and logs it at debug level with its outcome.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	r, id, ok := withCorrelation(rec, r)
	if ok {
		s.mux.ServeHTTP(rec, r)
	}
	level := slog.LevelDebug
	if rec.status >= 500 {
		level = slog.LevelError
	}
	s.cfg.Logger.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
		"status", rec.status, "duration", time.Since(start).Round(time.Microsecond).String(), "correlation_id", id)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		writeProblem(w, r, http.StatusNotFound, "metrics are not served by this node")
		return
	}
	s.cfg.Metrics.ServeHTTP(w, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (Flush, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "live"})
}

func (s *Server) readiness(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"database": "ok", "plugins": "loaded", "node": "serving"}
	ok := true
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		checks["database"], ok = "unreachable: "+err.Error(), false
	}
	if !s.ready.Load() {
		checks["plugins"], ok = "loading", false
	}
	if s.stopping.Load() {
		checks["node"], ok = "shutting down", false
	}
	status, word := http.StatusOK, "ready"
	if !ok {
		status, word = http.StatusServiceUnavailable, "not ready"
	}
	writeJSON(w, status, map[string]any{"status": word, "checks": checks})
}
