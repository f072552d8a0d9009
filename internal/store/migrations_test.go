package store

import (
	"testing"
	"testing/fstest"
)

// TestLatestVersion: the schema version is the last migration's, whatever the order of
// the files; 0 without migrations.
func TestLatestVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_ten.sql":  {Data: []byte("SELECT 10")},
		"m/0002_two.sql":  {Data: []byte("SELECT 2")},
		"m/0009_nine.sql": {Data: []byte("SELECT 9")},
	}
	ms, err := LoadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if got := LatestVersion(ms); got != 10 {
		t.Errorf("LatestVersion = %d, want 10", got)
	}
	if got := LatestVersion(nil); got != 0 {
		t.Errorf("LatestVersion(none) = %d, want 0", got)
	}
}
