package accounts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/opendht-go/opendht/impl/dht"
)

// MinKeyLen is the shortest API key a file may give, in bytes: a key is a
// password that is tried over the network.
const MinKeyLen = 16

// ErrBadFile: the accounts file cannot be used; the error says why.
var ErrBadFile = errors.New("accounts: bad accounts file")

// file is the TOML accounts file.
type file struct {
	Provider        string  `toml:"provider"`
	AnonymousWrites bool    `toml:"anonymous_writes"`
	AdminKey        string  `toml:"admin_key"`
	AdminKeySHA256  string  `toml:"admin_key_sha256"`
	Accounts        []entry `toml:"account"`
}

type entry struct {
	Name      string `toml:"name"`
	Key       string `toml:"key"`
	KeySHA256 string `toml:"key_sha256"`
	Quota     int64  `toml:"quota"`
}

// Account is one account of the provider.
type Account struct {
	// Name is the account's name within its provider.
	Name string
	// Quota is the bytes the account may hold at any one node (AC-5).
	Quota int64
	// Identity is what its writes are charged to: "acct:PROVIDER/NAME".
	Identity dht.ClientID
}

// Set is the accounts of one provider, as a node's file gives them.
type Set struct {
	provider  string
	anonymous bool
	byDigest  map[[sha256.Size]byte]*Account
	admin     *[sha256.Size]byte
	accounts  []*Account // in file order
}

// Load reads and checks an accounts file (AC-1).
func Load(path string) (*Set, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFile, err)
	}
	return Parse(string(b), path)
}

// Parse checks the text of an accounts file (AC-1); name names it in
// errors.
func Parse(text, name string) (*Set, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %s: %s", ErrBadFile, name, fmt.Sprintf(format, a...))
	}
	var f file
	md, err := toml.Decode(text, &f)
	if err != nil {
		return nil, bad("%v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, bad("unknown field %q (the fields are provider, anonymous_writes, admin_key, admin_key_sha256, and name, key, key_sha256, quota in each [[account]])", und[0].String())
	}
	if err := dht.ValidProvider(f.Provider); err != nil {
		return nil, bad("%v", err)
	}
	s := &Set{provider: f.Provider, anonymous: f.AnonymousWrites, byDigest: map[[sha256.Size]byte]*Account{}}
	if f.AdminKey != "" || f.AdminKeySHA256 != "" {
		d, err := digestOf(f.AdminKey, f.AdminKeySHA256)
		if err != nil {
			return nil, bad("admin key: %v", err)
		}
		s.admin = &d
	}
	names := map[string]bool{}
	for i, e := range f.Accounts {
		if err := dht.ValidAccount(e.Name); err != nil {
			return nil, bad("account %d: %v", i+1, err)
		}
		if names[e.Name] {
			return nil, bad("account %q is given twice", e.Name)
		}
		names[e.Name] = true
		if e.Quota < 1 || e.Quota >= dht.MaxQuota {
			return nil, bad("account %q: quota must be in [1, %d) bytes, got %d", e.Name, int64(dht.MaxQuota), e.Quota)
		}
		d, err := digestOf(e.Key, e.KeySHA256)
		if err != nil {
			return nil, bad("account %q: %v", e.Name, err)
		}
		if _, dup := s.byDigest[d]; dup || s.admin != nil && *s.admin == d {
			return nil, bad("account %q: its key is also another account's or the admin key", e.Name)
		}
		a := &Account{Name: e.Name, Quota: e.Quota, Identity: dht.AccountClient(f.Provider, e.Name)}
		s.byDigest[d] = a
		s.accounts = append(s.accounts, a)
	}
	return s, nil
}

// digestOf returns the SHA-256 of a key given in clear or as its digest,
// exactly one of the two.
func digestOf(key, hexDigest string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	switch {
	case key != "" && hexDigest != "":
		return d, errors.New("give key or key_sha256, not both")
	case key != "":
		if len(key) < MinKeyLen {
			return d, fmt.Errorf("key must have at least %d bytes, got %d", MinKeyLen, len(key))
		}
		return sha256.Sum256([]byte(key)), nil
	case hexDigest != "":
		b, err := hex.DecodeString(strings.TrimSpace(hexDigest))
		if err != nil || len(b) != sha256.Size {
			return d, fmt.Errorf("key_sha256 must be %d hex digits", 2*sha256.Size)
		}
		copy(d[:], b)
		return d, nil
	}
	return d, errors.New("give key or key_sha256")
}

// Provider is the name of the set's provider.
func (s *Set) Provider() string { return s.provider }

// Accounts lists the accounts in file order.
func (s *Set) Accounts() []Account {
	out := make([]Account, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = *a
	}
	return out
}
