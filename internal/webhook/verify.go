// Package webhook holds what Herald needs to accept a third-party webhook delivery: the
// verification of its signature or credentials (Stripe, GitHub, Slack, Standard Webhooks and
// generic HMAC, basic auth and API key), the decoding of its body, and the CEL expressions
// that map it onto an event key, a scope and a deduplication id.
//
// Verification works on the raw body bytes, before anything parses them, and compares
// MACs and credentials in constant time. It is pure: the engine fetches the webhook, opens
// its secret and records the outcome.
package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sources: the presets and the generic kind.
const (
	SourceStripe   = "stripe"
	SourceGitHub   = "github"
	SourceSlack    = "slack"
	SourceStandard = "standard"
	SourceGeneric  = "generic"
)

// Sources lists every valid source.
func Sources() []string {
	return []string{SourceStripe, SourceGitHub, SourceSlack, SourceStandard, SourceGeneric}
}

// Authentication methods of the generic source.
const (
	AuthHMAC   = "hmac"
	AuthBasic  = "basic"
	AuthAPIKey = "api_key"
)

// HMAC algorithms and signature encodings of the generic source.
const (
	AlgSHA1      = "sha1"
	AlgSHA256    = "sha256"
	AlgSHA512    = "sha512"
	EncHex       = "hex"
	EncBase64    = "base64"
	EncBase64URL = "base64url"
)

// Header names the presets read (canonical form).
const (
	HeaderStripeSignature  = "Stripe-Signature"
	HeaderGitHubSignature  = "X-Hub-Signature-256"
	HeaderGitHubDelivery   = "X-Github-Delivery"
	HeaderSlackSignature   = "X-Slack-Signature"
	HeaderSlackTimestamp   = "X-Slack-Request-Timestamp"
	HeaderStandardID       = "Webhook-Id"
	HeaderStandardTime     = "Webhook-Timestamp"
	HeaderStandardSig      = "Webhook-Signature"
	HeaderBasicCredentials = "Authorization"
)

// Tolerance is how far a signed timestamp may be from now, either way (Stripe, Slack and
// Standard Webhooks all use five minutes).
const Tolerance = 5 * time.Minute

// StandardSecretPrefix starts Standard Webhooks secrets (and Stripe's, which are used as
// they are).
const StandardSecretPrefix = "whsec_"

// Scheme says how deliveries to one webhook are authenticated.
type Scheme struct {
	// Source is one of the Source constants.
	Source string
	// Auth is the generic source's method and settings; unused by the presets.
	Auth Auth
	// Secret is the preset's signing secret, the HMAC secret, the basic-auth password or
	// the API key.
	Secret []byte
}

// Auth is the non-secret part of a generic webhook's authentication.
type Auth struct {
	// Type is hmac, basic or api_key.
	Type string `json:"type"`
	// Header carries the signature (hmac) or the key (api_key).
	Header string `json:"header,omitempty"`
	// Algorithm is sha1, sha256 or sha512 (hmac).
	Algorithm string `json:"algorithm,omitempty"`
	// Encoding is hex, base64 or base64url (hmac).
	Encoding string `json:"encoding,omitempty"`
	// Prefix precedes the encoded signature in the header, such as "sha256=" (hmac).
	Prefix string `json:"prefix,omitempty"`
	// Username is the basic-auth user name.
	Username string `json:"username,omitempty"`
}

// Error is a refused verification. Its message tells the sender what was wrong (a missing
// header, a stale timestamp, no matching signature) and never anything about the secret.
type Error struct {
	Msg string
}

// Error implements error.
func (e *Error) Error() string { return e.Msg }

func refuse(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// Verify authenticates a delivery: its headers and raw body, at time now.
func (s Scheme) Verify(h http.Header, body []byte, now time.Time) error {
	switch s.Source {
	case SourceStripe:
		return verifyStripe(s.Secret, h, body, now)
	case SourceGitHub:
		return verifyGitHub(s.Secret, h, body)
	case SourceSlack:
		return verifySlack(s.Secret, h, body, now)
	case SourceStandard:
		return verifyStandard(s.Secret, h, body, now)
	case SourceGeneric:
		switch s.Auth.Type {
		case AuthHMAC:
			return verifyHMAC(s.Auth, s.Secret, h, body)
		case AuthBasic:
			return verifyBasic(s.Auth.Username, s.Secret, h)
		case AuthAPIKey:
			return verifyAPIKey(s.Auth.Header, s.Secret, h)
		}
	}
	return fmt.Errorf("webhook source %q with auth %q cannot be verified", s.Source, s.Auth.Type)
}

// CredentialHeaders lists the request headers that carry a credential (basic auth, an API
// key): they are kept out of expressions.
func (s Scheme) CredentialHeaders() []string {
	if s.Source != SourceGeneric {
		return nil
	}
	switch s.Auth.Type {
	case AuthBasic:
		return []string{HeaderBasicCredentials}
	case AuthAPIKey:
		return []string{s.Auth.Header}
	}
	return nil
}

// single returns the one value of header name; missing or repeated is refused.
func single(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", refuse("missing %s header", name)
	case 1:
		return vs[0], nil
	}
	return "", refuse("%s header appears %d times; exactly one is allowed", name, len(vs))
}

// mac returns the HMAC of the concatenated parts.
func mac(newHash func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(newHash, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// checkTime refuses a unix-seconds timestamp more than Tolerance away from now.
func checkTime(what string, ts int64, now time.Time) error {
	d := now.Sub(time.Unix(ts, 0))
	switch {
	case d > Tolerance:
		return refuse("%s is %s old; the limit is %s (replayed or delayed delivery)", what, d.Truncate(time.Second), Tolerance)
	case d < -Tolerance:
		return refuse("%s is %s in the future; the limit is %s (check the sender's clock)", what, (-d).Truncate(time.Second), Tolerance)
	}
	return nil
}

// parseUnix parses a unix timestamp in seconds: ASCII digits only.
func parseUnix(what, s string) (int64, error) {
	if s == "" || len(s) > 15 {
		return 0, refuse("%s %q is not a unix timestamp", what, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, refuse("%s %q is not a unix timestamp", what, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, refuse("%s %q is not a unix timestamp", what, s)
	}
	return n, nil
}

// StripeSignature is a parsed Stripe-Signature header.
type StripeSignature struct {
	// Timestamp is t=, unix seconds.
	Timestamp int64
	// V1 are the v1= signatures (several while the sender rolls its secret).
	V1 [][]byte
}

// ParseStripeSignature parses "t=<unix>,v1=<hex>[,v1=<hex>...]". Other schemes (v0),
// items that are not key=value and v1 entries that are not 32 bytes of hex are skipped, as
// Stripe's own libraries skip them, so one unusable entry next to a valid one does not
// refuse the delivery; a missing, repeated or malformed t, or no usable v1, is refused.
func ParseStripeSignature(v string) (StripeSignature, error) {
	var sig StripeSignature
	seenT := false
	skipped := 0
	for _, item := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue // not key=value: nothing usable, like an unknown scheme
		}
		switch k {
		case "t":
			if seenT {
				return sig, refuse("%s: t= appears twice", HeaderStripeSignature)
			}
			seenT = true
			ts, err := parseUnix(HeaderStripeSignature+" t", val)
			if err != nil {
				return sig, err
			}
			sig.Timestamp = ts
		case "v1":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != sha256.Size {
				skipped++
				continue
			}
			sig.V1 = append(sig.V1, b)
		}
	}
	if !seenT {
		return sig, refuse("%s has no t= timestamp", HeaderStripeSignature)
	}
	if len(sig.V1) == 0 {
		if skipped > 0 {
			return sig, refuse("%s has no usable v1= signature (skipped %d that are not a hex SHA-256 signature)", HeaderStripeSignature, skipped)
		}
		return sig, refuse("%s has no v1= signature", HeaderStripeSignature)
	}
	return sig, nil
}

// verifyStripe: HMAC-SHA256 over "<t>.<body>" keyed with the whole signing secret
// ("whsec_..." as it is), any v1 matching, t within the tolerance.
func verifyStripe(secret []byte, h http.Header, body []byte, now time.Time) error {
	v, err := single(h, HeaderStripeSignature)
	if err != nil {
		return err
	}
	sig, err := ParseStripeSignature(v)
	if err != nil {
		return err
	}
	want := mac(sha256.New, secret, []byte(strconv.FormatInt(sig.Timestamp, 10)), []byte("."), body)
	if !anyEqual(sig.V1, want) {
		return refuse("%s: no v1 signature matches the body", HeaderStripeSignature)
	}
	return checkTime(HeaderStripeSignature+" timestamp", sig.Timestamp, now)
}

// anyEqual reports in constant time per candidate whether one of sigs is want.
func anyEqual(sigs [][]byte, want []byte) bool {
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	return ok
}

// ParsePrefixedHex parses "<prefix><hex>" holding a digest of size bytes (GitHub's
// "sha256=...", Slack's "v0=...").
func ParsePrefixedHex(header, prefix, v string, size int) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return nil, refuse("%s does not start with %q", header, prefix)
	}
	b, err := hex.DecodeString(rest)
	if err != nil || len(b) != size {
		return nil, refuse("%s is not %q followed by a hex SHA-256 signature", header, prefix)
	}
	return b, nil
}

// verifyGitHub: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>.
func verifyGitHub(secret []byte, h http.Header, body []byte) error {
	v, err := single(h, HeaderGitHubSignature)
	if err != nil {
		return err
	}
	got, err := ParsePrefixedHex(HeaderGitHubSignature, "sha256=", v, sha256.Size)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, mac(sha256.New, secret, body)) {
		return refuse("%s does not match the body", HeaderGitHubSignature)
	}
	return nil
}

// verifySlack: X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">, with
// X-Slack-Request-Timestamp within five minutes.
func verifySlack(secret []byte, h http.Header, body []byte, now time.Time) error {
	v, err := single(h, HeaderSlackSignature)
	if err != nil {
		return err
	}
	tsv, err := single(h, HeaderSlackTimestamp)
	if err != nil {
		return err
	}
	ts, err := parseUnix(HeaderSlackTimestamp, tsv)
	if err != nil {
		return err
	}
	got, err := ParsePrefixedHex(HeaderSlackSignature, "v0=", v, sha256.Size)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, mac(sha256.New, secret, []byte("v0:"+tsv+":"), body)) {
		return refuse("%s does not match the body", HeaderSlackSignature)
	}
	return checkTime(HeaderSlackTimestamp, ts, now)
}

// ParseStandardSignatures parses a webhook-signature header: space-separated
// "<version>,<base64>" entries. It returns the v1 (HMAC-SHA256) signatures. Other versions
// (v1a is asymmetric), entries without a version and v1 entries that are not base64 of a
// SHA-256 MAC are skipped, as the specification's reference libraries skip them, so one
// unusable entry next to a valid one does not refuse the delivery; no usable v1 entry is
// refused.
func ParseStandardSignatures(v string) ([][]byte, error) {
	var out [][]byte
	malformed := 0
	for _, item := range strings.Fields(v) {
		ver, sig, ok := strings.Cut(item, ",")
		if !ok {
			malformed++
			continue
		}
		if ver != "v1" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(b) != sha256.Size {
			malformed++
			continue
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		if malformed > 0 {
			return nil, refuse("%s has no usable v1 signature (skipped %d that are not v1,<base64 of a SHA-256 MAC>)", HeaderStandardSig, malformed)
		}
		return nil, refuse("%s has no v1 signature", HeaderStandardSig)
	}
	return out, nil
}

// StandardKey returns the HMAC key of a Standard Webhooks secret: the base64 after the
// optional "whsec_" prefix.
func StandardKey(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, StandardSecretPrefix))
	if err != nil {
		return nil, errors.New(`a Standard Webhooks secret is "whsec_" followed by base64`)
	}
	if len(k) == 0 {
		return nil, errors.New("a Standard Webhooks secret must not be empty")
	}
	return k, nil
}

// verifyStandard: webhook-signature holds base64 HMAC-SHA256 signatures of
// "<webhook-id>.<webhook-timestamp>.<body>" keyed with the decoded secret.
func verifyStandard(secret []byte, h http.Header, body []byte, now time.Time) error {
	id, err := single(h, HeaderStandardID)
	if err != nil {
		return err
	}
	tsv, err := single(h, HeaderStandardTime)
	if err != nil {
		return err
	}
	v, err := single(h, HeaderStandardSig)
	if err != nil {
		return err
	}
	if id == "" {
		return refuse("%s header is empty", HeaderStandardID)
	}
	ts, err := parseUnix(HeaderStandardTime, tsv)
	if err != nil {
		return err
	}
	sigs, err := ParseStandardSignatures(v)
	if err != nil {
		return err
	}
	key, err := StandardKey(string(secret))
	if err != nil {
		return fmt.Errorf("stored secret: %w", err)
	}
	want := mac(sha256.New, key, []byte(id+"."+tsv+"."), body)
	if !anyEqual(sigs, want) {
		return refuse("%s: no v1 signature matches the body", HeaderStandardSig)
	}
	return checkTime(HeaderStandardTime, ts, now)
}

// HashFunc returns the hash of a generic HMAC algorithm, or nil.
func HashFunc(alg string) func() hash.Hash {
	switch alg {
	case AlgSHA1:
		return sha1.New
	case AlgSHA256:
		return sha256.New
	case AlgSHA512:
		return sha512.New
	}
	return nil
}

// DecodeSignature decodes a generic HMAC header value: the prefix (if any) removed, then
// hex (either case), base64 or base64url (padded or not).
func DecodeSignature(header, prefix, encoding, v string) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return nil, refuse("%s does not start with %q", header, prefix)
	}
	var b []byte
	var err error
	switch encoding {
	case EncHex:
		b, err = hex.DecodeString(rest)
	case EncBase64:
		b, err = base64.StdEncoding.DecodeString(rest)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(rest)
		}
	case EncBase64URL:
		b, err = base64.URLEncoding.DecodeString(rest)
		if err != nil {
			b, err = base64.RawURLEncoding.DecodeString(rest)
		}
	default:
		return nil, fmt.Errorf("unknown signature encoding %q", encoding)
	}
	if err != nil || len(b) == 0 {
		return nil, refuse("%s is not %s", header, encoding)
	}
	return b, nil
}

// verifyHMAC: the header holds prefix + encoding(HMAC-alg(secret, body)).
func verifyHMAC(a Auth, secret []byte, h http.Header, body []byte) error {
	newHash := HashFunc(a.Algorithm)
	if newHash == nil {
		return fmt.Errorf("unknown HMAC algorithm %q", a.Algorithm)
	}
	v, err := single(h, a.Header)
	if err != nil {
		return err
	}
	got, err := DecodeSignature(a.Header, a.Prefix, a.Encoding, v)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, mac(newHash, secret, body)) {
		return refuse("%s does not match the body", a.Header)
	}
	return nil
}

// ParseBasicAuth parses an Authorization header value "Basic base64(user:password)".
func ParseBasicAuth(v string) (user, password string, err error) {
	const p = "basic "
	if len(v) < len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", "", refuse("Authorization is not Basic credentials")
	}
	b, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(v[len(p):]))
	if derr != nil {
		return "", "", refuse("Authorization: Basic credentials are not base64")
	}
	user, password, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", refuse("Authorization: Basic credentials are not user:password")
	}
	return user, password, nil
}

// equalSecret compares two credentials in constant time, their lengths included.
func equalSecret(a, b []byte) bool {
	ha, hb := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func verifyBasic(username string, password []byte, h http.Header) error {
	v, err := single(h, HeaderBasicCredentials)
	if err != nil {
		return err
	}
	user, pass, err := ParseBasicAuth(v)
	if err != nil {
		return err
	}
	// Evaluate both comparisons so the time does not tell which one failed.
	okUser := equalSecret([]byte(user), []byte(username))
	okPass := equalSecret([]byte(pass), password)
	if !okUser || !okPass {
		return refuse("Authorization: wrong user name or password")
	}
	return nil
}

func verifyAPIKey(header string, key []byte, h http.Header) error {
	v, err := single(h, header)
	if err != nil {
		return err
	}
	if !equalSecret(bytes.TrimSpace([]byte(v)), key) {
		return refuse("%s: wrong API key", header)
	}
	return nil
}
