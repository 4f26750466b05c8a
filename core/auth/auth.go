// Package auth authenticates callers of tasker's API and tells what they may
// do. A caller presents one credential: a JWT (HS256 with a shared secret, or
// RS256 checked against a PEM public key or a JWKS file) or an API key
// (`tsk_…`, stored only as its SHA-256). Either yields a Principal holding
// permission names such as tasker.task:create, granted directly or through
// roles mapped in the configuration; `tasker.task:*` and `*` are wildcards.
//
// Authentication is on as soon as a JWT verification key or an API key is
// configured; New returns nil otherwise. The package knows nothing of HTTP:
// the web package reads the credential from the request and maps the errors
// to 401 (ErrNoCredentials, ErrInvalidCredentials) and 403 (Principal.Can).
package auth

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeyPrefix starts every tasker API key, so that a bearer token is known to
// be a key (and not a JWT) at a glance.
const KeyPrefix = "tsk_"

// Leeway is the clock skew allowed on a JWT's exp, nbf and iat.
const Leeway = 30 * time.Second

// permissions are the names the API's routes require (the seed's names).
var permissions = []string{
	"tasker.task:index", "tasker.task:show", "tasker.task:create", "tasker.task:update",
	"tasker.task:cancel", "tasker.task:retry",
	"tasker.workflow_step:index", "tasker.workflow_step:show", "tasker.workflow_step:update",
	"tasker.workflow_step:cancel", "tasker.workflow_step:retry", "tasker.workflow_step:resolve",
	"tasker.handler:index", "tasker.handler:show",
	"tasker.health_status:index",
	"tasker.event:index", "tasker.event:retry",
	"tasker.metrics:index",
}

// Permissions lists every permission name tasker knows, sorted.
func Permissions() []string {
	out := slices.Clone(permissions)
	sort.Strings(out)
	return out
}

// KnownPermission reports whether p is a permission name or a wildcard over
// known names: "*" (everything) or "<resource>:*" (every action on it).
func KnownPermission(p string) bool {
	if p == "*" || slices.Contains(permissions, p) {
		return true
	}
	if resource, ok := strings.CutSuffix(p, ":*"); ok {
		for _, known := range permissions {
			if strings.HasPrefix(known, resource+":") {
				return true
			}
		}
	}
	return false
}

// ErrNoCredentials means the caller presented no credential at all.
var ErrNoCredentials = errors.New("no credentials: send Authorization: Bearer <token> or X-API-Key: <key>")

// ErrInvalidCredentials is wrapped by every error about a credential that was
// presented but is not accepted (expired, badly signed, unknown key...).
var ErrInvalidCredentials = errors.New("invalid credentials")

// invalidError is a refused credential; its message says why, plainly.
type invalidError struct{ reason string }

func (e *invalidError) Error() string { return e.reason }
func (e *invalidError) Unwrap() error { return ErrInvalidCredentials }

func invalid(format string, args ...any) error {
	return &invalidError{reason: fmt.Sprintf(format, args...)}
}

// Principal is an authenticated caller.
type Principal struct {
	// Subject is the JWT's sub, or the API key's name.
	Subject string
	// Via is "jwt" or "api_key:<name>".
	Via   string
	perms map[string]bool
}

// Can reports whether the principal holds permission p, directly or through
// a wildcard.
func (p *Principal) Can(permission string) bool {
	if p == nil {
		return false
	}
	if p.perms["*"] || p.perms[permission] {
		return true
	}
	resource, _, ok := strings.Cut(permission, ":")
	return ok && p.perms[resource+":*"]
}

// Permissions lists what the principal was granted (wildcards as given), sorted.
func (p *Principal) Permissions() []string {
	out := make([]string, 0, len(p.perms))
	for k := range p.perms {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// APIKeyName is the name of the API key the principal used, "" for a JWT.
func (p *Principal) APIKeyName() string {
	name, _ := strings.CutPrefix(p.Via, "api_key:")
	if name == p.Via {
		return ""
	}
	return name
}

type apiKey struct {
	name  string
	hash  [sha256.Size]byte
	perms []string
}

// Authenticator checks credentials against the configuration it was built from.
type Authenticator struct {
	alg        string // "HS256", "RS256" or "" (no JWT)
	hsSecret   []byte
	rsKey      *rsa.PublicKey            // PEM
	jwks       map[string]*rsa.PublicKey // by kid
	issuer     string
	audience   string
	permsClaim string
	rolesClaim string
	roles      map[string][]string
	keys       []apiKey
	parser     *jwt.Parser
}

// New builds the Authenticator the configuration describes, reading its key
// files. Every problem is reported at once, each naming its setting. It
// returns nil, nil when cfg configures neither a JWT key nor an API key:
// authentication is off.
func New(cfg Config) (*Authenticator, error) {
	a := &Authenticator{
		issuer: cfg.JWT.Issuer, audience: cfg.JWT.Audience,
		permsClaim: cfg.JWT.PermissionsClaim, rolesClaim: cfg.JWT.RolesClaim,
		roles: map[string][]string{},
	}
	if a.permsClaim == "" {
		a.permsClaim = "permissions"
	}
	if a.rolesClaim == "" {
		a.rolesClaim = "roles"
	}
	var errs []error
	errs = append(errs, a.loadJWT(cfg.JWT)...)

	for _, role := range sortedKeys(cfg.Roles) {
		perms := cfg.Roles[role]
		if strings.TrimSpace(role) == "" {
			errs = append(errs, errors.New("auth.roles: a role has an empty name"))
		}
		if len(perms) == 0 {
			errs = append(errs, fmt.Errorf("auth.roles.%s grants no permission; list at least one (known: %s)", role, strings.Join(Permissions(), ", ")))
		}
		errs = append(errs, checkPermissions("auth.roles."+role, perms)...)
		a.roles[role] = perms
	}

	names, hashes := map[string]bool{}, map[string]bool{}
	for i, k := range cfg.APIKeys {
		where := fmt.Sprintf("auth.api_keys[%d]", i)
		if k.Name == "" {
			errs = append(errs, fmt.Errorf("%s has no name; every API key needs one (it is recorded as the actor of its actions)", where))
		} else {
			where = fmt.Sprintf("auth.api_keys[%d] (%s)", i, k.Name)
			if names[k.Name] {
				errs = append(errs, fmt.Errorf("%s: the name %q is used by another key", where, k.Name))
			}
			names[k.Name] = true
		}
		sum, err := hex.DecodeString(k.SHA256)
		if err != nil || len(sum) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s: sha256 must be the 64 hex digits of the key's SHA-256 (as `tasker auth new-key` prints), got %q", where, k.SHA256))
		} else if hashes[strings.ToLower(k.SHA256)] {
			errs = append(errs, fmt.Errorf("%s: the same key (sha256) is configured twice", where))
		}
		hashes[strings.ToLower(k.SHA256)] = true
		if len(k.Permissions) == 0 && len(k.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s grants nothing: give it permissions or roles", where))
		}
		errs = append(errs, checkPermissions(where+".permissions", k.Permissions)...)
		perms := slices.Clone(k.Permissions)
		for _, role := range k.Roles {
			rp, ok := cfg.Roles[role]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: role %q is not defined under auth.roles", where, role))
			}
			perms = append(perms, rp...)
		}
		key := apiKey{name: k.Name, perms: perms}
		copy(key.hash[:], sum)
		a.keys = append(a.keys, key)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if a.alg == "" && len(a.keys) == 0 {
		return nil, nil
	}
	a.parser = jwt.NewParser(a.parserOptions()...)
	return a, nil
}

func checkPermissions(where string, perms []string) []error {
	var errs []error
	for _, p := range perms {
		if !KnownPermission(p) {
			errs = append(errs, fmt.Errorf("%s: unknown permission %q (known: %s; wildcards: *, <resource>:*)", where, p, strings.Join(Permissions(), ", ")))
		}
	}
	return errs
}

// JWTEnabled reports whether JWTs are accepted, and with which algorithm.
func (a *Authenticator) JWTEnabled() (alg string, ok bool) { return a.alg, a.alg != "" }

// APIKeys is how many API keys are configured.
func (a *Authenticator) APIKeys() int { return len(a.keys) }

// Authenticate checks a credential: an API key (tsk_…) or a JWT. An empty
// token is ErrNoCredentials; a refused one wraps ErrInvalidCredentials and
// says why. The token itself never appears in an error.
func (a *Authenticator) Authenticate(token string) (*Principal, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, ErrNoCredentials
	}
	if strings.HasPrefix(token, KeyPrefix) {
		return a.authenticateKey(token)
	}
	if a.alg == "" {
		return nil, invalid("the bearer token is not a tasker API key (%s…) and JWT authentication is not configured", KeyPrefix)
	}
	return a.authenticateJWT(token)
}

func (a *Authenticator) authenticateKey(token string) (*Principal, error) {
	sum := sha256.Sum256([]byte(token))
	var found *apiKey
	// Compare with every key, in constant time, whatever matches.
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].hash[:]) == 1 {
			found = &a.keys[i]
		}
	}
	if found == nil {
		return nil, invalid("unknown API key")
	}
	p := &Principal{Subject: found.name, Via: "api_key:" + found.name, perms: map[string]bool{}}
	for _, perm := range found.perms {
		p.perms[perm] = true
	}
	return p, nil
}
