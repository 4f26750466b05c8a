package core

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Identity strategies: when does a request for a task return an existing one?
const (
	// IdentityAlwaysUnique: every request creates a task (unless it carries an idempotency key).
	IdentityAlwaysUnique = "always_unique"
	// IdentityStrict: the same template and context within the window is the same task.
	IdentityStrict = "strict"
	// IdentityCallerProvided: the request's idempotency key names the task; it is required.
	IdentityCallerProvided = "caller_provided"
)

// DefaultIdentityWindow is how long an identity is remembered when the template does not say.
const DefaultIdentityWindow = 24 * time.Hour

// Identity is a template's identity strategy.
type Identity struct {
	Strategy      string `yaml:"strategy" json:"strategy,omitempty"`
	WindowSeconds int    `yaml:"window_seconds" json:"window_seconds,omitempty"`
}

func (id Identity) validate() error {
	switch id.Strategy {
	case "", IdentityAlwaysUnique, IdentityStrict, IdentityCallerProvided:
	default:
		return fmt.Errorf("identity strategy %q: want %s, %s or %s", id.Strategy, IdentityAlwaysUnique, IdentityStrict, IdentityCallerProvided)
	}
	if id.WindowSeconds < 0 {
		return fmt.Errorf("identity window_seconds is %d; it must not be negative", id.WindowSeconds)
	}
	return nil
}

// Window is how long an identity is remembered.
func (id Identity) Window() time.Duration {
	if id.WindowSeconds > 0 {
		return time.Duration(id.WindowSeconds) * time.Second
	}
	return DefaultIdentityWindow
}

// TaskIdentity returns the hash under which a request's task is
// remembered, or "" when every such request makes a new task. context must
// be the final context (defaults applied). An idempotency key wins over the
// strategy: a caller that sends one asks for idempotency.
func (t *Template) TaskIdentity(context json.RawMessage, idempotencyKey string) (string, error) {
	var material []byte
	switch {
	case idempotencyKey != "":
		material = []byte("key\x00" + idempotencyKey)
	case t.Identity.Strategy == IdentityCallerProvided:
		return "", fmt.Errorf("task template %s requires an idempotency_key in the request (identity strategy %s)", t.Key(), IdentityCallerProvided)
	case t.Identity.Strategy == IdentityStrict:
		canon, err := canonicalJSON(context)
		if err != nil {
			return "", fmt.Errorf("context: %w", err)
		}
		material = append([]byte("context\x00"), canon...)
	default:
		return "", nil
	}
	sum := sha256.Sum256(append([]byte(t.Key()+"\x00"), material...))
	return hex.EncodeToString(sum[:]), nil
}

// canonicalJSON re-encodes JSON with object keys sorted and no spaces, so
// that equal values hash equally however they were written.
func canonicalJSON(raw json.RawMessage) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
