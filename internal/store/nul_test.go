package store

import (
	"strings"
	"testing"
)

func TestHasNUL(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		`{}`:                        false,
		`{"a":"\u0000"}`:            true,
		`{"a":"x\u0000y"}`:          true,
		`{"\u0000":1}`:              true,
		`{"a":"\\u0000"}`:           false, // a backslash, then the text u0000
		`{"a":"\\\u0000"}`:          true,  // a backslash, then U+0000
		`{"a":"\u00001"}`:           true,
		`{"a":"\u0001","b":"0000"}`: false,
		`{"a":"\\"}`:                false,
	}
	for in, want := range cases {
		if got := HasNUL([]byte(in)); got != want {
			t.Errorf("HasNUL(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestHasLoneSurrogate(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		`{}`:                          false,
		`{"a":"\ud800"}`:              true,
		`{"a":"\uD800"}`:              true,
		`{"a":"\udc00"}`:              true,
		`{"a":"\udfff"}`:              true,
		`{"\ud800":1}`:                true,
		`{"a":"x\ud800y"}`:            true,
		`{"a":"\ud800\u0041"}`:        true,  // high, then not a low one
		`{"a":"\ud800\ud800"}`:        true,  // two highs
		`{"a":"\udc00\ud800"}`:        true,  // low before high
		`{"a":"\ud800","b":"\udc00"}`: true,  // halves in different strings
		`{"a":"\ud83d\ude00"}`:        false, // a pair: U+1F600
		`{"a":"\uD83D\uDE00"}`:        false,
		`{"a":"\ud83d\ude00\ud83d"}`:  true,  // a pair, then a lone high
		`{"a":"\\ud800"}`:             false, // a backslash, then the text ud800
		`{"a":"\\\ud800"}`:            true,  // a backslash, then a lone surrogate
		`{"a":"\ud7ff\ue000"}`:        false, // just outside the surrogates
		`{"a":"\ud800\\udc00"}`:       true,  // a high, then a backslash and text
	}
	for in, want := range cases {
		if got := HasLoneSurrogate([]byte(in)); got != want {
			t.Errorf("HasLoneSurrogate(%s) = %v, want %v", in, got, want)
		}
		if got := Unstorable([]byte(in)) != ""; got != want {
			t.Errorf("Unstorable(%s) refuses: %v, want %v", in, got, want)
		}
	}
}

func TestNumberInRange(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"0": true, "-0": true, "12": true, "1.5": true, "-1.50": true, "1e2": true, "1E+2": true, "1e-2": true,
		"1.7976931348623157e308": true, "-1.7976931348623157e308": true, "1.8e308": false, "-1.8e308": false,
		"1e309": false, "1e131072": false, "5e-324": true, "1e-400": true, "1e-401": false, "1.5e-399": true,
		"1.25e-399": false, "0e-400": true, "0e-401": false, "0e1000000": true, "0e1000001": false,
		"0e-99999999999999999999": false, "1e99999999999999999999": false,
		"0." + strings.Repeat("0", 400): true, "0." + strings.Repeat("0", 401): false,
		"1" + strings.Repeat("0", 308): true, "1" + strings.Repeat("0", 309): false,
		"0.000000000000000000001e131072": false,
	}
	for in, want := range cases {
		if got := NumberInRange([]byte(in)); got != want {
			t.Errorf("NumberInRange(%.60s) = %v, want %v", in, got, want)
		}
	}
}

func TestUnstorableNumbers(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		`{"a":1e308}`:                   false,
		`{"a":1e309}`:                   true,
		`{"a":[1,2,{"b":-1e-16383}]}`:   true,
		`{"a":"1e309"}`:                 false, // a string
		`{"1e309":1}`:                   false, // a name
		`{"a":"\"1e309","b":2}`:         false, // an escaped quote does not end the string
		`{"a":"\\","b":1e400}`:          true,  // an escaped backslash does
		`{"a":true,"b":false,"c":null}`: false,
		`1e400`:                         true,
	}
	for in, want := range cases {
		if got := Unstorable([]byte(in)) != ""; got != want {
			t.Errorf("Unstorable(%s) refuses: %v, want %v", in, got, want)
		}
	}
}
