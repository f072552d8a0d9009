package secrets_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/internal/secrets"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := secrets.NewBox(secrets.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("whsec_do-not-leak-me")
	ad := []byte("tenant\x00webhook")
	a, b := box.Seal(secret, ad), box.Seal(secret, ad)
	if bytes.Equal(a, b) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	if bytes.Contains(a, secret) {
		t.Error("the sealed value contains the secret")
	}
	got, err := box.Open(a, ad)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Another row's additional data, a flipped bit, a truncation: refused.
	if _, err := box.Open(a, []byte("tenant\x00other")); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("Open with other additional data: %v", err)
	}
	for i := range a {
		c := bytes.Clone(a)
		c[i] ^= 1
		if _, err := box.Open(c, ad); err == nil {
			t.Fatalf("Open accepted a value with byte %d changed", i)
		}
	}
	if _, err := box.Open(a[:len(a)-1], ad); err == nil {
		t.Error("Open accepted a truncated value")
	}
	// Another master key is named as such.
	other, _ := secrets.NewBox(secrets.NewKey())
	if _, err := other.Open(a, ad); !errors.Is(err, secrets.ErrWrongKey) || !strings.Contains(err.Error(), other.KeyID()) {
		t.Errorf("Open under another key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	k := secrets.NewKey()
	enc := secrets.EncodeKey(k)
	for _, s := range []string{enc, " " + enc + "\n", strings.TrimRight(enc, "=")} {
		got, err := secrets.ParseKey(s)
		if err != nil || !bytes.Equal(got, k) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ=", secrets.EncodeKey(make([]byte, 16))} {
		if _, err := secrets.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	if _, err := secrets.NewBox(make([]byte, 16)); err == nil {
		t.Error("NewBox accepted a 16-byte key")
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	// Starters racing on a fresh directory agree on one key, created once.
	const n = 8
	keys := make([][]byte, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], created[i], errs[i] = secrets.LoadOrCreateKeyFile(path)
		}()
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("starters got different keys")
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d starters created the key, want 1", creators)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, made, err := secrets.LoadOrCreateKeyFile(path)
	if err != nil || made || !bytes.Equal(again, keys[0]) {
		t.Errorf("reopening: %x, created %v, %v", again, made, err)
	}
	// A damaged file is an error, never silently replaced.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := secrets.LoadOrCreateKeyFile(path); err == nil {
		t.Error("a damaged key file was accepted")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the key directory holds %d files, want only the key (temporary files removed)", len(entries))
	}
}
