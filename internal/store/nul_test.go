package store

import "testing"

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
