package store

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// HasNUL reports whether the JSON text raw (valid JSON) holds the character U+0000, as the
// escape \u0000 in a string, which PostgreSQL's jsonb cannot store (see Unstorable).
func HasNUL(raw []byte) bool {
	return scanJSON(raw).nul
}

// HasLoneSurrogate reports whether the JSON text raw (valid JSON) holds a \u escape of a
// UTF-16 surrogate that is not half of a pair: a high one (\ud800-\udbff) not followed by
// the escape of a low one (\udc00-\udfff), or a low one on its own. JSON's grammar allows
// them, but they name no character: PostgreSQL's jsonb refuses them (SQLSTATE 22P02), and
// Go's decoder turns them into U+FFFD.
func HasLoneSurrogate(raw []byte) bool {
	return scanJSON(raw).lone
}

// MaxNumberScale is the most digits a JSON number may have after its decimal point once
// written out in full (1.5e-3 is 0.0015: four).
const MaxNumberScale = 400

// maxNumberExponent bounds the exponent a JSON number is written with; a larger one makes
// a number out of range whatever its digits (or a zero PostgreSQL refuses).
const maxNumberExponent = 1_000_000

// NumberInRange reports whether the JSON number num can be stored: its value is within a
// double's range (about ±1.8e308, what JSON's readers share: a larger one decodes to
// infinity or fails), and it has at most MaxNumberScale digits after its decimal point once
// written out in full. PostgreSQL's jsonb stores numbers as numeric, which refuses more than
// 131,072 digits before the point or 16,383 after it (1e131072 answered 500), and writes
// them out in full when read: without these bounds a 9-byte 1e131071 read back as 131,072
// characters from every reply, run input and step assignment that holds it.
func NumberInRange(num []byte) bool {
	s := string(num)
	exp := 0
	if k := strings.IndexAny(s, "eE"); k >= 0 {
		e, err := strconv.Atoi(s[k+1:])
		if err != nil || e > maxNumberExponent || e < -maxNumberExponent {
			return false
		}
		exp, s = e, s[:k]
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if len(frac)-exp > MaxNumberScale {
		return false
	}
	// Without an exponent, 300 digits are far from a double's limit: the common case parses
	// nothing.
	if exp == 0 && len(intPart) <= 300 {
		return true
	}
	_, err := strconv.ParseFloat(string(num), 64)
	return err == nil
}

// scanned is what scanJSON found.
type scanned struct {
	nul, lone bool
	// number is the first number out of range (see NumberInRange), or "".
	number string
}

// scanJSON walks the JSON text raw (valid JSON): the \ escapes of its strings, to find
// \u0000 and lone surrogates, and its numbers.
func scanJSON(raw []byte) (r scanned) {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c == '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] != '\\' {
					continue
				}
				u, ok := hex4(raw, i)
				if !ok {
					i++ // the escaped character: a backslash escaping a backslash or a quote
					continue
				}
				switch {
				case u == 0:
					r.nul = true
				case u >= 0xdc00 && u <= 0xdfff: // a low surrogate not consumed by a high one
					r.lone = true
				case u >= 0xd800 && u <= 0xdbff:
					if low, ok := hex4(raw, i+6); ok && low >= 0xdc00 && low <= 0xdfff {
						i += 6 // the pair is one character
					} else {
						r.lone = true
					}
				}
				i += 5
			}
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(raw) && (raw[j] >= '0' && raw[j] <= '9' || raw[j] == '.' || raw[j] == 'e' || raw[j] == 'E' || raw[j] == '+' || raw[j] == '-') {
				j++
			}
			if r.number == "" && !NumberInRange(raw[i:j]) {
				r.number = string(raw[i:j])
			}
			i = j - 1
		}
	}
	return r
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
// invalid UTF-8, U+0000, \u escapes of lone UTF-16 surrogates and numbers beyond numeric's
// range (see NumberInRange for the bounds both stores keep); input is checked with it where
// it comes in, so that both stores accept the same. It is the one check for every JSON
// document stored: payloads and their keys, metadata, manual-run inputs, filter and webhook
// static payloads, step outputs and webhook bodies.
func Unstorable(raw []byte) string {
	if !utf8.Valid(raw) {
		return "is not valid UTF-8"
	}
	switch r := scanJSON(raw); {
	case r.nul:
		return `must not contain the character U+0000 ("\u0000")`
	case r.lone:
		return `must not contain a lone UTF-16 surrogate escape such as "\ud800" (half of a pair, which names no character)`
	case r.number != "":
		n := r.number
		if len(n) > 40 {
			n = n[:40] + "…"
		}
		return fmt.Sprintf("holds the number %s, which is out of range: numbers must be within a double's range "+
			"(about ±1.8e308) and have at most %d digits after the decimal point once written out", n, MaxNumberScale)
	}
	return ""
}
