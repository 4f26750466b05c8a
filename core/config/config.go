// Package config is tasker's configuration: defaults, overridden by a
// tasker.yaml file, by TASKER_* environment variables and by command-line
// flags, in that order (koanf). An unknown key in any of them is an error
// that names it, so a misspelt setting is never silently ignored.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/tasker-systems/tasker/core/auth"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/events"
)

// Config is everything `tasker serve` can be told. Keys are the koanf tags,
// dotted for nested sections (engine.workers).
type Config struct {
	DataDir      string  `koanf:"data_dir"`
	Listen       string  `koanf:"listen"`
	PluginsDir   string  `koanf:"plugins_dir"`
	TemplatesDir string  `koanf:"templates_dir"`
	DatabaseURL  string  `koanf:"database_url"`
	Prefix       string  `koanf:"prefix"`
	User         string  `koanf:"user"`
	Log          Log     `koanf:"log"`
	Engine       Engine  `koanf:"engine"`
	Plugins      Plugins `koanf:"plugins"`
	API          API     `koanf:"api"`
	Health       Health  `koanf:"health"`
	// Retention prunes finished tasks and delivered events (0 keeps them forever).
	Retention Retention `koanf:"retention"`
	// Events configures subscribers of the event outbox (webhooks).
	Events Events `koanf:"events"`
	// Auth turns authentication on when it holds a JWT key or an API key.
	Auth auth.Config `koanf:"auth"`
	// InsecureNoAuth lets serve listen on a non-loopback address without authentication.
	InsecureNoAuth bool `koanf:"insecure_no_auth"`
	// Debug holds tools for finding out why tasker is slow.
	Debug Debug `koanf:"debug"`
	// Database tunes tasker's sessions on PostgreSQL (embedded or external).
	Database Database `koanf:"database"`
}

// Database tunes tasker's sessions on PostgreSQL.
type Database struct {
	// SynchronousCommit false sets synchronous_commit = off on tasker's
	// sessions: a commit returns before its WAL reaches the disk, so more
	// steps fit in a second, but a crash of PostgreSQL or of the machine
	// (not of tasker alone) loses the last moments of acknowledged changes:
	// created tasks, recorded step results. Off only by choice
	// (docs/OPERATIONS.md).
	SynchronousCommit bool `koanf:"synchronous_commit"`
	// MaxConns bounds tasker's connections (unless the database URL sets
	// pool_max_conns).
	MaxConns int `koanf:"max_conns"`
}

// Debug configures diagnostics that are off by default.
type Debug struct {
	// PprofListen serves Go's profiles (/debug/pprof/) on this loopback address.
	PprofListen string `koanf:"pprof_listen"`
}

// API configures the REST API.
type API struct {
	MaxBodyBytes int64 `koanf:"max_body_bytes"` // request body limit
	MaxStreams   int   `koanf:"max_streams"`    // open event streams (GET /events/stream) at most
}

// Health configures the health endpoints.
type Health struct {
	// StatusRequiresAuth makes health/status need tasker.health_status:index
	// when authentication is on (live and ready never need it).
	StatusRequiresAuth bool          `koanf:"status_requires_auth"`
	StatusCache        time.Duration `koanf:"status_cache"` // how long health/status is reused
}

// Retention says how long finished tasks and delivered events are kept.
type Retention struct {
	Tasks    time.Duration `koanf:"tasks"`    // finished tasks older than this are deleted (0: never)
	Events   time.Duration `koanf:"events"`   // delivered events older than this are deleted (0: never)
	Interval time.Duration `koanf:"interval"` // how often to prune
	Batch    int           `koanf:"batch"`    // rows per delete statement
}

// Events configures subscribers of the event outbox.
type Events struct {
	// Webhooks POST events to HTTP receivers (docs/EVENTS.md).
	Webhooks []events.WebhookConfig `koanf:"webhooks"`
}

// Log configures logging.
type Log struct {
	Format string `koanf:"format"` // auto, text or json
	Level  string `koanf:"level"`  // debug, info, warn or error
}

// Engine configures the orchestration loop.
type Engine struct {
	Workers     int           `koanf:"workers"`
	Lease       time.Duration `koanf:"lease"`
	StepTimeout time.Duration `koanf:"step_timeout"`
	NoListen    bool          `koanf:"no_listen"`
}

// Plugins configures the plugin host.
type Plugins struct {
	RequireChecksums bool          `koanf:"require_checksums"`
	StartTimeout     time.Duration `koanf:"start_timeout"`
	CallTimeout      time.Duration `koanf:"call_timeout"`
	MaxPayloadBytes  int           `koanf:"max_payload_bytes"`
}

// Defaults are what an empty folder gets.
func Defaults() Config {
	return Config{
		DataDir: "./tasker-data", Listen: "127.0.0.1:8080", Prefix: "/tasker",
		Log:       Log{Format: "auto", Level: "info"},
		Database:  Database{SynchronousCommit: true, MaxConns: 16},
		Engine:    Engine{Workers: engine.DefaultWorkers, Lease: 30 * time.Second, StepTimeout: 5 * time.Minute},
		Plugins:   Plugins{StartTimeout: 10 * time.Second, MaxPayloadBytes: 4 << 20},
		API:       API{MaxBodyBytes: 1 << 20, MaxStreams: 100},
		Health:    Health{StatusRequiresAuth: true, StatusCache: 15 * time.Second},
		Retention: Retention{Tasks: 168 * time.Hour, Events: 168 * time.Hour, Interval: 10 * time.Minute, Batch: 1000},
		Auth:      auth.Config{JWT: auth.JWTConfig{PermissionsClaim: "permissions", RolesClaim: "roles"}},
	}
}

// Sources are the layers above the defaults.
type Sources struct {
	// File is a YAML file; when FileRequired is false a missing file is skipped.
	File         string
	FileRequired bool
	// Env is the process environment ("KEY=value"); only TASKER_* entries count.
	Env []string
	// Flags maps keys to the values of the flags given on the command line.
	Flags map[string]any
}

// Load merges the defaults with the sources and checks the result.
func Load(src Sources) (Config, error) {
	k := koanf.New(".")
	known := keys(reflect.TypeOf(Config{}), "")
	if src.File != "" {
		if _, err := os.Stat(src.File); err == nil || src.FileRequired {
			if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
				return Config{}, fmt.Errorf("config file %s: %w", src.File, err)
			}
			if err := checkKeys(k.Keys(), known, "config file "+src.File); err != nil {
				return Config{}, err
			}
		}
	}
	envKeys := map[string]string{}
	for key := range known {
		if !fileOnly[key] {
			envKeys["TASKER_"+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
		}
	}
	for _, kv := range src.Env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "TASKER_") || clientEnv[name] {
			continue
		}
		key, ok := envKeys[name]
		if !ok {
			return Config{}, fmt.Errorf("environment variable %s is not a tasker setting (known: %s)", name, strings.Join(sortedKeys(envKeys), ", "))
		}
		if err := k.Set(key, value); err != nil {
			return Config{}, fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	for key, value := range src.Flags {
		if !known[key] || fileOnly[key] {
			return Config{}, fmt.Errorf("flag for unknown setting %q", key) // a programming error in the CLI
		}
		if err := k.Set(key, value); err != nil {
			return Config{}, err
		}
	}

	cfg := Defaults()
	err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		WeaklyTypedInput: true, // environment values are strings
		ErrorUnused:      true,
		Result:           &cfg,
		TagName:          "koanf",
	}})
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, cfg.Validate()
}

// clientEnv are TASKER_* variables of the command-line client (the server
// it talks to and its token), not settings of serve; they may be set in the
// same shell, so serve ignores them.
var clientEnv = map[string]bool{"TASKER_SERVER": true, "TASKER_TOKEN": true}

// fileOnly are keys whose values are lists or maps of structured entries:
// only the YAML file can hold them.
var fileOnly = map[string]bool{"auth.roles": true, "auth.api_keys": true, "events.webhooks": true}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Engine.Workers < 1 {
		errs = append(errs, fmt.Errorf("engine.workers is %d; it must be at least 1", c.Engine.Workers))
	}
	if c.Database.MaxConns < 4 {
		errs = append(errs, fmt.Errorf("database.max_conns is %d; it must be at least 4 (the engine, the event dispatcher and the API each need connections of their own)", c.Database.MaxConns))
	}
	if c.Engine.Lease < time.Second {
		errs = append(errs, fmt.Errorf("engine.lease is %s; it must be at least 1s", c.Engine.Lease))
	}
	if c.Engine.StepTimeout <= 0 {
		errs = append(errs, fmt.Errorf("engine.step_timeout is %s; it must be positive", c.Engine.StepTimeout))
	}
	if c.Plugins.MaxPayloadBytes < 1024 {
		errs = append(errs, fmt.Errorf("plugins.max_payload_bytes is %d; it must be at least 1024", c.Plugins.MaxPayloadBytes))
	}
	if c.Plugins.StartTimeout <= 0 {
		errs = append(errs, fmt.Errorf("plugins.start_timeout is %s; it must be positive", c.Plugins.StartTimeout))
	}
	if c.Plugins.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("plugins.call_timeout is %s; it must not be negative", c.Plugins.CallTimeout))
	}
	if c.API.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("api.max_body_bytes is %d; it must be at least 1024", c.API.MaxBodyBytes))
	}
	if c.API.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("api.max_streams is %d; it must be at least 1", c.API.MaxStreams))
	}
	if c.Health.StatusCache < 0 {
		errs = append(errs, fmt.Errorf("health.status_cache is %s; it must not be negative", c.Health.StatusCache))
	}
	if c.Retention.Tasks < 0 || c.Retention.Events < 0 {
		errs = append(errs, fmt.Errorf("retention.tasks and retention.events must not be negative (0 keeps forever)"))
	}
	if c.Retention.Interval < time.Second {
		errs = append(errs, fmt.Errorf("retention.interval is %s; it must be at least 1s", c.Retention.Interval))
	}
	if c.Retention.Batch < 1 {
		errs = append(errs, fmt.Errorf("retention.batch is %d; it must be at least 1", c.Retention.Batch))
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := events.ValidateWebhooks(c.Events.Webhooks); err != nil {
		errs = append(errs, err)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want auto, text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// keys lists the dotted keys of a config struct type. A map field (such as
// auth.roles) is listed by its own key; its entries, whose names the user
// chooses, are accepted by checkKeys under it.
func keys(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("koanf")
		if f.Type.Kind() == reflect.Map {
			out[key] = true
			continue
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			for k := range keys(f.Type, key+".") {
				out[k] = true
			}
			continue
		}
		out[key] = true
	}
	return out
}

func checkKeys(got []string, known map[string]bool, where string) error {
	var unknown []string
	for _, k := range got {
		if !known[k] && !underMap(k, known) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("%s: unknown settings %s (known: %s)", where, strings.Join(unknown, ", "), strings.Join(sortedKeys(known), ", "))
}

// underMap reports whether k is an entry of a map-valued key (auth.roles.ops).
func underMap(k string, known map[string]bool) bool {
	for i := strings.LastIndex(k, "."); i > 0; i = strings.LastIndex(k[:i], ".") {
		if known[k[:i]] && mapKeys[k[:i]] {
			return true
		}
	}
	return false
}

// mapKeys are the keys whose values are maps with names of the user's choosing.
var mapKeys = mapFields(reflect.TypeOf(Config{}), "")

func mapFields(t reflect.Type, prefix string) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("koanf")
		switch {
		case f.Type.Kind() == reflect.Map:
			out[key] = true
		case f.Type.Kind() == reflect.Struct:
			for k := range mapFields(f.Type, key+".") {
				out[k] = true
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
