package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Config is the `auth` section of tasker's configuration (koanf keys).
type Config struct {
	JWT JWTConfig `koanf:"jwt"`
	// Roles maps a role name to the permissions it grants; JWT role claims
	// and API keys refer to them.
	Roles   map[string][]string `koanf:"roles"`
	APIKeys []APIKey            `koanf:"api_keys"`
}

// JWTConfig says how bearer JWTs are checked. Exactly one key source may be
// set: an HS256 secret (inline or in a file), an RS256 PEM public key or a
// JWKS file.
type JWTConfig struct {
	HS256Secret        string `koanf:"hs256_secret"`
	HS256SecretFile    string `koanf:"hs256_secret_file"`
	RS256PublicKeyFile string `koanf:"rs256_public_key_file"`
	JWKSFile           string `koanf:"jwks_file"`
	Issuer             string `koanf:"issuer"`   // required iss, when set
	Audience           string `koanf:"audience"` // required aud, when set
	PermissionsClaim   string `koanf:"permissions_claim"`
	RolesClaim         string `koanf:"roles_claim"`
}

// APIKey is a configured key, known only by the SHA-256 of its text.
type APIKey struct {
	Name        string   `koanf:"name"`
	SHA256      string   `koanf:"sha256"`
	Permissions []string `koanf:"permissions"`
	Roles       []string `koanf:"roles"`
}

// Enabled reports whether the configuration turns authentication on: a JWT
// verification key or at least one API key.
func (c Config) Enabled() bool {
	j := c.JWT
	return j.HS256Secret != "" || j.HS256SecretFile != "" || j.RS256PublicKeyFile != "" || j.JWKSFile != "" || len(c.APIKeys) > 0
}

// Validate reports every problem of the configuration, reading its key
// files as New does.
func (c Config) Validate() error {
	_, err := New(c)
	return err
}

// MinHS256Secret is the shortest HS256 secret accepted: 256 bits, the
// algorithm's own strength.
const MinHS256Secret = 32

func (a *Authenticator) loadJWT(c JWTConfig) []error {
	var sources []string
	for _, s := range []struct{ key, value string }{
		{"auth.jwt.hs256_secret", c.HS256Secret}, {"auth.jwt.hs256_secret_file", c.HS256SecretFile},
		{"auth.jwt.rs256_public_key_file", c.RS256PublicKeyFile}, {"auth.jwt.jwks_file", c.JWKSFile},
	} {
		if s.value != "" {
			sources = append(sources, s.key)
		}
	}
	switch {
	case len(sources) == 0:
		return nil
	case len(sources) > 1:
		return []error{fmt.Errorf("%s are all set; set only one JWT key source", strings.Join(sources, " and "))}
	}
	switch {
	case c.HS256Secret != "":
		a.alg, a.hsSecret = "HS256", []byte(c.HS256Secret)
	case c.HS256SecretFile != "":
		b, err := os.ReadFile(c.HS256SecretFile)
		if err != nil {
			return []error{fmt.Errorf("auth.jwt.hs256_secret_file: %w", err)}
		}
		a.alg, a.hsSecret = "HS256", []byte(strings.TrimRight(string(b), "\r\n"))
	case c.RS256PublicKeyFile != "":
		b, err := os.ReadFile(c.RS256PublicKeyFile)
		if err != nil {
			return []error{fmt.Errorf("auth.jwt.rs256_public_key_file: %w", err)}
		}
		key, err := jwt.ParseRSAPublicKeyFromPEM(b)
		if err != nil {
			return []error{fmt.Errorf("auth.jwt.rs256_public_key_file %s: not a PEM RSA public key or certificate: %w", c.RS256PublicKeyFile, err)}
		}
		if err := checkRSA(key); err != nil {
			return []error{fmt.Errorf("auth.jwt.rs256_public_key_file %s: %w", c.RS256PublicKeyFile, err)}
		}
		a.alg, a.rsKey = "RS256", key
	case c.JWKSFile != "":
		b, err := os.ReadFile(c.JWKSFile)
		if err != nil {
			return []error{fmt.Errorf("auth.jwt.jwks_file: %w", err)}
		}
		keys, err := ParseJWKS(b)
		if err != nil {
			return []error{fmt.Errorf("auth.jwt.jwks_file %s: %w", c.JWKSFile, err)}
		}
		a.alg, a.jwks = "RS256", keys
	}
	if a.alg == "HS256" && len(a.hsSecret) < MinHS256Secret {
		return []error{fmt.Errorf("%s is %d bytes; an HS256 secret must be at least %d (e.g. openssl rand -base64 48)", sources[0], len(a.hsSecret), MinHS256Secret)}
	}
	return nil
}

func checkRSA(k *rsa.PublicKey) error {
	if k.N.BitLen() < 2048 {
		return fmt.Errorf("the RSA key has %d bits; at least 2048 are required", k.N.BitLen())
	}
	return nil
}

// ParseJWKS reads the RSA signing keys of a JSON Web Key Set (RFC 7517), by
// kid. Keys of other types, or meant for encryption or for another
// algorithm, are skipped; a set with no usable key is an error.
func ParseJWKS(data []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for i, k := range set.Keys {
		if k.Kty != "RSA" || (k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.N, "="))
		e, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(k.E, "="))
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("key %d (kid %q): n and e must be base64url big-endian integers", i, k.Kid)
		}
		exp := new(big.Int).SetBytes(e)
		key := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}
		if key.E < 3 || key.E%2 == 0 {
			return nil, fmt.Errorf("key %d (kid %q): exponent %d is not usable", i, k.Kid, key.E)
		}
		if err := checkRSA(key); err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if _, dup := out[k.Kid]; dup {
			return nil, fmt.Errorf("kid %q appears twice", k.Kid)
		}
		out[k.Kid] = key
	}
	if len(out) == 0 {
		return nil, errors.New("no RSA signing key (kty RSA, use sig, alg RS256) in the set")
	}
	if _, noKid := out[""]; noKid && len(out) > 1 {
		return nil, errors.New("a key has no kid while the set holds several; every key needs a kid to be chosen by")
	}
	return out, nil
}

// NewAPIKey makes a fresh API key and the hex SHA-256 to configure for it:
// tsk_ then 32 random bytes, base64url.
func NewAPIKey() (key, sha256Hex string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key), nil
}

// HashAPIKey is the hex SHA-256 of a key, as auth.api_keys[].sha256 holds it.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
