package store

import "unicode/utf8"

// HasNUL reports whether the JSON text raw (valid JSON) holds the character U+0000, as the
// escape \u0000 in a string, which PostgreSQL's jsonb cannot store (see Unstorable).
func HasNUL(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+5 < len(raw) && raw[i+1] == 'u' && string(raw[i+2:i+6]) == "0000" {
			return true
		}
		i++ // the escaped character: a backslash escaping a backslash is not an escape
	}
	return false
}

// Unstorable says why neither store can keep the JSON text raw (valid JSON), as a phrase
// for an error ("is not valid UTF-8"), or returns "" when both can. PostgreSQL refuses
// invalid UTF-8 and U+0000; input is checked with it where it comes in, so that both
// stores accept the same.
func Unstorable(raw []byte) string {
	switch {
	case !utf8.Valid(raw):
		return "is not valid UTF-8"
	case HasNUL(raw):
		return `must not contain the character U+0000 ("\u0000")`
	}
	return ""
}
