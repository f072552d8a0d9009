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
