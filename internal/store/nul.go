package store

import "unicode/utf8"

// HasNUL reports whether the JSON text raw (valid JSON) holds the character U+0000, as the
// escape \u0000 in a string, which PostgreSQL's jsonb cannot store (see Unstorable).
func HasNUL(raw []byte) bool {
	nul, _ := scanEscapes(raw)
	return nul
}

// HasLoneSurrogate reports whether the JSON text raw (valid JSON) holds a \u escape of a
// UTF-16 surrogate that is not half of a pair: a high one (\ud800-\udbff) not followed by
// the escape of a low one (\udc00-\udfff), or a low one on its own. JSON's grammar allows
// them, but they name no character: PostgreSQL's jsonb refuses them (SQLSTATE 22P02), and
// Go's decoder turns them into U+FFFD.
func HasLoneSurrogate(raw []byte) bool {
	_, lone := scanEscapes(raw)
	return lone
}

// scanEscapes walks the \ escapes of the JSON text raw and reports whether one is \u0000
// and whether one is a lone surrogate.
func scanEscapes(raw []byte) (nul, lone bool) {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		u, ok := hex4(raw, i)
		if !ok {
			i++ // the escaped character: a backslash escaping a backslash is not an escape
			continue
		}
		switch {
		case u == 0:
			nul = true
		case u >= 0xdc00 && u <= 0xdfff: // a low surrogate not consumed by a high one
			lone = true
		case u >= 0xd800 && u <= 0xdbff:
			if low, ok := hex4(raw, i+6); ok && low >= 0xdc00 && low <= 0xdfff {
				i += 6 // the pair is one character
			} else {
				lone = true
			}
		}
		i += 5
	}
	return nul, lone
}

// hex4 reads the escape \uXXXX at raw[i:], if there is one.
func hex4(raw []byte, i int) (rune, bool) {
	if i+5 >= len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
		return 0, false
	}
	var u rune
	for _, c := range raw[i+2 : i+6] {
		switch {
		case c >= '0' && c <= '9':
			u = u<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			u = u<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			u = u<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return u, true
}

// Unstorable says why neither store can keep the JSON text raw (valid JSON), as a phrase
// for an error ("is not valid UTF-8"), or returns "" when both can. PostgreSQL refuses
// invalid UTF-8, U+0000 and \u escapes of lone UTF-16 surrogates; input is checked with it
// where it comes in, so that both stores accept the same. It is the one check for every
// JSON document stored: payloads and their keys, metadata, manual-run inputs, filter and
// webhook static payloads, step outputs and webhook bodies.
func Unstorable(raw []byte) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	switch nul, lone := scanEscapes(raw); {
	case nul:
		return `must not contain the character U+0000 ("\u0000")`
	case lone:
		return `must not contain a lone UTF-16 surrogate escape such as "\ud800" (half of a pair, which names no character)`
	}
	return ""
}
