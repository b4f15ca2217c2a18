package dht

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Accounts of a DHT service provider (spec/SPEC.md section 20). An
// account's writes are charged to the client identity "acct:P/A" and
// carry its quota as "acct:P/A#Q" (AC-4): the identity is the field every
// copy of a write carries to every replica, so every node can enforce the
// quota (AC-5) without knowing the provider's accounts.

// AccountPrefix starts the client identity of every account. No IP
// address starts with it, and only gateways choose client identities.
const AccountPrefix = "acct:"

// Limits of account names and quotas (AC-1). With them an identity with
// its quota fits the 64 bytes a client identity may have on the wire.
const (
	MaxProviderLen = 16
	MaxAccountLen  = 24
	// MaxQuota bounds a quota in bytes (exclusive): a petabyte, 15 digits.
	MaxQuota = 1_000_000_000_000_000
)

// Errors of accounts, shared by the gateways and the clients.
var (
	// ErrOverQuota: a replica refused the write because the account would
	// hold more than its quota there (AC-5, AC-7).
	ErrOverQuota = errors.New("account is over its storage quota")
	// ErrKeyRequired: an anonymous write on a gateway that charges (AC-3).
	ErrKeyRequired = errors.New("an API key is required to write through this gateway")
	// ErrUnknownKey: a key that names no account of the gateway's
	// provider (AC-2).
	ErrUnknownKey = errors.New("unknown API key")
)

// ValidProvider reports why a provider name is not valid (AC-1), or nil.
func ValidProvider(p string) error {
	if len(p) < 1 || len(p) > MaxProviderLen {
		return fmt.Errorf("provider name %q must have 1 to %d characters", p, MaxProviderLen)
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("provider name %q may only hold a-z, 0-9 and -", p)
		}
	}
	return nil
}

// ValidAccount reports why an account name is not valid (AC-1), or nil.
func ValidAccount(a string) error {
	if len(a) < 1 || len(a) > MaxAccountLen {
		return fmt.Errorf("account name %q must have 1 to %d characters", a, MaxAccountLen)
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("account name %q may only hold A-Z, a-z, 0-9, '.', '_' and '-'", a)
		}
	}
	return nil
}

// AccountClient is the identity an account's writes are charged to,
// without its quota: "acct:P/A" (AC-4).
func AccountClient(provider, account string) ClientID {
	return ClientID(AccountPrefix + provider + "/" + account)
}

// WithQuota is the identity a gateway sends with an account's write:
// "acct:P/A#Q" (AC-4).
func (c ClientID) WithQuota(quota int64) ClientID {
	return ClientID(string(c) + "#" + strconv.FormatInt(quota, 10))
}

// Quota splits a client identity into the identity it is charged to and
// its quota (AC-4). An identity that is not an account's, or whose quota
// is not a decimal in [1, MaxQuota), has no quota (0) and is charged as it
// is.
func (c ClientID) Quota() (charged ClientID, quota int64) {
	s := string(c)
	if !strings.HasPrefix(s, AccountPrefix) {
		return c, 0
	}
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return c, 0
	}
	digits := s[i+1:]
	if len(digits) == 0 || len(digits) > 15 || digits[0] == '0' {
		return c, 0
	}
	q, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || q < 1 || q >= MaxQuota {
		return c, 0
	}
	return ClientID(s[:i]), q
}

// Charged is the identity c is charged to (Quota without the quota).
func (c ClientID) Charged() ClientID {
	id, _ := c.Quota()
	return id
}

// Provider returns the provider of an account identity (with or without
// its quota), or "" for any other identity.
func (c ClientID) Provider() string {
	s, ok := strings.CutPrefix(string(c.Charged()), AccountPrefix)
	if !ok {
		return ""
	}
	p, _, ok := strings.Cut(s, "/")
	if !ok {
		return ""
	}
	return p
}

// OverQuota is AC-5: whether a write that changes its identity's charge
// at a node from before to after bytes must be refused under quota
// (0: none).
func OverQuota(quota, before, after int64) bool {
	return quota > 0 && after > quota && after > before
}
