package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

const secret = "0123456789abcdef0123456789abcdef-test"

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func claims(extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return k
}

func pemOf(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func jwksOf(kid string, k *rsa.PublicKey) []byte {
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
	}}})
	return b
}

func reason(t *testing.T, a *Authenticator, token string) string {
	t.Helper()
	_, err := a.Authenticate(token)
	require.Error(t, err)
	require.ErrorIs(t, err, ErrInvalidCredentials)
	return err.Error()
}

func TestOffWhenNothingIsConfigured(t *testing.T) {
	t.Parallel()
	a, err := New(Config{Roles: map[string][]string{"reader": {"tasker.task:index"}}})
	require.NoError(t, err)
	require.Nil(t, a)
	require.False(t, Config{}.Enabled())
	require.True(t, Config{JWT: JWTConfig{JWKSFile: "x"}}.Enabled())
}

func TestConfigErrorsNameTheirSetting(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "absent.pem")
	notPEM := writeFile(t, "key.pem", []byte("hello"))
	cases := []struct {
		cfg  Config
		want []string
	}{
		{Config{JWT: JWTConfig{HS256Secret: secret, RS256PublicKeyFile: notPEM}},
			[]string{"auth.jwt.hs256_secret and auth.jwt.rs256_public_key_file are all set; set only one"}},
		{Config{JWT: JWTConfig{HS256Secret: secret, HS256SecretFile: notPEM}},
			[]string{"auth.jwt.hs256_secret and auth.jwt.hs256_secret_file"}},
		{Config{JWT: JWTConfig{HS256Secret: "short"}}, []string{"auth.jwt.hs256_secret is 5 bytes", "at least 32"}},
		{Config{JWT: JWTConfig{HS256SecretFile: missing}}, []string{"auth.jwt.hs256_secret_file", "absent.pem"}},
		{Config{JWT: JWTConfig{RS256PublicKeyFile: missing}}, []string{"auth.jwt.rs256_public_key_file", "no such file"}},
		{Config{JWT: JWTConfig{RS256PublicKeyFile: notPEM}}, []string{"auth.jwt.rs256_public_key_file", "not a PEM RSA public key"}},
		{Config{JWT: JWTConfig{JWKSFile: notPEM}}, []string{"auth.jwt.jwks_file", "not a JWKS document"}},
		{Config{JWT: JWTConfig{JWKSFile: writeFile(t, "e.json", []byte(`{"keys":[{"kty":"EC","kid":"a"}]}`))}},
			[]string{"auth.jwt.jwks_file", "no RSA signing key"}},
		{Config{APIKeys: []APIKey{{SHA256: HashAPIKey("tsk_x"), Permissions: []string{"*"}}}},
			[]string{"auth.api_keys[0] has no name"}},
		{Config{APIKeys: []APIKey{{Name: "ci", SHA256: "abc", Permissions: []string{"*"}}}},
			[]string{`auth.api_keys[0] (ci): sha256 must be the 64 hex digits`, `"abc"`}},
		{Config{APIKeys: []APIKey{{Name: "ci", SHA256: HashAPIKey("tsk_x")}}},
			[]string{"auth.api_keys[0] (ci) grants nothing"}},
		{Config{APIKeys: []APIKey{{Name: "ci", SHA256: HashAPIKey("tsk_x"), Roles: []string{"ops"}}}},
			[]string{`auth.api_keys[0] (ci): role "ops" is not defined under auth.roles`}},
		{Config{APIKeys: []APIKey{{Name: "ci", SHA256: HashAPIKey("tsk_x"), Permissions: []string{"tasker.task:destroy"}}}},
			[]string{`auth.api_keys[0] (ci).permissions: unknown permission "tasker.task:destroy"`, "known: tasker.event:index, tasker.event:retry, tasker.handler:index"}},
		{Config{APIKeys: []APIKey{{Name: "a", SHA256: HashAPIKey("tsk_x"), Permissions: []string{"*"}}, {Name: "a", SHA256: HashAPIKey("tsk_x"), Permissions: []string{"*"}}}},
			[]string{`the name "a" is used by another key`, "configured twice"}},
		{Config{Roles: map[string][]string{"ops": nil, "bad": {"tasker.nothing:*"}}},
			[]string{"auth.roles.ops grants no permission", `auth.roles.bad: unknown permission "tasker.nothing:*"`}},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		require.Error(t, err, "%+v", c.cfg)
		for _, w := range c.want {
			require.ErrorContains(t, err, w)
		}
		require.Equal(t, err.Error(), c.cfg.Validate().Error())
	}
}

func TestKnownPermissions(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"*", "tasker.task:*", "tasker.workflow_step:resolve", "tasker.metrics:index", "tasker.health_status:*"} {
		require.True(t, KnownPermission(p), p)
	}
	for _, p := range []string{"", "tasker.*", "tasker.task:destroy", "task:*", "tasker.task"} {
		require.False(t, KnownPermission(p), p)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	key, sum, err := NewAPIKey()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(key, "tsk_"))
	require.Len(t, key, 4+43)
	require.Len(t, sum, 64)
	other, otherSum, err := NewAPIKey()
	require.NoError(t, err)
	require.NotEqual(t, key, other)

	a, err := New(Config{
		Roles: map[string][]string{"reader": {"tasker.task:index", "tasker.task:show"}},
		APIKeys: []APIKey{
			{Name: "ci", SHA256: sum, Permissions: []string{"tasker.task:create"}, Roles: []string{"reader"}},
			{Name: "ops", SHA256: strings.ToUpper(otherSum), Permissions: []string{"tasker.workflow_step:*"}},
		},
	})
	require.NoError(t, err)
	require.Equal(t, 2, a.APIKeys())
	_, jwtOn := a.JWTEnabled()
	require.False(t, jwtOn)

	p, err := a.Authenticate(key)
	require.NoError(t, err)
	require.Equal(t, "ci", p.Subject)
	require.Equal(t, "api_key:ci", p.Via)
	require.Equal(t, "ci", p.APIKeyName())
	require.True(t, p.Can("tasker.task:create"))
	require.True(t, p.Can("tasker.task:show"), "through the role")
	require.False(t, p.Can("tasker.task:cancel"))

	p, err = a.Authenticate(other)
	require.NoError(t, err, "hex digits in either case")
	require.True(t, p.Can("tasker.workflow_step:retry"), "resource wildcard")
	require.False(t, p.Can("tasker.task:index"))

	_, err = a.Authenticate("")
	require.ErrorIs(t, err, ErrNoCredentials)
	require.Equal(t, "unknown API key", reason(t, a, key+"x"))
	require.Contains(t, reason(t, a, "eyJhbGciOi.x.y"), "JWT authentication is not configured")
}

func TestJWTHS256(t *testing.T) {
	t.Parallel()
	a, err := New(Config{
		JWT:   JWTConfig{HS256SecretFile: writeFile(t, "secret", []byte(secret+"\n")), Issuer: "https://idp", Audience: "tasker"},
		Roles: map[string][]string{"viewer": {"tasker.task:index"}, "admin": {"*"}},
	})
	require.NoError(t, err)
	alg, on := a.JWTEnabled()
	require.True(t, on)
	require.Equal(t, "HS256", alg)
	good := func(extra jwt.MapClaims) jwt.MapClaims {
		c := claims(jwt.MapClaims{"iss": "https://idp", "aud": "tasker"})
		for k, v := range extra {
			c[k] = v
		}
		return c
	}

	p, err := a.Authenticate(sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{
		"permissions": []string{"tasker.task:create", "tasker.handler:*"}, "roles": []string{"viewer", "someone-elses-role"},
	}), nil))
	require.NoError(t, err)
	require.Equal(t, "alice", p.Subject)
	require.Equal(t, "jwt", p.Via)
	require.Equal(t, "", p.APIKeyName())
	require.Equal(t, []string{"tasker.handler:*", "tasker.task:create", "tasker.task:index"}, p.Permissions())
	require.True(t, p.Can("tasker.handler:show"))
	require.False(t, p.Can("tasker.task:show"))

	p, err = a.Authenticate(sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"permissions": "tasker.task:show tasker.task:retry"}), nil))
	require.NoError(t, err)
	require.True(t, p.Can("tasker.task:retry"), "space-separated claim")

	p, err = a.Authenticate(sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"roles": "admin"}), nil))
	require.NoError(t, err)
	require.True(t, p.Can("tasker.metrics:index"), "* grants everything")

	expired := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.Equal(t, "token expired at "+expired.UTC().Format(time.RFC3339),
		reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"exp": expired.Unix()}), nil)))
	_, err = a.Authenticate(sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix()}), nil))
	require.NoError(t, err, "within the leeway")
	require.Equal(t, "token signature is invalid", reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret+"!"), good(nil), nil)))
	require.Contains(t, reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"iss": "https://evil"}), nil)), "issuer 'https://evil'")
	require.Contains(t, reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"aud": "other"}), nil)), "audience")
	noExp := good(nil)
	delete(noExp, "exp")
	require.Contains(t, reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret), noExp, nil)), "no exp claim")
	require.Contains(t, reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"sub": ""}), nil)), "no sub claim")
	require.Contains(t, reason(t, a, sign(t, jwt.SigningMethodHS256, []byte(secret), good(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}), nil)), "not valid before")
	require.Contains(t, reason(t, a, "not.a.jwt"), "malformed")
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good(nil), nil)
	require.Equal(t, "token is signed with none; tasker accepts only HS256 tokens", reason(t, a, none))
	require.Equal(t, "token is signed with HS512; tasker accepts only HS256 tokens",
		reason(t, a, sign(t, jwt.SigningMethodHS512, []byte(secret), good(nil), nil)))
}

func TestJWTRS256(t *testing.T) {
	t.Parallel()
	key := rsaKey(t)
	pemBytes := pemOf(t, &key.PublicKey)
	fromPEM, err := New(Config{JWT: JWTConfig{RS256PublicKeyFile: writeFile(t, "pub.pem", pemBytes)}})
	require.NoError(t, err)
	fromJWKS, err := New(Config{JWT: JWTConfig{JWKSFile: writeFile(t, "jwks.json", jwksOf("k1", &key.PublicKey))}})
	require.NoError(t, err)

	token := sign(t, jwt.SigningMethodRS256, key, claims(jwt.MapClaims{"permissions": []string{"tasker.task:index"}}), map[string]any{"kid": "k1"})
	for _, a := range []*Authenticator{fromPEM, fromJWKS} {
		p, err := a.Authenticate(token)
		require.NoError(t, err)
		require.True(t, p.Can("tasker.task:index"))
		// Alg confusion: an HS256 token whose "secret" is the public key.
		confused := sign(t, jwt.SigningMethodHS256, pemBytes, claims(jwt.MapClaims{"permissions": "*"}), map[string]any{"kid": "k1"})
		require.Equal(t, "token is signed with HS256; tasker accepts only RS256 tokens", reason(t, a, confused))
		require.Equal(t, "token signature is invalid", reason(t, a, sign(t, jwt.SigningMethodRS256, rsaKey(t), claims(nil), map[string]any{"kid": "k1"})))
	}
	require.Equal(t, `token's kid "k2" is not in the JWKS file`,
		reason(t, fromJWKS, sign(t, jwt.SigningMethodRS256, key, claims(nil), map[string]any{"kid": "k2"})))
	_, err = fromJWKS.Authenticate(sign(t, jwt.SigningMethodRS256, key, claims(nil), nil))
	require.NoError(t, err, "a set of one key serves tokens without kid")

	two := []byte(`{"keys":[` + strings.TrimSuffix(strings.TrimPrefix(string(jwksOf("a", &key.PublicKey)), `{"keys":[`), `]}`) + `,` +
		strings.TrimSuffix(strings.TrimPrefix(string(jwksOf("b", &rsaKey(t).PublicKey)), `{"keys":[`), `]}`) + `,{"kty":"oct","k":"c2VjcmV0"}]}`)
	keys, err := ParseJWKS(two)
	require.NoError(t, err)
	require.Len(t, keys, 2, "the symmetric key is skipped")
	a, err := New(Config{JWT: JWTConfig{JWKSFile: writeFile(t, "two.json", two)}})
	require.NoError(t, err)
	require.Contains(t, reason(t, a, sign(t, jwt.SigningMethodRS256, key, claims(nil), nil)), "no kid header")
	_, err = a.Authenticate(sign(t, jwt.SigningMethodRS256, key, claims(nil), map[string]any{"kid": "a"}))
	require.NoError(t, err)

	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, err = New(Config{JWT: JWTConfig{RS256PublicKeyFile: writeFile(t, "small.pem", pemOf(t, &small.PublicKey))}})
	require.ErrorContains(t, err, "the RSA key has 1024 bits; at least 2048 are required")
}
