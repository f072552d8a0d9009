package webhook_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/webhook"
)

// Published vectors, from each sender's own documentation or reference library.
const (
	// GitHub, "Validating webhook deliveries": testing the webhook payload validation.
	githubSecret    = "It's a Secret to Everybody"
	githubBody      = "Hello, World!"
	githubSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

	// Slack, "Verifying requests from Slack": the worked example.
	slackSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	slackTimestamp = "1531420618"
	slackBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

	// Standard Webhooks: the signing example of the specification's reference libraries.
	standardSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	standardID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	standardTimestamp = "1614265330"
	standardBody      = `{"test": 2432232314}`
	standardSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// Vectors computed independently of this code, with OpenSSL:
//
//	printf '%s' "1700000000.$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex
//	printf '%s' "$BODY" | openssl dgst -sha512 -hmac partner-secret -binary | base64
//
// Stripe publishes no vector.
const (
	stripeSecret    = "whsec_5f8e0d1a2b3c4d5e6f708192a3b4c5d6"
	stripeOldSecret = "whsec_0000old0000secret0000rotated00"
	stripeTime      = 1700000000
	stripeBody      = `{"id":"evt_1N8xYz2eZvKYlo2C","object":"event","type":"invoice.paid","data":{"object":{"customer":"cus_9s6XKzkNRiz8i3"}}}`
	stripeV1        = "2018ae7d874de2abd2163c046e18250b6856cebd3e0b9212109e766f8ca40b1b"
	stripeOldV1     = "56319ddf74240ed3744536295d214600b6b1e6d50f00472995471f5bb07fdcbf"

	genericSecret    = "partner-secret"
	genericBody      = `{"zen":"Design for failure.","hook_id":123}`
	genericSHA1Hex   = "503895d75227e348df81c1154f4c7c709682c8df"
	genericSHA256Hex = "7b7b3107c7d386e06e465ef32a4e0317fef1bf4ed2dcfe1d97a32e5d3c924c73"
	genericSHA512B64 = "+hK2fP1BPSxuDis0+YHBaUQ/9DVT52h904rRvTyPNe/VLxxgkoTUdZDMF5zBFjpOv/byRedi/4wj16bqZ5DzLw=="
	genericSHA256URL = "e3sxB8fThuBuRl7zKk4DF_7xv07S3P4dl6MuXTySTHM"
	basicCredentials = "Basic c2VuZGVyOnMzY3JldA==" // sender:s3cret
)

// hdr builds a header from name, value pairs (a name may repeat).
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// flip returns s with its byte at i changed.
func flip(s string, i int) string {
	b := []byte(s)
	b[i] ^= 0x01
	return string(b)
}

type verifyCase struct {
	name   string
	scheme webhook.Scheme
	header http.Header
	body   string
	now    time.Time
	// refused, when set, is a substring of the expected refusal; "" means accepted.
	refused string
}

func runVerify(t *testing.T, cases []verifyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.scheme.Verify(c.header, []byte(c.body), c.now)
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *webhook.Error
			if !errors.As(err, &ve) {
				t.Fatalf("error = %v (%T), want a refusal containing %q", err, err, c.refused)
			}
			if !strings.Contains(ve.Msg, c.refused) {
				t.Errorf("refusal = %q, want it to contain %q", ve.Msg, c.refused)
			}
			if s := string(c.scheme.Secret); s != "" && strings.Contains(ve.Msg, s) {
				t.Errorf("refusal %q reveals the secret", ve.Msg)
			}
		})
	}
}

func TestGitHub(t *testing.T) {
	t.Parallel()
	s := webhook.Scheme{Source: webhook.SourceGitHub, Secret: []byte(githubSecret)}
	now := time.Unix(1700000000, 0)
	sig := webhook.HeaderGitHubSignature
	runVerify(t, []verifyCase{
		{"published example", s, hdr(sig, githubSignature), githubBody, now, ""},
		{"lower-case header name", s, http.Header{"X-Hub-Signature-256": {githubSignature}}, githubBody, now, ""},
		{"one flipped body byte", s, hdr(sig, githubSignature), flip(githubBody, 3), now, "does not match"},
		{"trailing newline", s, hdr(sig, githubSignature), githubBody + "\n", now, "does not match"},
		{"other secret", webhook.Scheme{Source: webhook.SourceGitHub, Secret: []byte("It's a secret to everybody")}, hdr(sig, githubSignature), githubBody, now, "does not match"},
		{"missing header", s, hdr("X-Hub-Signature", "sha1=0000"), githubBody, now, "missing X-Hub-Signature-256"},
		{"duplicated header", s, hdr(sig, githubSignature, sig, githubSignature), githubBody, now, "appears 2 times"},
		{"wrong algorithm prefix", s, hdr(sig, strings.Replace(githubSignature, "sha256=", "sha1=", 1)), githubBody, now, `start with "sha256="`},
		{"truncated signature", s, hdr(sig, githubSignature[:40]), githubBody, now, "hex SHA-256"},
		{"base64 instead of hex", s, hdr(sig, "sha256=dXcH6g6yUJ/CESIczphLijdXC21YbCLEb0N5yLBD4X4="), githubBody, now, "hex SHA-256"},
	})
}

func TestSlack(t *testing.T) {
	t.Parallel()
	s := webhook.Scheme{Source: webhook.SourceSlack, Secret: []byte(slackSecret)}
	ts := time.Unix(1531420618, 0)
	sig, tsh := webhook.HeaderSlackSignature, webhook.HeaderSlackTimestamp
	ok := hdr(sig, slackSignature, tsh, slackTimestamp)
	runVerify(t, []verifyCase{
		{"published example", s, ok, slackBody, ts.Add(10 * time.Second), ""},
		{"at the edge of the window", s, ok, slackBody, ts.Add(webhook.Tolerance), ""},
		{"stale timestamp", s, ok, slackBody, ts.Add(webhook.Tolerance + time.Second), "old"},
		{"future timestamp", s, ok, slackBody, ts.Add(-webhook.Tolerance - time.Second), "in the future"},
		{"one flipped body byte", s, ok, flip(slackBody, 100), ts, "does not match"},
		{"trailing newline", s, ok, slackBody + "\n", ts, "does not match"},
		{"timestamp changed", s, hdr(sig, slackSignature, tsh, "1531420619"), slackBody, ts, "does not match"},
		{"missing timestamp", s, hdr(sig, slackSignature), slackBody, ts, "missing X-Slack-Request-Timestamp"},
		{"missing signature", s, hdr(tsh, slackTimestamp), slackBody, ts, "missing X-Slack-Signature"},
		{"duplicated signature", s, hdr(sig, slackSignature, sig, slackSignature, tsh, slackTimestamp), slackBody, ts, "appears 2 times"},
		{"duplicated timestamp", s, hdr(sig, slackSignature, tsh, slackTimestamp, tsh, slackTimestamp), slackBody, ts, "appears 2 times"},
		{"timestamp not a number", s, hdr(sig, slackSignature, tsh, "+1531420618"), slackBody, ts, "not a unix timestamp"},
		{"wrong version", s, hdr(sig, strings.Replace(slackSignature, "v0=", "v1=", 1), tsh, slackTimestamp), slackBody, ts, `start with "v0="`},
	})
}

func TestStandardWebhooks(t *testing.T) {
	t.Parallel()
	s := webhook.Scheme{Source: webhook.SourceStandard, Secret: []byte(standardSecret)}
	ts := time.Unix(1614265330, 0)
	id, tsh, sig := webhook.HeaderStandardID, webhook.HeaderStandardTime, webhook.HeaderStandardSig
	ok := hdr(id, standardID, tsh, standardTimestamp, sig, standardSignature)
	with := func(sigValue string) http.Header { return hdr(id, standardID, tsh, standardTimestamp, sig, sigValue) }
	bogus := "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	runVerify(t, []verifyCase{
		{"specification example", s, ok, standardBody, ts.Add(time.Second), ""},
		{"secret without the whsec_ prefix", webhook.Scheme{Source: webhook.SourceStandard, Secret: []byte(strings.TrimPrefix(standardSecret, "whsec_"))}, ok, standardBody, ts, ""},
		{"rotated secret: several signatures", s, with(bogus + " v1a,c29tZSBlZDI1NTE5IHNpZ25hdHVyZQ== " + standardSignature + " " + bogus), standardBody, ts, ""},
		{"only other signatures", s, with(bogus + " " + bogus), standardBody, ts, "no v1 signature matches"},
		{"only asymmetric signatures", s, with("v1a,c29tZSBlZDI1NTE5IHNpZ25hdHVyZQ=="), standardBody, ts, "has no v1 signature"},
		{"one flipped body byte", s, ok, flip(standardBody, 5), ts, "no v1 signature matches"},
		{"trailing newline", s, ok, standardBody + "\n", ts, "no v1 signature matches"},
		{"other message id", s, hdr(id, "msg_p5jXN8AQM9LWM0D4loKWxJeK", tsh, standardTimestamp, sig, standardSignature), standardBody, ts, "no v1 signature matches"},
		{"stale timestamp", s, ok, standardBody, ts.Add(webhook.Tolerance + time.Second), "old"},
		{"future timestamp", s, ok, standardBody, ts.Add(-webhook.Tolerance - time.Second), "in the future"},
		{"missing webhook-id", s, hdr(tsh, standardTimestamp, sig, standardSignature), standardBody, ts, "missing Webhook-Id"},
		{"missing signature", s, hdr(id, standardID, tsh, standardTimestamp), standardBody, ts, "missing Webhook-Signature"},
		{"duplicated signature header", s, hdr(id, standardID, tsh, standardTimestamp, sig, standardSignature, sig, standardSignature), standardBody, ts, "appears 2 times"},
		{"duplicated id header", s, hdr(id, standardID, id, standardID, tsh, standardTimestamp, sig, standardSignature), standardBody, ts, "appears 2 times"},
		{"signature not base64", s, with("v1,not*base64"), standardBody, ts, "no usable v1 signature (skipped 1"},
		{"no version separator", s, with("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), standardBody, ts, "no usable v1 signature (skipped 1"},
		{"only malformed entries", s, with("v1,not*base64 v1,c2hvcnQ= v1,"), standardBody, ts, "no usable v1 signature (skipped 3"},
		// The reference libraries skip what they cannot use and accept when any entry matches.
		{"malformed v1 before the valid one", s, with("v1,not*base64 " + standardSignature), standardBody, ts, ""},
		{"malformed v1 after the valid one", s, with(standardSignature + " v1,c2hvcnQ="), standardBody, ts, ""},
		{"entry without a version next to the valid one", s, with("g0hM9SsE " + standardSignature + " v1,"), standardBody, ts, ""},
		{"malformed v1 next to a wrong one", s, with("v1,not*base64 " + bogus), standardBody, ts, "no v1 signature matches"},
	})
}

func TestStripe(t *testing.T) {
	t.Parallel()
	s := webhook.Scheme{Source: webhook.SourceStripe, Secret: []byte(stripeSecret)}
	old := webhook.Scheme{Source: webhook.SourceStripe, Secret: []byte(stripeOldSecret)}
	now := time.Unix(stripeTime+5, 0)
	sig := webhook.HeaderStripeSignature
	ok := hdr(sig, "t=1700000000,v1="+stripeV1)
	rotated := hdr(sig, "t=1700000000,v1="+stripeOldV1+",v1="+stripeV1+",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	runVerify(t, []verifyCase{
		{"independent vector", s, ok, stripeBody, now, ""},
		{"spaces after commas", s, hdr(sig, "t=1700000000, v1="+stripeV1), stripeBody, now, ""},
		{"rotated secret: new one configured", s, rotated, stripeBody, now, ""},
		{"rotated secret: old one configured", old, rotated, stripeBody, now, ""},
		{"secret with whsec_ removed", webhook.Scheme{Source: webhook.SourceStripe, Secret: []byte(strings.TrimPrefix(stripeSecret, "whsec_"))}, ok, stripeBody, now, "no v1 signature matches"},
		{"one flipped body byte", s, ok, flip(stripeBody, 20), now, "no v1 signature matches"},
		{"trailing newline", s, ok, stripeBody + "\n", now, "no v1 signature matches"},
		{"timestamp changed", s, hdr(sig, "t=1700000001,v1="+stripeV1), stripeBody, now, "no v1 signature matches"},
		{"at the edge of the tolerance", s, ok, stripeBody, time.Unix(stripeTime+300, 0), ""},
		{"stale timestamp", s, ok, stripeBody, time.Unix(stripeTime+301, 0), "old"},
		{"future timestamp", s, ok, stripeBody, time.Unix(stripeTime-301, 0), "in the future"},
		{"missing header", s, hdr("Stripe-Signatures", "t=1700000000,v1="+stripeV1), stripeBody, now, "missing Stripe-Signature"},
		{"duplicated header", s, hdr(sig, "t=1700000000,v1="+stripeV1, sig, "t=1700000000,v1="+stripeV1), stripeBody, now, "appears 2 times"},
		{"t twice", s, hdr(sig, "t=1700000000,t=1700000000,v1="+stripeV1), stripeBody, now, "t= appears twice"},
		{"no t", s, hdr(sig, "v1="+stripeV1), stripeBody, now, "no t= timestamp"},
		{"no v1", s, hdr(sig, "t=1700000000,v0="+stripeV1), stripeBody, now, "no v1= signature"},
		{"v1 not hex", s, hdr(sig, "t=1700000000,v1=zz"+stripeV1[2:]), stripeBody, now, "no usable v1= signature (skipped 1"},
		{"v1 too short", s, hdr(sig, "t=1700000000,v1=abcd,v1="), stripeBody, now, "no usable v1= signature (skipped 2"},
		{"item without =", s, hdr(sig, "t=1700000000,"+stripeV1), stripeBody, now, "no v1= signature"},
		{"t not a number", s, hdr(sig, "t=17e8,v1="+stripeV1), stripeBody, now, "not a unix timestamp"},
		// Stripe's libraries skip what they cannot use and accept when any v1 matches.
		{"malformed v1 before the valid one", s, hdr(sig, "t=1700000000,v1=zz,v1="+stripeV1), stripeBody, now, ""},
		{"malformed v1 after the valid one", s, hdr(sig, "t=1700000000,v1="+stripeV1+",v1="+stripeV1[:10]), stripeBody, now, ""},
		{"item without = next to the valid one", s, hdr(sig, "t=1700000000,garbage,v1="+stripeV1), stripeBody, now, ""},
		{"malformed v1 next to a wrong one", s, hdr(sig, "t=1700000000,v1=zz,v1="+stripeOldV1), stripeBody, now, "no v1 signature matches"},
	})
}

func TestGenericHMAC(t *testing.T) {
	t.Parallel()
	scheme := func(alg, enc, prefix string) webhook.Scheme {
		return webhook.Scheme{Source: webhook.SourceGeneric, Secret: []byte(genericSecret),
			Auth: webhook.Auth{Type: webhook.AuthHMAC, Header: "X-Signature", Algorithm: alg, Encoding: enc, Prefix: prefix}}
	}
	now := time.Unix(1700000000, 0)
	h := func(v string) http.Header { return hdr("X-Signature", v) }
	runVerify(t, []verifyCase{
		{"sha1 hex", scheme("sha1", "hex", ""), h(genericSHA1Hex), genericBody, now, ""},
		{"sha1 upper-case hex", scheme("sha1", "hex", ""), h(strings.ToUpper(genericSHA1Hex)), genericBody, now, ""},
		{"sha256 hex with prefix", scheme("sha256", "hex", "sha256="), h("sha256=" + genericSHA256Hex), genericBody, now, ""},
		{"sha512 base64", scheme("sha512", "base64", ""), h(genericSHA512B64), genericBody, now, ""},
		{"sha512 base64 unpadded", scheme("sha512", "base64", ""), h(strings.TrimRight(genericSHA512B64, "=")), genericBody, now, ""},
		{"sha256 base64url", scheme("sha256", "base64url", ""), h(genericSHA256URL), genericBody, now, ""},
		{"wrong algorithm", scheme("sha256", "hex", ""), h(genericSHA1Hex), genericBody, now, "does not match"},
		{"wrong encoding", scheme("sha256", "base64", ""), h(genericSHA256Hex), genericBody, now, "does not match"},
		{"base64 where base64url is expected", scheme("sha512", "base64url", ""), h(genericSHA512B64), genericBody, now, "is not base64url"},
		{"missing prefix", scheme("sha256", "hex", "sha256="), h(genericSHA256Hex), genericBody, now, `start with "sha256="`},
		{"one flipped body byte", scheme("sha1", "hex", ""), h(genericSHA1Hex), flip(genericBody, 7), now, "does not match"},
		{"trailing newline", scheme("sha1", "hex", ""), h(genericSHA1Hex), genericBody + "\n", now, "does not match"},
		{"missing header", scheme("sha1", "hex", ""), hdr("X-Signature-256", genericSHA1Hex), genericBody, now, "missing X-Signature"},
		{"duplicated header", scheme("sha1", "hex", ""), hdr("X-Signature", genericSHA1Hex, "x-signature", genericSHA1Hex), genericBody, now, "appears 2 times"},
	})
}

func TestGenericBasicAndAPIKey(t *testing.T) {
	t.Parallel()
	basic := func(user, pass string) webhook.Scheme {
		return webhook.Scheme{Source: webhook.SourceGeneric, Secret: []byte(pass), Auth: webhook.Auth{Type: webhook.AuthBasic, Username: user}}
	}
	key := webhook.Scheme{Source: webhook.SourceGeneric, Secret: []byte("k_live_123"), Auth: webhook.Auth{Type: webhook.AuthAPIKey, Header: "X-Api-Key"}}
	now := time.Unix(1700000000, 0)
	runVerify(t, []verifyCase{
		{"basic", basic("sender", "s3cret"), hdr("Authorization", basicCredentials), "{}", now, ""},
		{"basic, lower-case scheme", basic("sender", "s3cret"), hdr("Authorization", "basic c2VuZGVyOnMzY3JldA=="), "{}", now, ""},
		{"basic, wrong password", basic("sender", "s3cret!"), hdr("Authorization", basicCredentials), "{}", now, "wrong user name or password"},
		{"basic, wrong user", basic("Sender", "s3cret"), hdr("Authorization", basicCredentials), "{}", now, "wrong user name or password"},
		{"basic, bearer instead", basic("sender", "s3cret"), hdr("Authorization", "Bearer c2VuZGVyOnMzY3JldA=="), "{}", now, "not Basic"},
		{"basic, no colon", basic("sender", "s3cret"), hdr("Authorization", "Basic c2VuZGVy"), "{}", now, "not user:password"},
		{"basic, missing", basic("sender", "s3cret"), hdr(), "{}", now, "missing Authorization"},
		{"basic, duplicated", basic("sender", "s3cret"), hdr("Authorization", basicCredentials, "Authorization", basicCredentials), "{}", now, "appears 2 times"},
		{"api key", key, hdr("X-Api-Key", "k_live_123"), "{}", now, ""},
		{"api key, wrong", key, hdr("X-Api-Key", "k_live_124"), "{}", now, "wrong API key"},
		{"api key, prefix of it", key, hdr("X-Api-Key", "k_live_12"), "{}", now, "wrong API key"},
		{"api key, missing", key, hdr("Authorization", "k_live_123"), "{}", now, "missing X-Api-Key"},
		{"api key, duplicated", key, hdr("X-Api-Key", "k_live_123", "X-Api-Key", "k_live_123"), "{}", now, "appears 2 times"},
	})
}

func TestCredentialHeadersAreKeptFromExpressions(t *testing.T) {
	t.Parallel()
	h := hdr("Authorization", basicCredentials, "X-Api-Key", "k", "X-GitHub-Event", "star", "Accept", "a", "accept", "b")
	basic := webhook.Scheme{Source: webhook.SourceGeneric, Auth: webhook.Auth{Type: webhook.AuthBasic}}
	got := webhook.Headers(h, basic.CredentialHeaders())
	if _, ok := got["authorization"]; ok || got["x-github-event"] != "star" || got["x-api-key"] != "k" || got["accept"] != "a, b" {
		t.Errorf("headers for basic auth = %v", got)
	}
	key := webhook.Scheme{Source: webhook.SourceGeneric, Auth: webhook.Auth{Type: webhook.AuthAPIKey, Header: "X-Api-Key"}}
	got = webhook.Headers(h, key.CredentialHeaders())
	if _, ok := got["x-api-key"]; ok || got["authorization"] == "" {
		t.Errorf("headers for an API key = %v", got)
	}
}

func TestStandardKey(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"whsec_", "whsec_not base64!", ""} {
		if _, err := webhook.StandardKey(bad); err == nil {
			t.Errorf("StandardKey(%q) accepted", bad)
		}
	}
	a, err1 := webhook.StandardKey(standardSecret)
	b, err2 := webhook.StandardKey(strings.TrimPrefix(standardSecret, "whsec_"))
	if err1 != nil || err2 != nil || string(a) != string(b) || len(a) != 24 {
		t.Errorf("StandardKey = %x, %x (%v, %v), want the same 24 bytes", a, b, err1, err2)
	}
}
