package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// envMap returns a getenv function backed by m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolveToken(t *testing.T) {
	t.Parallel()

	withFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(withFile, "token"), []byte("hrld_file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := t.TempDir()
	if err := os.WriteFile(filepath.Join(emptyFile, "token"), []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noFile := t.TempDir()

	tests := []struct {
		name    string
		flag    setting
		env     map[string]string
		dataDir string
		want    string
		wantErr string
	}{
		{name: "flag wins", flag: setting{value: "hrld_flag", set: true}, env: map[string]string{envToken: "hrld_env"}, dataDir: withFile, want: "hrld_flag"},
		{name: "env over file", env: map[string]string{envToken: " hrld_env "}, dataDir: withFile, want: "hrld_env"},
		{name: "file fallback", dataDir: withFile, want: "hrld_file"},
		{name: "empty flag", flag: setting{value: "", set: true}, dataDir: withFile, wantErr: "--token is empty"},
		{name: "no token anywhere", dataDir: noFile, wantErr: "no API token: pass --token, set HERALD_TOKEN, or run 'herald serve' to create " + filepath.Join(noFile, "token")},
		{name: "empty file", dataDir: emptyFile, wantErr: "token file " + filepath.Join(emptyFile, "token") + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveToken(tt.flag, envMap(tt.env), tt.dataDir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSettingResolve(t *testing.T) {
	t.Parallel()

	env := envMap(map[string]string{envURL: "http://env:1"})
	if got := (setting{value: "http://flag:1", set: true}).resolve(env, envURL, defaultURL); got != "http://flag:1" {
		t.Errorf("flag: got %q", got)
	}
	if got := (setting{value: defaultURL}).resolve(env, envURL, defaultURL); got != "http://env:1" {
		t.Errorf("env: got %q", got)
	}
	if got := (setting{value: defaultURL}).resolve(envMap(nil), envURL, defaultURL); got != defaultURL {
		t.Errorf("default: got %q", got)
	}
}
