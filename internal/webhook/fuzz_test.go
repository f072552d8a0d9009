package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/webhook"
)

// The fuzz targets run their seed corpus as ordinary tests; `go test -fuzz=FuzzX
// ./internal/webhook` explores further. Each checks that a parser never panics and that
// whatever it accepts has the shape it promises.

func FuzzParseStripeSignature(f *testing.F) {
	for _, s := range []string{
		"t=1700000000,v1=" + stripeV1,
		"t=1700000000,v1=" + stripeOldV1 + ",v1=" + stripeV1 + ",v0=abc",
		"t=1700000000, v1=" + stripeV1,
		"t=,v1=", "t=1,t=2,v1=" + stripeV1, "v1=" + stripeV1, "", ",", "=", "t=-1,v1=" + stripeV1,
		"t=99999999999999999999,v1=" + stripeV1,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sig, err := webhook.ParseStripeSignature(v)
		if err != nil {
			return
		}
		if sig.Timestamp < 0 || len(sig.V1) == 0 {
			t.Fatalf("accepted %q as %+v", v, sig)
		}
		for _, s := range sig.V1 {
			if len(s) != sha256.Size {
				t.Fatalf("accepted a %d-byte signature from %q", len(s), v)
			}
		}
		// An unusable entry added to an accepted header is skipped, never a refusal.
		more, err := webhook.ParseStripeSignature(v + ",v1=zz")
		if err != nil || len(more.V1) != len(sig.V1) {
			t.Fatalf("adding an unusable v1 to %q: %d signatures, %v", v, len(more.V1), err)
		}
	})
}

func FuzzParseStandardSignatures(f *testing.F) {
	for _, s := range []string{
		standardSignature,
		"v1a,abc " + standardSignature + " v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
		"v1,", "v1", ",", "v2,abc", "  ", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		// A valid entry next to anything at all is found: what cannot be used is skipped.
		with, err := webhook.ParseStandardSignatures(v + " " + standardSignature)
		if err != nil || len(with) == 0 || base64.StdEncoding.EncodeToString(with[len(with)-1]) != standardSignature[len("v1,"):] {
			t.Fatalf("the valid entry after %q was not found: %v", v, err)
		}
		sigs, err := webhook.ParseStandardSignatures(v)
		if err != nil {
			return
		}
		if len(sigs) == 0 {
			t.Fatalf("accepted %q without a signature", v)
		}
		for _, s := range sigs {
			if len(s) != sha256.Size {
				t.Fatalf("accepted a %d-byte signature from %q", len(s), v)
			}
		}
	})
}

func FuzzParsePrefixedHex(f *testing.F) {
	for _, s := range []string{githubSignature, slackSignature, "sha256=", "sha256=zz", "v0=" + stripeV1, ""} {
		f.Add("sha256=", s)
		f.Add("v0=", s)
	}
	f.Fuzz(func(t *testing.T, prefix, v string) {
		b, err := webhook.ParsePrefixedHex("X-Sig", prefix, v, sha256.Size)
		if err == nil && len(b) != sha256.Size {
			t.Fatalf("accepted %d bytes from %q", len(b), v)
		}
	})
}

func FuzzDecodeSignature(f *testing.F) {
	for _, enc := range []string{webhook.EncHex, webhook.EncBase64, webhook.EncBase64URL} {
		for _, s := range []string{genericSHA1Hex, genericSHA512B64, genericSHA256URL, "sha256=" + genericSHA256Hex, "", "=", "=="} {
			f.Add("", enc, s)
			f.Add("sha256=", enc, s)
		}
	}
	f.Fuzz(func(t *testing.T, prefix, enc, v string) {
		b, err := webhook.DecodeSignature("X-Sig", prefix, enc, v)
		if err == nil && len(b) == 0 {
			t.Fatalf("accepted an empty signature from %q", v)
		}
	})
}

func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{basicCredentials, "basic Og==", "Basic", "Basic !!", "Bearer x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		_, _, _ = webhook.ParseBasicAuth(v)
	})
}

func FuzzDecodeBody(f *testing.F) {
	for _, c := range [][2]string{
		{"application/json", stripeBody},
		{"application/json", standardBody},
		{"", `{"a":[1,{"b":null}],"c":"\u00e9"}`},
		{"application/x-www-form-urlencoded", slackBody},
		{"application/x-www-form-urlencoded", "payload=%7B%22a%22%3A1%7D"},
		{"application/x-www-form-urlencoded; charset=utf-8", "a=1&a=2&b="},
		{"application/json", `[1]`},
		{"text/plain", "hello"},
		{"application/json", `{"a":1}{"b":2}`},
		{"multipart/form-data; boundary=x", "--x--"},
	} {
		f.Add(c[0], []byte(c[1]))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		b, err := webhook.DecodeBody(contentType, body)
		if err != nil {
			return
		}
		// The payload is a JSON object that holds the same data the expressions see.
		var back map[string]any
		if err := json.Unmarshal(b.Payload, &back); err != nil {
			t.Fatalf("payload %q of body %q is not a JSON object: %v", b.Payload, body, err)
		}
		if len(back) != len(b.Input) {
			t.Fatalf("payload has %d keys, input %d (body %q)", len(back), len(b.Input), body)
		}
	})
}

// FuzzStripeVerifiesRawBytes signs arbitrary bodies the way Stripe does and checks that
// verification accepts exactly those bytes: any change to one byte is refused.
func FuzzStripeVerifiesRawBytes(f *testing.F) {
	f.Add([]byte(stripeBody), uint(3))
	f.Add([]byte{}, uint(0))
	f.Add([]byte("\x00\xff{\n}"), uint(4))
	s := webhook.Scheme{Source: webhook.SourceStripe, Secret: []byte(stripeSecret)}
	now := time.Unix(stripeTime, 0)
	f.Fuzz(func(t *testing.T, body []byte, at uint) {
		m := hmac.New(sha256.New, []byte(stripeSecret))
		m.Write([]byte(strconv.Itoa(stripeTime) + "."))
		m.Write(body)
		h := http.Header{}
		h.Set(webhook.HeaderStripeSignature, "t="+strconv.Itoa(stripeTime)+",v1="+hex.EncodeToString(m.Sum(nil)))
		if err := s.Verify(h, body, now); err != nil {
			t.Fatalf("a correctly signed body was refused: %v", err)
		}
		if len(body) == 0 {
			return
		}
		changed := bytes.Clone(body)
		changed[int(at%uint(len(body)))] ^= 0x20
		if err := s.Verify(h, changed, now); err == nil {
			t.Fatalf("a changed body verified")
		}
	})
}
