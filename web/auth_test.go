package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core"
	"github.com/tasker-systems/tasker/core/auth"
	"github.com/tasker-systems/tasker/core/engine"
	"github.com/tasker-systems/tasker/core/registry"
	"github.com/tasker-systems/tasker/core/store"
	"github.com/tasker-systems/tasker/embeddb/pgtest"
	"github.com/tasker-systems/tasker/web"
)

const testSecret = "a-test-secret-of-at-least-32-bytes!!"

// authServer is the API with authentication on, over real HTTP and a real database.
type authServer struct {
	t   *testing.T
	api *web.Server
	url string
}

func newAuthServer(t *testing.T, cfg auth.Config, statusRequiresAuth bool) *authServer {
	t.Helper()
	a, err := auth.New(cfg)
	require.NoError(t, err)
	require.NotNil(t, a)
	api := web.New(web.Config{Store: store.New(pgtest.New(t)), Registry: registry.New(),
		Logger: slog.New(slog.DiscardHandler), Auth: a, StatusRequiresAuth: statusRequiresAuth})
	api.MarkReady()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &authServer{t: t, api: api, url: srv.URL}
}

// fill gives a route's path parameters values that exist or at least parse.
func fill(path string) string {
	return strings.NewReplacer("{id}", "1", "{step_id}", "1", "{namespace}", "default", "{name}", "x").Replace(path)
}

// do sends a request with the given headers; bodies are "{}" where one may be read.
func (s *authServer) do(method, path string, headers map[string]string) (*http.Response, web.Problem) {
	s.t.Helper()
	var body *strings.Reader
	if method == http.MethodPost || method == http.MethodPatch {
		body = strings.NewReader("{}")
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, s.url+"/tasker"+fill(path), body)
	require.NoError(s.t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var p web.Problem
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&p))
	}
	return resp, p
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

func hs256(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	require.NoError(t, err)
	return s
}

func claimsWith(perms ...string) jwt.MapClaims {
	return jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "permissions": perms}
}

// allBut is every known permission except p: a caller that may do anything else.
func allBut(p string) []string {
	return slices.DeleteFunc(auth.Permissions(), func(q string) bool { return q == p })
}

func requireUnauthorized(t *testing.T, resp *http.Response, p web.Problem, wantChallenge, wantDetail, what string) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, what)
	require.Equal(t, http.StatusUnauthorized, p.Status, what)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), wantChallenge, what)
	require.Contains(t, p.Detail, wantDetail, what)
}

func requireAllowed(t *testing.T, resp *http.Response, what string) {
	t.Helper()
	require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode, what)
	require.NotEqual(t, http.StatusForbidden, resp.StatusCode, what)
}

// Every route of the table is walked, so a route added later is covered:
// without a token, with a badly signed one, an expired one, one lacking the
// route's permission and one holding exactly that permission.
func TestEveryRouteChecksItsPermissionWithJWT(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, auth.Config{JWT: auth.JWTConfig{HS256Secret: testSecret}}, true)
	routes := s.api.Routes()
	require.NotEmpty(t, routes)
	protected := 0
	for _, rt := range routes {
		what := rt.Method + " " + rt.Path
		if rt.Permission == "" {
			resp, _ := s.do(rt.Method, rt.Path, nil)
			requireAllowed(t, resp, what+" is open")
			continue
		}
		protected++
		require.True(t, auth.KnownPermission(rt.Permission), "%s needs %q, which auth does not know", what, rt.Permission)

		resp, p := s.do(rt.Method, rt.Path, nil)
		requireUnauthorized(t, resp, p, `Bearer realm="tasker"`, "authentication required", what+" without a token")
		require.Equal(t, `Bearer realm="tasker"`, resp.Header.Get("WWW-Authenticate"))

		resp, p = s.do(rt.Method, rt.Path, bearer(hs256(t, "another-secret-of-at-least-32-bytes!", claimsWith(rt.Permission))))
		requireUnauthorized(t, resp, p, `error="invalid_token", error_description="token signature is invalid"`, "token signature is invalid", what+" with a wrong signature")

		expired := claimsWith(rt.Permission)
		expired["exp"] = time.Now().Add(-time.Hour).Unix()
		resp, p = s.do(rt.Method, rt.Path, bearer(hs256(t, testSecret, expired)))
		requireUnauthorized(t, resp, p, `error_description="token expired at `, "token expired at", what+" with an expired token")

		resp, p = s.do(rt.Method, rt.Path, bearer(hs256(t, testSecret, claimsWith(allBut(rt.Permission)...))))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, what+" without the permission")
		require.Contains(t, p.Detail, rt.Permission, what)
		require.Contains(t, p.Detail, `"alice"`, what)
		require.Contains(t, resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)

		resp, _ = s.do(rt.Method, rt.Path, bearer(hs256(t, testSecret, claimsWith(rt.Permission))))
		requireAllowed(t, resp, what+" with exactly its permission")
	}
	require.Greater(t, protected, 10)
}

// The same walk with API keys: one key per permission holding only it, and
// one holding everything but it.
func TestEveryRouteChecksItsPermissionWithAPIKeys(t *testing.T) {
	t.Parallel()
	with, without := map[string]string{}, map[string]string{}
	var cfg auth.Config
	for _, p := range auth.Permissions() {
		for _, m := range []struct {
			keys  map[string]string
			name  string
			perms []string
		}{{with, "with " + p, []string{p}}, {without, "without " + p, allBut(p)}} {
			key, sum, err := auth.NewAPIKey()
			require.NoError(t, err)
			m.keys[p] = key
			cfg.APIKeys = append(cfg.APIKeys, auth.APIKey{Name: m.name, SHA256: sum, Permissions: m.perms})
		}
	}
	s := newAuthServer(t, cfg, true)
	for _, rt := range s.api.Routes() {
		what := rt.Method + " " + rt.Path
		if rt.Permission == "" {
			continue
		}
		resp, p := s.do(rt.Method, rt.Path, nil)
		requireUnauthorized(t, resp, p, `Bearer realm="tasker"`, "authentication required", what+" without a key")

		resp, p = s.do(rt.Method, rt.Path, bearer(with[rt.Permission]+"x"))
		requireUnauthorized(t, resp, p, `error_description="unknown API key"`, "unknown API key", what+" with a wrong key")

		resp, p = s.do(rt.Method, rt.Path, bearer(without[rt.Permission]))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, what+" without the permission")
		require.Contains(t, p.Detail, rt.Permission)
		require.Contains(t, p.Detail, "without "+rt.Permission, "the key's name is the subject")

		resp, _ = s.do(rt.Method, rt.Path, bearer(with[rt.Permission]))
		requireAllowed(t, resp, what+" with exactly its permission")
	}
}

func TestAPIKeyHeader(t *testing.T) {
	t.Parallel()
	key, sum, err := auth.NewAPIKey()
	require.NoError(t, err)
	s := newAuthServer(t, auth.Config{APIKeys: []auth.APIKey{{Name: "ci", SHA256: sum, Permissions: []string{"tasker.task:index"}}}}, true)

	resp, _ := s.do("GET", "/tasks", map[string]string{"X-API-Key": key})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, p := s.do("GET", "/tasks", map[string]string{"X-API-Key": key[:len(key)-1]})
	requireUnauthorized(t, resp, p, "invalid_token", "unknown API key", "wrong key in X-API-Key")
	resp, p = s.do("GET", "/tasks", map[string]string{"X-API-Key": "eyJhbGciOiJIUzI1NiJ9.e30.x"})
	requireUnauthorized(t, resp, p, "invalid_token", "X-API-Key must hold a tasker API key", "a JWT in X-API-Key")
	resp, p = s.do("GET", "/tasks", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))})
	requireUnauthorized(t, resp, p, "invalid_token", "scheme must be Bearer", "basic auth")
	resp, p = s.do("GET", "/tasks", map[string]string{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"})
	requireUnauthorized(t, resp, p, "invalid_token", "JWT authentication is not configured", "a JWT where only keys are configured")
	resp, p = s.do("POST", "/tasks", map[string]string{"X-API-Key": key})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, p.Detail, `"ci" (api_key:ci) lacks the permission tasker.task:create, which POST /tasker/tasks requires`)
}

func rsaKeys(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func rs256(t *testing.T, k *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(k)
	require.NoError(t, err)
	return s
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func TestRS256FromAPEMFile(t *testing.T) {
	t.Parallel()
	key, pub := rsaKeys(t)
	other, _ := rsaKeys(t)
	s := newAuthServer(t, auth.Config{JWT: auth.JWTConfig{RS256PublicKeyFile: writeTemp(t, "pub.pem", pub)}}, true)

	resp, _ := s.do("GET", "/tasks", bearer(rs256(t, key, "", claimsWith("tasker.task:index"))))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, p := s.do("GET", "/tasks", bearer(rs256(t, other, "", claimsWith("tasker.task:index"))))
	requireUnauthorized(t, resp, p, "invalid_token", "token signature is invalid", "signed by another key")
	// Alg confusion: an HS256 token whose secret is the public key's PEM.
	resp, p = s.do("GET", "/tasks", bearer(hs256(t, string(pub), claimsWith("*"))))
	requireUnauthorized(t, resp, p, "invalid_token", "token is signed with HS256; tasker accepts only RS256 tokens", "alg confusion")
}

func TestRS256FromAJWKSFile(t *testing.T) {
	t.Parallel()
	key1, _ := rsaKeys(t)
	key2, _ := rsaKeys(t)
	jwk := func(kid string, k *rsa.PublicKey) map[string]string {
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	}
	set, err := json.Marshal(map[string]any{"keys": []any{jwk("one", &key1.PublicKey), jwk("two", &key2.PublicKey)}})
	require.NoError(t, err)
	s := newAuthServer(t, auth.Config{JWT: auth.JWTConfig{JWKSFile: writeTemp(t, "jwks.json", set)}}, true)

	for kid, k := range map[string]*rsa.PrivateKey{"one": key1, "two": key2} {
		resp, _ := s.do("GET", "/tasks", bearer(rs256(t, k, kid, claimsWith("tasker.task:index"))))
		require.Equal(t, http.StatusOK, resp.StatusCode, kid)
	}
	resp, p := s.do("GET", "/tasks", bearer(rs256(t, key1, "two", claimsWith("tasker.task:index"))))
	requireUnauthorized(t, resp, p, "invalid_token", "token signature is invalid", "key one under kid two")
	resp, p = s.do("GET", "/tasks", bearer(rs256(t, key1, "three", claimsWith("tasker.task:index"))))
	requireUnauthorized(t, resp, p, `error_description="token's kid 'three' is not in the JWKS file"`, `token's kid "three" is not in the JWKS file`, "unknown kid")
	resp, p = s.do("GET", "/tasks", bearer(rs256(t, key1, "", claimsWith("tasker.task:index"))))
	requireUnauthorized(t, resp, p, "invalid_token", "no kid header", "no kid")
}

func TestRolesMapToPermissions(t *testing.T) {
	t.Parallel()
	key, sum, err := auth.NewAPIKey()
	require.NoError(t, err)
	s := newAuthServer(t, auth.Config{
		JWT:     auth.JWTConfig{HS256Secret: testSecret, RolesClaim: "groups"},
		Roles:   map[string][]string{"viewer": {"tasker.task:index", "tasker.task:show"}, "admin": {"*"}},
		APIKeys: []auth.APIKey{{Name: "dash", SHA256: sum, Roles: []string{"viewer"}}},
	}, true)
	viewer := jwt.MapClaims{"sub": "bob", "exp": time.Now().Add(time.Hour).Unix(), "groups": []string{"viewer", "unmapped"}}
	for _, h := range []map[string]string{bearer(hs256(t, testSecret, viewer)), bearer(key)} {
		resp, _ := s.do("GET", "/tasks", h)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, p := s.do("POST", "/tasks", h)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, p.Detail, "tasker.task:create")
	}
	admin := jwt.MapClaims{"sub": "root", "exp": time.Now().Add(time.Hour).Unix(), "groups": "admin"}
	for _, rt := range s.api.Routes() {
		resp, _ := s.do(rt.Method, rt.Path, bearer(hs256(t, testSecret, admin)))
		requireAllowed(t, resp, rt.Method+" "+rt.Path+" as admin")
	}
}

func TestWildcardPermissions(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, auth.Config{JWT: auth.JWTConfig{HS256Secret: testSecret}}, true)
	taskAll := bearer(hs256(t, testSecret, claimsWith("tasker.task:*")))
	everything := bearer(hs256(t, testSecret, claimsWith("*")))
	for _, rt := range s.api.Routes() {
		what := rt.Method + " " + rt.Path
		resp, _ := s.do(rt.Method, rt.Path, everything)
		requireAllowed(t, resp, what+" with *")
		resp, _ = s.do(rt.Method, rt.Path, taskAll)
		if rt.Permission == "" || strings.HasPrefix(rt.Permission, "tasker.task:") {
			requireAllowed(t, resp, what+" with tasker.task:*")
		} else {
			require.Equal(t, http.StatusForbidden, resp.StatusCode, what+" with tasker.task:*")
		}
	}
}

func TestStatusIsProtectedOrOpenAsConfigured(t *testing.T) {
	t.Parallel()
	cfg := auth.Config{JWT: auth.JWTConfig{HS256Secret: testSecret}}
	protected := newAuthServer(t, cfg, true)
	resp, _ := protected.do("GET", "/health/status", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = protected.do("GET", "/health/status", bearer(hs256(t, testSecret, claimsWith("tasker.health_status:index"))))
	require.Equal(t, http.StatusOK, resp.StatusCode)

	open := newAuthServer(t, cfg, false)
	resp, _ = open.do("GET", "/health/status", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = open.do("GET", "/tasks", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "only status is opened")
}

func TestProbesAndUnknownRoutesNeedNoAuth(t *testing.T) {
	t.Parallel()
	s := newAuthServer(t, auth.Config{JWT: auth.JWTConfig{HS256Secret: testSecret}}, true)
	for _, path := range []string{"/health/live", "/health/ready", "/openapi.json"} {
		resp, _ := s.do("GET", path, nil)
		requireAllowed(t, resp, path)
	}
	resp, _ := s.do("GET", "/health/live", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = s.do("GET", "/health/ready", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = s.do("GET", "/no/such/route", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// Without an Authenticator the API stays open, as before.
func TestNoAuthenticatorLeavesTheAPIOpen(t *testing.T) {
	t.Parallel()
	api := web.New(web.Config{Store: store.New(pgtest.New(t)), Registry: registry.New(), Logger: slog.New(slog.DiscardHandler), StatusRequiresAuth: true})
	for _, rt := range api.Routes() {
		rec := httptest.NewRecorder()
		// An event stream lasts until its request ends.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		api.ServeHTTP(rec, httptest.NewRequest(rt.Method, "/tasker"+fill(rt.Path), strings.NewReader("{}")).WithContext(ctx))
		cancel()
		require.NotEqual(t, http.StatusUnauthorized, rec.Code, rt.Method+" "+rt.Path)
		require.NotEqual(t, http.StatusForbidden, rec.Code, rt.Method+" "+rt.Path)
	}
}

type idleHandler struct{}

func (idleHandler) Execute(context.Context, core.StepRequest) (json.RawMessage, error) {
	return json.RawMessage(`{}`), nil
}

// Operator actions record who acted: the API key's name or the JWT's subject.
func TestActionsRecordThePrincipal(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.New(t))
	reg := registry.New()
	require.NoError(t, reg.AddUnversioned(map[string]core.Handler{"only": idleHandler{}}))
	logger := slog.New(slog.DiscardHandler)
	eng := engine.New(st, reg, logger, engine.Config{}) // never run: the steps stay pending
	require.NoError(t, eng.LoadTemplates(context.Background(), []core.TemplateSource{{Origin: "test", YAML: []byte(
		"name: one\nnamespace_name: auth\nversion: 1.0.0\nstep_templates:\n  - name: only\n    handler: only\n")}}))
	key, sum, err := auth.NewAPIKey()
	require.NoError(t, err)
	a, err := auth.New(auth.Config{JWT: auth.JWTConfig{HS256Secret: testSecret},
		APIKeys: []auth.APIKey{{Name: "ops", SHA256: sum, Permissions: []string{"*"}}}})
	require.NoError(t, err)
	srv := httptest.NewServer(web.New(web.Config{Store: st, Tasks: eng, Registry: reg, Logger: logger, Auth: a}))
	t.Cleanup(srv.Close)

	call := func(method, path, body string, h map[string]string) map[string]any {
		req, err := http.NewRequest(method, srv.URL+"/tasker"+path, strings.NewReader(body))
		require.NoError(t, err)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var doc map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		require.Less(t, resp.StatusCode, 300, "%s %s: %v", method, path, doc)
		return doc
	}
	actors := func(taskID int64) []string {
		steps := call("GET", fmt.Sprintf("/tasks/%d/workflow_steps", taskID), "", bearer(key))["workflow_steps"].([]any)
		require.Len(t, steps, 1)
		stepID := int64(steps[0].(map[string]any)["workflow_step_id"].(float64))
		step := call("GET", fmt.Sprintf("/tasks/%d/workflow_steps/%d", taskID, stepID), "", bearer(key))
		raw, err := json.Marshal(step["transitions"])
		require.NoError(t, err)
		var out []string
		for _, part := range strings.Split(string(raw), `"actor":"`)[1:] {
			out = append(out, part[:strings.Index(part, `"`)])
		}
		return out
	}
	for who, h := range map[string]map[string]string{
		"api:key:ops": {"X-API-Key": key},
		"api:alice":   bearer(hs256(t, testSecret, claimsWith("*"))),
	} {
		task := call("POST", "/tasks", `{"namespace": "auth", "name": "one", "context": {}, "idempotency_key": "`+who+`"}`, h)
		id := int64(task["task_id"].(float64))
		call("DELETE", fmt.Sprintf("/tasks/%d", id), `{"reason": "test"}`, h)
		require.Contains(t, actors(id), who)
	}
}
