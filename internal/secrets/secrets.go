// Package secrets encrypts the secrets Herald must keep readable (webhook signing secrets,
// passwords, API keys) under one master key, with AES-256-GCM from the standard library.
//
// A sealed value is self-describing: a format version, an 8-byte id of the master key that
// sealed it (so a wrong key is named as such), the 12-byte random nonce and the ciphertext
// with its tag. Callers pass additional data (for example the tenant and webhook ids) that
// is authenticated but not stored, so a sealed value copied onto another row does not open.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a master key in bytes (AES-256).
const KeySize = 32

// version is the first byte of every sealed value.
const version = 1

// header is version (1) + key id (8) + nonce (12).
const (
	keyIDSize  = 8
	nonceSize  = 12
	headerSize = 1 + keyIDSize + nonceSize
)

// ErrWrongKey is returned when a value was sealed under another master key.
var ErrWrongKey = errors.New("sealed under another master key")

// ErrCorrupt is returned when a sealed value was altered, truncated, or belongs to another
// row (its additional data differs).
var ErrCorrupt = errors.New("sealed value is corrupt or belongs to another record")

// Box seals and opens values under one master key. It is safe for concurrent use.
type Box struct {
	aead  cipher.AEAD
	keyID [keyIDSize]byte
}

// NewBox returns a Box for a 32-byte master key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	b := &Box{aead: aead}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("herald master key id"))
	copy(b.keyID[:], mac.Sum(nil))
	return b, nil
}

// KeyID returns a short, non-secret fingerprint of the master key (hex), for messages.
func (b *Box) KeyID() string { return hex.EncodeToString(b.keyID[:]) }

// Seal encrypts plaintext; ad is authenticated with it but not stored.
func (b *Box) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, headerSize, headerSize+len(plaintext)+b.aead.Overhead())
	out[0] = version
	copy(out[1:], b.keyID[:])
	nonce := out[1+keyIDSize : headerSize]
	rand.Read(nonce) // never returns an error (crypto/rand documents it)
	return b.aead.Seal(out, nonce, plaintext, ad)
}

// Open decrypts a value Seal returned with the same ad.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < headerSize+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrCorrupt
	}
	if !bytes.Equal(sealed[1:1+keyIDSize], b.keyID[:]) {
		return nil, fmt.Errorf("%w (key id %x; this herald's master key is %s)", ErrWrongKey, sealed[1:1+keyIDSize], b.KeyID())
	}
	pt, err := b.aead.Open(nil, sealed[1+keyIDSize:headerSize], sealed[headerSize:], ad)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}

// ParseKey decodes a master key written in base64 (standard or URL alphabet, padded or
// not) and checks that it is 32 bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("master key is empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("master key must decode to %d bytes, got %d (make one with: head -c 32 /dev/urandom | base64)", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("master key is not base64 (make one with: head -c 32 /dev/urandom | base64)")
}

// NewKey returns a fresh random master key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never returns an error
	return k
}

// EncodeKey writes a key the way ParseKey reads it (standard base64).
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// LoadKeyFile reads a master key file: base64 of 32 bytes, surrounding space ignored.
func LoadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading master key: %w", err)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKeyFile reads the master key at path, or, when the file does not exist,
// creates it (mode 0600) with a fresh key. created reports the latter. Two processes
// starting together agree on one key: the file appears whole, once.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	k, err := LoadKeyFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("creating master key: %w", err)
	}
	k = NewKey()
	// Write a temporary file, then link it into place: the link fails if another process
	// won the race, and nobody ever reads a half-written key.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return nil, false, fmt.Errorf("creating master key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(EncodeKey(k) + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp.Name(), 0o600)); err != nil {
		return nil, false, fmt.Errorf("writing master key %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			k, err := LoadKeyFile(path)
			return k, false, err
		}
		return nil, false, fmt.Errorf("writing master key %s: %w", path, err)
	}
	return k, true, nil
}
