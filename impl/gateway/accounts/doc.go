// Package accounts is the optional account layer of a gateway (spec/SPEC.md
// section 20): API keys, the identity an account's writes are charged to
// with its quota, the per-account ledger and the usage report of a DHT
// service provider.
//
// A node given an accounts file (opendht node --accounts FILE) wraps its
// gateways in two pieces of this package. Middleware reads a request's key
// from the Authorization: Bearer or X-API-Key header (AC-2) and puts the
// account it names in the request's context; a request with a key that
// names no account is refused with 401 before any gateway sees it. Wrap
// puts a Backend between the gateways and the node: a write of an account
// is charged to "acct:PROVIDER/NAME#QUOTA" (AC-4), so that every replica
// that stores it enforces the quota (AC-5); an anonymous write is refused
// unless the file allows it (AC-3); status 3 from the DHT becomes
// dht.ErrOverQuota (AC-7); and each write goes into the account's ledger
// (AC-8), which Usage reports with what the node's store holds of each
// account, for this provider's accounts only (AC-9).
//
// The gateways themselves (XML-RPC, the HTTP/JSON API, Sun RPC) are the
// same with or without accounts: the original methods, their arguments and
// their answers do not change. A node without an accounts file uses none
// of this package.
//
// The accounts file (TOML):
//
//	provider = "alpha"            # 1-16 of a-z 0-9 -
//	anonymous_writes = false      # writes without a key: refused (false) or charged to the IP
//	admin_key = "..."             # optional: reads every account's usage
//	# admin_key_sha256 = "hex"    # or its SHA-256, to keep the key out of the file
//
//	[[account]]
//	name = "alice"                # 1-24 of A-Z a-z 0-9 . _ -
//	key = "a-long-random-string"  # at least 16 bytes; or key_sha256 = "hex"
//	quota = 10485760              # bytes, at every node (AC-5)
package accounts
