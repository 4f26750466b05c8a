package events

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tasker-systems/tasker/core"
)

// WebhookConfig is one entry of events.webhooks in tasker.yaml: every
// event it wants is POSTed, one per request, to URL, signed with Secret.
type WebhookConfig struct {
	// Name identifies the webhook (its cursor is webhook:<name>): [a-z0-9_-].
	Name string `koanf:"name"`
	// URL is where events are POSTed (http or https).
	URL string `koanf:"url"`
	// Events are event names or globs (task.*, *.failed); empty means all.
	Events []string `koanf:"events"`
	// TaskNamespaces, when set, keeps only events of tasks in these namespaces.
	TaskNamespaces []string `koanf:"task_namespaces"`
	// Secret (or SecretFile, read at start) keys the HMAC-SHA256 signature;
	// at least MinWebhookSecret bytes.
	Secret     string `koanf:"secret"`
	SecretFile string `koanf:"secret_file"`
	// Timeout bounds one request (10s).
	Timeout time.Duration `koanf:"timeout"`
	// MaxAttempts is how many times an event is tried before it becomes a
	// dead letter (10).
	MaxAttempts int `koanf:"max_attempts"`
	// BackoffBase and BackoffMax shape the wait between attempts: base,
	// doubling, capped at max, with jitter (1s, 5m).
	BackoffBase time.Duration `koanf:"backoff_base"`
	BackoffMax  time.Duration `koanf:"backoff_max"`
}

// MinWebhookSecret is the shortest webhook secret accepted, in bytes.
const MinWebhookSecret = 16

var (
	webhookNameRe    = regexp.MustCompile(`^[a-z0-9_-]+$`)
	webhookPatternRe = regexp.MustCompile(`^[a-z0-9_.*]+$`)
)

// webhook is a validated WebhookConfig.
type webhook struct {
	cfg      WebhookConfig
	secret   []byte
	patterns []*regexp.Regexp
	like     []string
}

func resolveWebhook(c WebhookConfig) (*webhook, []error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("events.webhooks %s: "+format, append([]any{strconv.Quote(c.Name)}, args...)...))
	}
	if !webhookNameRe.MatchString(c.Name) {
		bad("name must be made of a-z, 0-9, _ and -")
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url %q is not an http(s) URL", c.URL)
	}
	h := &webhook{cfg: c}
	switch {
	case c.Secret != "" && c.SecretFile != "":
		bad("set secret or secret_file, not both")
	case c.Secret != "":
		h.secret = []byte(c.Secret)
	case c.SecretFile != "":
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			bad("secret_file: %v", err)
		}
		h.secret = []byte(strings.TrimRight(string(b), "\r\n"))
	default:
		bad("a secret (or secret_file) is required to sign requests")
	}
	if (c.Secret != "" || c.SecretFile != "") && len(h.secret) < MinWebhookSecret && len(errs) == 0 {
		bad("the secret is %d bytes; it must be at least %d (e.g. openssl rand -hex 32)", len(h.secret), MinWebhookSecret)
	}
	for _, p := range c.Events {
		switch {
		case !webhookPatternRe.MatchString(p):
			bad("event pattern %q: use event names and * only", p)
		case !strings.Contains(p, "*") && !core.EventNameRe.MatchString(p):
			bad("event %q is not an event name (<namespace>.<name>)", p)
		case !strings.Contains(p, "*") && Reserved(p):
			if _, ok := Lookup(p); !ok {
				bad("event %q is not a built-in event (see docs/EVENTS.md)", p)
			}
		case p != "*" && !strings.Contains(p, "."):
			bad("event pattern %q must have a . (task.*, *.failed) or be *", p)
		}
		h.patterns = append(h.patterns, globRe(p))
		h.like = append(h.like, globLike(p))
	}
	if len(c.Events) == 0 {
		h.like = []string{"%"}
	}
	for _, ns := range c.TaskNamespaces {
		if ns == "" {
			bad("task_namespaces has an empty name")
		}
	}
	if h.cfg.Timeout == 0 {
		h.cfg.Timeout = 10 * time.Second
	}
	if h.cfg.MaxAttempts == 0 {
		h.cfg.MaxAttempts = 10
	}
	if h.cfg.BackoffBase == 0 {
		h.cfg.BackoffBase = time.Second
	}
	if h.cfg.BackoffMax == 0 {
		h.cfg.BackoffMax = 5 * time.Minute
	}
	if h.cfg.Timeout < 0 || h.cfg.MaxAttempts < 0 || h.cfg.BackoffBase < 0 || h.cfg.BackoffMax < h.cfg.BackoffBase {
		bad("timeout, max_attempts and backoff_base must be positive, backoff_max at least backoff_base")
	}
	return h, errs
}

func globRe(p string) *regexp.Regexp {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
}

func globLike(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`)
	return r.Replace(p)
}

// ValidateWebhooks reports every problem of the webhooks' configuration,
// reading their secret files as NewWebhooks does.
func ValidateWebhooks(cfgs []WebhookConfig) error {
	_, err := resolveWebhooks(cfgs)
	return err
}

func resolveWebhooks(cfgs []WebhookConfig) ([]*webhook, error) {
	var errs []error
	seen := map[string]bool{}
	var out []*webhook
	for _, c := range cfgs {
		h, e := resolveWebhook(c)
		errs = append(errs, e...)
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("events.webhooks: the name %q is used twice", c.Name))
		}
		seen[c.Name] = true
		out = append(out, h)
	}
	return out, errors.Join(errs...)
}
