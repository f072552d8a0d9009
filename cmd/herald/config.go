package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Defaults of the global flags.
const (
	defaultURL     = "http://127.0.0.1:7420"
	defaultDataDir = "./.herald"
	tokenFileName  = "token"
)

// Environment variables that back the global flags.
const (
	envURL     = "HERALD_URL"
	envToken   = "HERALD_TOKEN"
	envDataDir = "HERALD_DATA_DIR"
)

// Output formats accepted by -o/--output.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// setting is one global option as given on the command line: its value and
// whether the flag was set explicitly.
type setting struct {
	value string
	set   bool
}

// resolve returns the flag's value when it was set, else the environment
// variable env when it is non-empty, else def.
func (s setting) resolve(getenv func(string) string, env, def string) string {
	if s.set {
		return s.value
	}
	if v := getenv(env); v != "" {
		return v
	}
	return def
}

// resolveToken finds the API token: the --token flag when given, else
// $HERALD_TOKEN, else the contents of <dataDir>/token (the file `herald serve`
// writes for a local engine).
func resolveToken(flag setting, getenv func(string) string, dataDir string) (string, error) {
	if flag.set {
		if t := strings.TrimSpace(flag.value); t != "" {
			return t, nil
		}
		return "", errors.New("--token is empty")
	}
	if t := strings.TrimSpace(getenv(envToken)); t != "" {
		return t, nil
	}
	path := filepath.Join(dataDir, tokenFileName)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("no API token: pass --token, set %s, or run 'herald serve' to create %s", envToken, path)
	case err != nil:
		return "", fmt.Errorf("reading token: %w", err)
	}
	t := strings.TrimSpace(string(data))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}
