package auth

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func (a *Authenticator) authenticateJWT(raw string) (*Principal, error) {
	claims := jwt.MapClaims{}
	token, err := a.parser.ParseWithClaims(raw, claims, a.keyFor)
	if err != nil {
		return nil, a.explain(token, claims, err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, invalid("token has no sub claim; tasker needs it to know who acts")
	}
	p := &Principal{Subject: sub, Via: "jwt", perms: map[string]bool{}}
	for _, perm := range stringsOf(claims[a.permsClaim]) {
		p.perms[perm] = true
	}
	// Roles the configuration does not map grant nothing: an identity
	// provider's token often carries roles meant for other services.
	for _, role := range stringsOf(claims[a.rolesClaim]) {
		for _, perm := range a.roles[role] {
			p.perms[perm] = true
		}
	}
	return p, nil
}

func (a *Authenticator) parserOptions() []jwt.ParserOption {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{a.alg}), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt()}
	if a.issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.issuer))
	}
	if a.audience != "" {
		opts = append(opts, jwt.WithAudience(a.audience))
	}
	return opts
}

// keyFor gives the verification key of a token whose algorithm the parser
// has already checked against the configured one.
func (a *Authenticator) keyFor(t *jwt.Token) (any, error) {
	switch {
	case a.hsSecret != nil:
		return a.hsSecret, nil
	case a.rsKey != nil:
		return a.rsKey, nil
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		if len(a.jwks) == 1 {
			for _, k := range a.jwks {
				return k, nil
			}
		}
		return nil, errNoKid
	}
	k, ok := a.jwks[kid]
	if !ok {
		return nil, &unknownKidError{kid: kid}
	}
	return k, nil
}

var errNoKid = errors.New("token has no kid header, and the JWKS file holds several keys")

type unknownKidError struct{ kid string }

func (e *unknownKidError) Error() string {
	return fmt.Sprintf("token's kid %q is not in the JWKS file", e.kid)
}

// explain turns the JWT library's errors into plain reasons.
func (a *Authenticator) explain(token *jwt.Token, claims jwt.MapClaims, err error) error {
	if token != nil && token.Method != nil && token.Method.Alg() != a.alg {
		return invalid("token is signed with %s; tasker accepts only %s tokens", token.Method.Alg(), a.alg)
	}
	var kidErr *unknownKidError
	if errors.As(err, &kidErr) {
		return invalid("%s", kidErr.Error())
	}
	if errors.Is(err, errNoKid) {
		return invalid("%s", errNoKid.Error())
	}
	at := func(name string) string {
		if d, e := claims.GetExpirationTime(); name == "exp" && e == nil && d != nil {
			return d.UTC().Format(time.RFC3339)
		}
		if d, e := claims.GetNotBefore(); name == "nbf" && e == nil && d != nil {
			return d.UTC().Format(time.RFC3339)
		}
		return "?"
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("token is malformed (not a JWT)")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("token signature is invalid")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid("token has no exp claim; tasker accepts only tokens that expire")
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalid("token expired at %s", at("exp"))
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("token is not valid before %s", at("nbf"))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("token is issued in the future (iat)")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		iss, _ := claims.GetIssuer()
		return invalid("token issuer '%s' is not the configured issuer '%s'", iss, a.issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return invalid("token audience does not include the configured audience '%s'", a.audience)
	case errors.Is(err, jwt.ErrInvalidType):
		return invalid("token has a claim of the wrong type: %v", err)
	}
	return invalid("token is not accepted: %v", err)
}

// stringsOf reads a claim holding an array of strings or a space-separated string.
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
