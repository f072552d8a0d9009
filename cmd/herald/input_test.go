package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseObjectArg(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte("{\n  \"a\": 1,\n  \"b\": [true]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{\n  \"a\": 1,\n  \"b\" 2\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		stdin   string
		want    string // compact JSON
		wantErr string // substring of the error
	}{
		{name: "absent", args: nil, want: `{}`},
		{name: "literal", args: []string{` {"user_id": "u_1", "n": 12345678901234567890} `}, want: `{"user_id":"u_1","n":12345678901234567890}`},
		{name: "empty object", args: []string{`{}`}, want: `{}`},
		{name: "file", args: []string{"@" + good}, want: `{"a":1,"b":[true]}`},
		{name: "stdin", args: []string{"-"}, stdin: `{"from": "stdin"}`, want: `{"from":"stdin"}`},
		{name: "bad literal", args: []string{`{"a": }`}, wantErr: "payload argument is not valid JSON: invalid character '}' looking for beginning of value (line 1, column 7)"},
		{name: "column counts leading space", args: []string{"  {\"a\": }"}, wantErr: "(line 1, column 9)"},
		{name: "trailing data", args: []string{`{} {}`}, wantErr: "payload argument is not valid JSON: invalid character '{' after top-level value"},
		{name: "truncated", args: []string{`{"a": 1`}, wantErr: "payload argument is not valid JSON: unexpected end of JSON input"},
		{name: "not an object", args: []string{`[1, 2]`}, wantErr: "payload argument must be a JSON object, not an array"},
		{name: "string", args: []string{`"hi"`}, wantErr: "must be a JSON object, not a string"},
		{name: "bare word", args: []string{`hello`}, wantErr: "payload argument is not valid JSON: invalid character 'h'"},
		{name: "empty literal", args: []string{""}, wantErr: "payload argument is empty"},
		{name: "bad file", args: []string{"@" + bad}, wantErr: "payload from file " + bad + " is not valid JSON: invalid character '2' after object key (line 3, column 7)"},
		{name: "missing file", args: []string{"@" + filepath.Join(dir, "nope.json")}, wantErr: "payload: open " + filepath.Join(dir, "nope.json") + ": no such file or directory"},
		{name: "at without name", args: []string{"@"}, wantErr: "payload: missing file name after @"},
		{name: "empty stdin", args: []string{"-"}, stdin: "  \n", wantErr: "payload from standard input is empty"},
		{name: "bad stdin", args: []string{"-"}, stdin: `{"a"}`, wantErr: "payload from standard input is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseObjectArg(tt.args, "payload", strings.NewReader(tt.stdin))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if string(got) != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		pairs   []string
		want    map[string]any
		wantErr string
	}{
		{name: "none", pairs: nil, want: nil},
		{name: "strings", pairs: []string{"source=signup", "note=a=b,c", "empty="},
			want: map[string]any{"source": "signup", "note": "a=b,c", "empty": ""}},
		{name: "number stays a string", pairs: []string{"zip=01234"}, want: map[string]any{"zip": "01234"}},
		{name: "typed", pairs: []string{"n:=3", "f:=1.5", "ok:=true", "s:=\"x\""},
			want: map[string]any{"n": json.Number("3"), "f": json.Number("1.5"), "ok": true, "s": "x"}},
		{name: "no equals", pairs: []string{"source"}, wantErr: `--metadata "source": want KEY=VALUE or KEY:=JSON`},
		{name: "empty key", pairs: []string{"=x"}, wantErr: `--metadata "=x": empty key`},
		{name: "empty typed key", pairs: []string{":=1"}, wantErr: "empty key"},
		{name: "duplicate", pairs: []string{"a=1", "a=2"}, wantErr: `key "a" given more than once`},
		{name: "typed not JSON", pairs: []string{"n:=three"}, wantErr: `"three" is not a JSON number, boolean or string`},
		{name: "typed trailing", pairs: []string{"n:=1 2"}, wantErr: "is not a JSON number"},
		{name: "typed trailing brace", pairs: []string{"n:=1}"}, wantErr: "is not a JSON number"},
		{name: "typed trailing bracket", pairs: []string{"n:=true ]"}, wantErr: "is not a JSON number"},
		{name: "typed object", pairs: []string{`o:={"a":1}`}, wantErr: "value must be a number, boolean or string, not an object"},
		{name: "typed null", pairs: []string{"o:=null"}, wantErr: "not null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseMetadata(tt.pairs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseBulk(t *testing.T) {
	t.Parallel()

	type event struct {
		Key     string
		Payload string
		MD      string
	}
	tests := []struct {
		name    string
		input   string
		want    []event
		wantErr string
	}{
		{
			name:  "array",
			input: `[{"key": "a", "payload": {"n": 1}}, {"key": "b", "additional_metadata": {"src": "x", "n": 2, "t": true}}]`,
			want: []event{
				{Key: "a", Payload: `{"n":1}`, MD: `null`},
				{Key: "b", Payload: `{}`, MD: `{"n":2,"src":"x","t":true}`},
			},
		},
		{
			name:  "ndjson",
			input: "{\"key\": \"a\", \"payload\": {\"n\": 1}}\n\n{\"key\": \"b\", \"payload\": null}\r\n{\"key\": \"c\"}\n",
			want: []event{
				{Key: "a", Payload: `{"n":1}`, MD: `null`},
				{Key: "b", Payload: `{}`, MD: `null`},
				{Key: "c", Payload: `{}`, MD: `null`},
			},
		},
		{
			name:  "indented objects",
			input: "{\n  \"key\": \"a\"\n}\n{\n  \"key\": \"b\"\n}\n",
			want:  []event{{Key: "a", Payload: `{}`, MD: `null`}, {Key: "b", Payload: `{}`, MD: `null`}},
		},
		{name: "empty", input: " \n ", wantErr: "f: no events"},
		{name: "empty array", input: "[]", wantErr: "f: no events"},
		{name: "array of numbers", input: "[1]", wantErr: "f: events[0]: want an event object, not a number"},
		{name: "array after blank lines", input: "\n\n[{\"key\": \"a\"}]\n\n", want: []event{{Key: "a", Payload: `{}`, MD: `null`}}},
		{name: "array bad JSON after blank line", input: "\n[{\"key\" 1}]", wantErr: "(line 2, column 9)"},
		{name: "array bad JSON", input: "[{\"key\": \"a\"},\n{\"key\" \"b\"}]", wantErr: "f is not valid JSON: invalid character '\"' after object key (line 2, column 8)"},
		{name: "array trailing", input: `[{"key": "a"}] {"key": "b"}`, wantErr: "unexpected data after the JSON array"},
		{name: "array missing key", input: `[{"key": "a"}, {"payload": {}}]`, wantErr: "f: events[1]: key: want a non-empty string"},
		{name: "array key not string", input: `[{"key": 3}]`, wantErr: "events[0]: key: want a non-empty string"},
		{name: "ndjson bad line", input: "{\"key\": \"a\"}\n{\"key\": \"b\",}\n", wantErr: "f: line 2: not valid JSON"},
		{name: "ndjson unknown field", input: "{\"key\": \"a\"}\n\n{\"key\": \"b\", \"paylod\": {}}\n", wantErr: `f: line 3: unknown field "paylod"`},
		{name: "ndjson payload not object", input: `{"key": "a", "payload": [1]}`, wantErr: "line 1: payload must be a JSON object, not an array"},
		{name: "ndjson bad metadata value", input: `{"key": "a", "additional_metadata": {"x": {"y": 1}}}`, wantErr: "line 1: additional_metadata.x: want a string, number or boolean, not an object"},
		{name: "ndjson metadata not object", input: `{"key": "a", "additional_metadata": [1]}`, wantErr: "additional_metadata: want a JSON object"},
		{name: "ndjson scalar line", input: "{\"key\": \"a\"}\n\"b\"\n", wantErr: "line 2: want an event object, not a string"},
		{name: "ndjson null line", input: "null\n", wantErr: "line 1: want an event object, not null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, err := parseBulk([]byte(tt.input), "f")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got := make([]event, len(evs))
			for i, ev := range evs {
				payload, err := json.Marshal(ev.Payload)
				if err != nil {
					t.Fatal(err)
				}
				md, err := json.Marshal(ev.AdditionalMetadata)
				if err != nil {
					t.Fatal(err)
				}
				got[i] = event{Key: ev.Key, Payload: string(payload), MD: string(md)}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
