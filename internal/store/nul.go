package store

// HasNUL reports whether the JSON text raw (valid JSON) holds the character U+0000, as the
// escape \u0000 in a string. PostgreSQL's jsonb cannot store that character, so input
// holding it is refused where it comes in, on every store alike.
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
