package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tasker-systems/tasker/core/auth"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tasker.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestDefaultsWithNothingGiven(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Sources{File: filepath.Join(t.TempDir(), "absent.yaml")})
	require.NoError(t, err)
	require.Equal(t, Defaults(), cfg, "zero configuration works")
}

func TestLayersOverrideInOrder(t *testing.T) {
	t.Parallel()
	f := writeFile(t, `
listen: 0.0.0.0:9000
engine:
  workers: 8
  lease: 45s
plugins:
  require_checksums: true
`)
	cfg, err := Load(Sources{
		File:  f,
		Env:   []string{"PATH=/bin", "TASKER_ENGINE_WORKERS=16", "TASKER_DATA_DIR=/var/lib/tasker"},
		Flags: map[string]any{"engine.lease": "1m"},
	})
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0:9000", cfg.Listen, "file over default")
	require.Equal(t, 16, cfg.Engine.Workers, "environment over file")
	require.Equal(t, "/var/lib/tasker", cfg.DataDir)
	require.Equal(t, time.Minute, cfg.Engine.Lease, "flag over file")
	require.True(t, cfg.Plugins.RequireChecksums)
	require.Equal(t, 5*time.Minute, cfg.Engine.StepTimeout, "defaults fill the rest")
}

func TestUnknownKeysAreErrors(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{File: writeFile(t, "engine:\n  wrokers: 3\nlistn: x\n")})
	require.ErrorContains(t, err, "unknown settings engine.wrokers, listn")
	require.ErrorContains(t, err, "known: api.max_body_bytes, api.max_streams, auth.api_keys")
	require.ErrorContains(t, err, "data_dir")

	_, err = Load(Sources{Env: []string{"TASKER_ENGINE_WROKERS=3"}})
	require.ErrorContains(t, err, "environment variable TASKER_ENGINE_WROKERS is not a tasker setting")

	_, err = Load(Sources{File: filepath.Join(t.TempDir(), "absent.yaml"), FileRequired: true})
	require.ErrorContains(t, err, "absent.yaml")
}

func TestBadValuesAreNamed(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{Env: []string{"TASKER_ENGINE_WORKERS=many"}})
	require.ErrorContains(t, err, "workers")
	_, err = Load(Sources{File: writeFile(t, "engine:\n  workers: 0\n  lease: 10ms\nlog:\n  format: xml\n")})
	require.ErrorContains(t, err, "engine.workers is 0")
	require.ErrorContains(t, err, "engine.lease is 10ms")
	require.ErrorContains(t, err, `log.format "xml"`)
}

func TestAuthSectionFromTheFile(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	f := writeFile(t, `
listen: 0.0.0.0:8080
api:
  max_body_bytes: 2048
health:
  status_requires_auth: false
  status_cache: 1m
auth:
  jwt:
    hs256_secret: 0123456789abcdef0123456789abcdef
    issuer: https://idp.example
    roles_claim: groups
  roles:
    viewer: [tasker.task:index, tasker.task:show]
    operator: ["tasker.task:*", "tasker.workflow_step:*"]
  api_keys:
    - name: ci
      sha256: `+sum+`
      permissions: [tasker.task:create]
      roles: [viewer]
`)
	cfg, err := Load(Sources{File: f, Env: []string{"TASKER_AUTH_JWT_AUDIENCE=tasker"}})
	require.NoError(t, err)
	require.Equal(t, int64(2048), cfg.API.MaxBodyBytes)
	require.False(t, cfg.Health.StatusRequiresAuth)
	require.Equal(t, time.Minute, cfg.Health.StatusCache)
	require.Equal(t, "0123456789abcdef0123456789abcdef", cfg.Auth.JWT.HS256Secret)
	require.Equal(t, "https://idp.example", cfg.Auth.JWT.Issuer)
	require.Equal(t, "tasker", cfg.Auth.JWT.Audience, "scalar auth settings come from the environment too")
	require.Equal(t, "groups", cfg.Auth.JWT.RolesClaim)
	require.Equal(t, "permissions", cfg.Auth.JWT.PermissionsClaim, "default kept")
	require.Equal(t, map[string][]string{
		"viewer":   {"tasker.task:index", "tasker.task:show"},
		"operator": {"tasker.task:*", "tasker.workflow_step:*"},
	}, cfg.Auth.Roles)
	require.Equal(t, []auth.APIKey{{Name: "ci", SHA256: sum, Permissions: []string{"tasker.task:create"}, Roles: []string{"viewer"}}}, cfg.Auth.APIKeys)
	require.True(t, cfg.Auth.Enabled())
}

func TestAuthDefaults(t *testing.T) {
	t.Parallel()
	d := Defaults()
	require.False(t, d.Auth.Enabled(), "off by default")
	require.True(t, d.Health.StatusRequiresAuth)
	require.Equal(t, 15*time.Second, d.Health.StatusCache)
	require.Equal(t, int64(1<<20), d.API.MaxBodyBytes)
	require.False(t, d.InsecureNoAuth)
	cfg, err := Load(Sources{Flags: map[string]any{"insecure_no_auth": "true"}})
	require.NoError(t, err)
	require.True(t, cfg.InsecureNoAuth)
}

func TestUnknownKeysStillErrorsAroundAuth(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{File: writeFile(t, "auth:\n  jwt:\n    hs256_secrit: x\n  rolez:\n    a: [x]\n")})
	require.ErrorContains(t, err, "unknown settings auth.jwt.hs256_secrit, auth.rolez.a")

	_, err = Load(Sources{File: writeFile(t, "auth:\n  api_keys:\n    - name: ci\n      sha: abc\n      permissions: ['*']\n")})
	require.ErrorContains(t, err, "'auth.api_keys[0]' has invalid keys: sha", "an unknown field of an API key entry")

	_, err = Load(Sources{Env: []string{"TASKER_AUTH_ROLES=x"}})
	require.ErrorContains(t, err, "environment variable TASKER_AUTH_ROLES is not a tasker setting")
}

func TestAuthValidationMessages(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{File: writeFile(t, `
auth:
  jwt:
    hs256_secret: 0123456789abcdef0123456789abcdef
    jwks_file: /nonexistent/jwks.json
  roles:
    ops: [tasker.task:explode]
  api_keys:
    - sha256: nothex
      roles: [nobody]
`)})
	require.ErrorContains(t, err, "auth.jwt.hs256_secret and auth.jwt.jwks_file are all set")
	require.ErrorContains(t, err, `auth.roles.ops: unknown permission "tasker.task:explode"`)
	require.ErrorContains(t, err, "auth.api_keys[0] has no name")
	require.ErrorContains(t, err, "sha256 must be the 64 hex digits")
	require.ErrorContains(t, err, `role "nobody" is not defined under auth.roles`)

	_, err = Load(Sources{File: writeFile(t, "auth:\n  jwt:\n    rs256_public_key_file: /nonexistent/key.pem\napi:\n  max_body_bytes: 10\n")})
	require.ErrorContains(t, err, "auth.jwt.rs256_public_key_file: open /nonexistent/key.pem")
	require.ErrorContains(t, err, "api.max_body_bytes is 10")
}

// TASKER_SERVER and TASKER_TOKEN belong to the command-line client; a shell
// that sets them for it can still run serve.
func TestClientVariablesAreIgnored(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Sources{Env: []string{"TASKER_SERVER=http://tasker:8080/tasker", "TASKER_TOKEN=tsk_abc", "TASKER_ENGINE_WORKERS=2"}})
	require.NoError(t, err)
	require.Equal(t, 2, cfg.Engine.Workers)
	require.False(t, cfg.Auth.Enabled())
}

func TestDatabaseSection(t *testing.T) {
	t.Parallel()
	cfg, err := Load(Sources{Env: []string{"TASKER_DATABASE_SYNCHRONOUS_COMMIT=false"},
		File: writeFile(t, "database:\n  max_conns: 32\n")})
	require.NoError(t, err)
	require.False(t, cfg.Database.SynchronousCommit)
	require.Equal(t, 32, cfg.Database.MaxConns)
	require.True(t, Defaults().Database.SynchronousCommit, "full durability unless asked otherwise")

	_, err = Load(Sources{File: writeFile(t, "database:\n  max_conns: 2\n")})
	require.ErrorContains(t, err, "database.max_conns is 2; it must be at least 4")
}
