package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/opendht-go/opendht/impl/dht"
	"github.com/opendht-go/opendht/impl/gateway"
)

// principal is who a request authenticated as: an account, the
// provider's admin, or nobody (anonymous, no value in the context).
type principal struct {
	acct  *Account
	admin bool
}

type ctxKey struct{}

func principalOf(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(principal)
	return p, ok
}

// KeyOf returns the API key a request presents: the X-API-Key header, or
// the token of an "Authorization: Bearer" header (AC-2); "" for none. An
// Authorization header of another scheme is not an API key.
func KeyOf(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// Middleware authenticates every request of the gateway's port (XML-RPC,
// the HTTP/JSON API, the status page) before next sees it (AC-2): a key
// that names an account (or the admin key) goes into the request's
// context; a key that names none is answered 401 and changes nothing; no
// key leaves the request anonymous (AC-3).
func (s *Set) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := KeyOf(r)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		d := sha256.Sum256([]byte(key))
		var p principal
		switch a, ok := s.byDigest[d]; {
		case ok:
			p.acct = a
		case s.admin != nil && *s.admin == d:
			p.admin = true
		default:
			unauthorized(w, r, dht.ErrUnknownKey)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	})
}

// unauthorized answers 401: in JSON under the API's prefix, in plain text
// elsewhere (an XML-RPC client reports the HTTP status and its text).
func unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="opendht"`)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		body, _ := json.Marshal(map[string]string{"error": err.Error()})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write(append(body, '\n'))
		return
	}
	http.Error(w, err.Error(), http.StatusUnauthorized)
}

// Stored is what a node's store charges to one identity (FST-10).
type Stored struct {
	Bytes int64
	Items int
}

// Backend is a gateway.Backend (and gateway.RegisterBackend) that charges
// each write to the account its request authenticated as. Build it with
// Wrap.
type Backend struct {
	b      gateway.Backend
	set    *Set
	stored func() map[dht.ClientID]Stored

	mu     sync.Mutex
	ledger map[string]*gateway.Ledger // by account name
}

// Wrap returns b behind the set's accounts. stored reports what the node's
// store charges to each identity (store.Clients); nil reports nothing.
func (s *Set) Wrap(b gateway.Backend, stored func() map[dht.ClientID]Stored) *Backend {
	if stored == nil {
		stored = func() map[dht.ClientID]Stored { return nil }
	}
	return &Backend{b: b, set: s, stored: stored, ledger: map[string]*gateway.Ledger{}}
}

// charge returns the identity a write of the request in ctx is charged
// to (AC-3, AC-4), with the account, or an error if it may not write.
// keep is the identity the gateway saw (the client's IP address).
func (b *Backend) charge(ctx context.Context, keep dht.ClientID) (dht.ClientID, *Account, error) {
	p, _ := principalOf(ctx)
	switch {
	case p.acct != nil && bug().NoIdentity: // planted: the account is not charged
		return keep, p.acct, nil
	case p.acct != nil:
		return p.acct.Identity.WithQuota(p.acct.Quota), p.acct, nil
	case b.set.anonymous && !p.admin:
		return keep, nil, nil
	}
	return "", nil, dht.ErrKeyRequired
}

// record enters a write's answer in its account's ledger (AC-8) and turns
// status 3 into dht.ErrOverQuota (AC-7).
func (b *Backend) record(a *Account, charge, ttl int64, st dht.Status, err error) (dht.Status, error) {
	if err == nil && st == dht.StatusOverQuota {
		err = dht.ErrOverQuota
	}
	if a == nil {
		return st, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.ledger[a.Name]
	if l == nil {
		l = &gateway.Ledger{}
		b.ledger[a.Name] = l
	}
	switch {
	case errors.Is(err, dht.ErrOverQuota):
		l.OverQuota++
	case err == nil && st == dht.StatusOK:
		l.OK++
		l.Bytes += charge
		l.ByteSeconds += charge * ttl
	default:
		l.Failed++
	}
	return st, err
}

// Put charges the put to its account and executes it.
func (b *Backend) Put(ctx context.Context, p dht.Put) (dht.Status, error) {
	c, a, err := b.charge(ctx, p.Client)
	if err != nil {
		return 0, err
	}
	p.Client = c
	st, err := b.b.Put(ctx, p)
	return b.record(a, dht.ChargedBytes(len(p.Value)), min(p.TTL, dht.MaxTTL), st, err)
}

// Remove charges the rm's tombstone to its account and executes it.
func (b *Backend) Remove(ctx context.Context, r dht.Remove) (dht.Status, error) {
	c, a, err := b.charge(ctx, r.Client)
	if err != nil {
		return 0, err
	}
	r.Client = c
	st, err := b.b.Remove(ctx, r)
	return b.record(a, dht.ChargedBytes(len(r.Secret)), min(r.TTL, dht.MaxTTL), st, err)
}

// Get is served to anyone (AC-3).
func (b *Backend) Get(ctx context.Context, g dht.Get) (dht.GetReply, error) {
	return b.b.Get(ctx, g)
}

// CAS needs a key unless anonymous writes are allowed (AC-3). Registers
// are not items: they are not charged to the account.
func (b *Backend) CAS(ctx context.Context, c dht.CAS) (dht.CASResult, error) {
	rb, err := gateway.Registers(b.b)
	if err != nil {
		return dht.CASResult{}, err
	}
	if _, _, err := b.charge(ctx, ""); err != nil {
		return dht.CASResult{}, err
	}
	return rb.CAS(ctx, c)
}

// ReadRegister is served to anyone (AC-3).
func (b *Backend) ReadRegister(ctx context.Context, key dht.Key) (dht.Versioned, error) {
	rb, err := gateway.Registers(b.b)
	if err != nil {
		return dht.Versioned{}, err
	}
	return rb.ReadRegister(ctx, key)
}

// Usage is the usage report for the request in ctx (AC-8): its account's
// row, or with the admin key every account's; anonymous requests get
// dht.ErrKeyRequired. Only this provider's accounts are ever listed
// (AC-9): the rows come from the accounts file, never from the identities
// the store holds.
func (b *Backend) Usage(ctx context.Context) (gateway.UsageReport, error) {
	p, ok := principalOf(ctx)
	if !ok {
		return gateway.UsageReport{}, dht.ErrKeyRequired
	}
	stored := b.stored()
	rep := gateway.UsageReport{Provider: b.set.provider, Accounts: []gateway.AccountUsage{}}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range b.set.accounts {
		if !p.admin && a != p.acct {
			continue
		}
		u := gateway.AccountUsage{Account: a.Name, Identity: string(a.Identity), QuotaBytes: a.Quota,
			StoredBytes: stored[a.Identity].Bytes, StoredItems: stored[a.Identity].Items}
		if l := b.ledger[a.Name]; l != nil {
			u.Ledger = *l
		}
		rep.Accounts = append(rep.Accounts, u)
	}
	return rep, nil
}
