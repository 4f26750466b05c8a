package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lmittmann/tint"
	"github.com/mattn/go-isatty"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/auth"
	"github.com/tasker-systems/tasker/core/config"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/events"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/core/telemetry"
	"github.com/tasker-systems/tasker/embeddb"
	"github.com/tasker-systems/tasker/plugins"
	"github.com/tasker-systems/tasker/sql"
	"github.com/tasker-systems/tasker/web"
)

// defaultDir resolves an optional directory flag: the one given must exist
// (required), otherwise the default is used when present.
func defaultDir(given, fallback string) (dir string, required bool) {
	if given != "" {
		return given, true
	}
	return fallback, false
}

// serve runs the appliance until SIGINT or SIGTERM (SIGHUP reloads the
// plugins directory, see reloader), then shuts its parts down
// in reverse order of start: HTTP, engine, plugins, database.
func serve(o config.Config, stderr io.Writer) error {
	log, err := newLogger(o.Log.Format, o.Log.Level, stderr)
	if err != nil {
		return err
	}
	authn, err := checkAuth(o, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the plugins directory once the node is ready; one
	// arriving earlier waits for that.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if _, err := embeddb.DropRootPrivileges(log, o.User, dataDir); err != nil {
		return fmt.Errorf("running as root: %w", err)
	}

	// The API's address is taken before anything slow starts: a port in use
	// fails at once instead of after PostgreSQL's start, and PostgreSQL,
	// which picks a free port of its own, cannot take this one meanwhile.
	// Until the API is ready every request gets 503 (web.Starting).
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.Listen, err)
	}
	var handler atomic.Pointer[http.Handler]
	handler.Store(&web.Starting)
	httpServer := &http.Server{ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) })}
	httpDone := make(chan error, 1)
	go func() { httpDone <- httpServer.Serve(ln) }()
	defer httpServer.Close() // on the way out of a failed start; after Shutdown, a no-op

	dbURL := o.DatabaseURL
	if dbURL == "" {
		db, err := embeddb.Start(ctx, embeddb.Config{DataDir: dataDir, Logger: log.With("component", "postgres")})
		if err != nil {
			return fmt.Errorf("start embedded PostgreSQL: %w", err)
		}
		defer func() {
			if err := db.Stop(); err != nil {
				log.Error("stopping embedded PostgreSQL failed", "error", err)
			} else {
				log.Info("embedded PostgreSQL stopped")
			}
		}()
		dbURL = db.URL()
	} else {
		log.Info("using external PostgreSQL; the embedded one is not started")
	}

	// Tracing from the standard OTEL_* variables; off (and the global
	// tracer a no-op) unless they ask for it.
	shutdownTracing, err := telemetry.Setup(ctx, os.Getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(flushCtx); err != nil {
			log.Warn("flushing traces failed", "error", err)
		}
	}()
	prom, err := telemetry.NewPrometheus()
	if err != nil {
		return err
	}
	defer func() { _ = prom.Provider.Shutdown(context.Background()) }()
	metrics, err := telemetry.NewMetrics(prom.Provider)
	if err != nil {
		return err
	}

	poolConfig, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if tracer := telemetry.PgxTracer(); tracer != nil {
		poolConfig.ConnConfig.Tracer = tracer // SQL spans, only inside a traced task or request
	}
	tuneSessions(poolConfig, dbURL, o.Database)
	pool, err := pgxpool.NewWithConfig(ctx, poolConfig)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := reportDurability(ctx, pool, log); err != nil {
		return err
	}
	if err := sql.Migrate(ctx, pool, log); err != nil {
		return err
	}

	pluginsDir, _ := defaultDir(o.PluginsDir, "plugins")
	host := plugins.NewHostWithOptions(log.With("component", "plugins"), pluginsDir, plugins.Options{
		RequireChecksums: o.Plugins.RequireChecksums, StartTimeout: o.Plugins.StartTimeout,
		CallTimeout: o.Plugins.CallTimeout, MaxPayloadBytes: o.Plugins.MaxPayloadBytes,
		Events: pluginEvents(store.New(pool), log),
	})
	defer func() {
		host.Close()
		log.Info("plugins stopped")
	}()
	if err := host.Load(ctx); err != nil {
		return fmt.Errorf("load plugins: %w", err)
	}

	// Every loaded version of every plugin: the registry picks the version
	// each step runs on (its handler_version, else the highest).
	reg := registry.New()
	for _, p := range host.Plugins() {
		if err := reg.AddHandlers(p.Name, p.Version, host.PluginHandlers(p.Name, p.Version)); err != nil {
			return err
		}
		publishHandlers(ctx, store.New(pool), log, p.Name, p.Version, p.Handlers)
	}
	st := store.New(pool)
	eng := engine.New(st, reg, log, engine.Config{Workers: o.Engine.Workers, Lease: o.Engine.Lease,
		StepTimeout: o.Engine.StepTimeout, NoListen: o.Engine.NoListen, Metrics: metrics})
	if err := metrics.ObserveReady(time.Second, st.ReadySteps); err != nil {
		return err
	}
	if err := metrics.ObservePlugins(func() int64 {
		var n int64
		for _, p := range host.Plugins() {
			if p.Healthy {
				n++
			}
		}
		return n
	}); err != nil {
		return err
	}

	templatesDir, required := defaultDir(o.TemplatesDir, "templates")
	fileTemplates, err := core.ReadTemplateDir(templatesDir, required)
	if err != nil {
		return err
	}
	// Refused templates are logged by LoadTemplates; the node still serves the rest.
	_ = eng.LoadTemplates(ctx, append(host.Templates(), fileTemplates...))
	if len(reg.Templates()) == 0 {
		log.Warn("no task templates loaded: add plugins to the plugins directory or YAML files to the templates directory",
			"plugins_dir", pluginsDir, "templates_dir", templatesDir)
	}

	// One set of webhooks: the API shows them, startEvents delivers to them.
	webhooks, err := events.NewWebhooks(o.Events.Webhooks, st, log.With("component", "webhooks"))
	if err != nil {
		return err
	}
	api := web.New(web.Config{Prefix: o.Prefix, Store: st, Tasks: eng, Logger: log, Registry: reg, Webhooks: webhooks,
		Wake: eng.Wake, Plugins: func() any { return host.Plugins() },
		Auth: authn, StatusRequiresAuth: o.Health.StatusRequiresAuth,
		StatusCacheTTL: o.Health.StatusCache, MaxBody: o.API.MaxBodyBytes, Metrics: prom.Handler,
		MaxStreams: o.API.MaxStreams, NoListen: o.Engine.NoListen})
	_, stopPprof, err := startPprof(o.Debug.PprofListen, log)
	if err != nil {
		return err
	}
	defer stopPprof()
	var apiHandler http.Handler = api
	handler.Store(&apiHandler)

	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engineDone := make(chan error, 1)
	go func() { engineDone <- eng.Run(engineCtx) }()
	// Events: the dispatcher (log subscriber) and retention; stopped after the engine.
	stopEvents, err := startEvents(ctx, st, log, o, host, webhooks)
	if err != nil {
		stopEngine()
		<-engineDone
		return err
	}

	api.MarkReady()
	log.Info("tasker is ready", "api", "http://"+ln.Addr().String()+"/"+strings.Trim(o.Prefix, "/"), "data_dir", dataDir)

	r := reloader{log: log, host: host, reg: reg, eng: eng, templatesDir: templatesDir, templatesRequired: required}
wait:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down: stopping the API, then the engine, plugins and database")
			break wait
		case <-hup:
			r.reload(ctx)
		case err := <-httpDone:
			stopEngine()
			<-engineDone
			stopEvents()
			return fmt.Errorf("http server: %w", err)
		}
	}
	stop() // a second signal now ends the process at once
	api.MarkStopping()
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpServer.Shutdown(shutCtx); err != nil {
		log.Warn("API did not stop cleanly", "error", err)
	}
	stopEngine()
	if err := <-engineDone; err != nil && !errors.Is(err, context.Canceled) {
		log.Error("engine stopped with an error", "error", err)
	}
	stopEvents()
	return nil
}

// checkAuth builds the Authenticator the configuration describes (nil when
// authentication is off) and refuses an API open to the network without it,
// unless insecure_no_auth says that is meant.
func checkAuth(o config.Config, log *slog.Logger) (*auth.Authenticator, error) {
	authn, err := auth.New(o.Auth)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if authn != nil {
		alg, jwtOn := authn.JWTEnabled()
		log.Info("authentication is on", "jwt", map[bool]string{true: alg, false: "off"}[jwtOn], "api_keys", authn.APIKeys(),
			"status_requires_auth", o.Health.StatusRequiresAuth)
		return authn, nil
	}
	loopback, err := isLoopback(o.Listen)
	if err != nil {
		return nil, err
	}
	switch {
	case loopback:
		return nil, nil
	case o.InsecureNoAuth:
		log.Warn("the API listens on a non-loopback address without authentication: anyone who can reach it can create, change and cancel tasks",
			"listen", o.Listen)
		return nil, nil
	}
	return nil, fmt.Errorf("refusing to serve the API on %s without authentication: that address is reachable from other machines. "+
		"Configure auth in tasker.yaml (an API key from `tasker auth new-key`, or auth.jwt), listen on a loopback address (127.0.0.1:8080), "+
		"or pass --insecure-no-auth if the network is trusted", o.Listen)
}

// isLoopback reports whether a listen address (host:port) accepts only
// local connections: 127.0.0.0/8, ::1 or localhost. An empty host means
// every interface.
func isLoopback(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// newLogger logs in colour on a terminal (tint) and JSON otherwise.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lvl, TimeFormat: "15:04:05.000"})), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
	}
	return nil, fmt.Errorf("--log-format %q: want auto, text or json", format)
}
