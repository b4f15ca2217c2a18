// Package httpapi is the HTTP/JSON API of a node's gateway: the original
// client operations (put, put_removable, get_details, rm; see
// spec/CLIENT-API.md) for new users, and compare-and-set and read on versioned
// registers (spec/SPEC.md section 11), executed on a gateway.Backend (a
// gateway.RegisterBackend for registers). A node
// serves it on its XML-RPC port (node port + 1) under /api/: see
// xmlrpc.Config.API. Its texts, limits and status codes are those of the
// other gateways; only the encoding is new.
//
// # Conventions
//
// Request and response bodies are JSON objects (UTF-8); the Content-Type
// of a request is not checked, so `curl -d` works. A request body is at
// most Config.MaxBodyBytes (16 KiB) and must hold exactly one object with
// only the fields listed below: an unknown field ("tll") is an error.
// Binary fields are base64: standard or URL-safe alphabet, with or
// without padding, on input; standard with padding on output, except the
// placemark, which is URL-safe without padding so that it can go into a
// query string unescaped. A "value" of null is the empty value (Go's
// encoding/json writes a nil []byte so); any other field that is null
// counts as absent.
//
// {key} is 2 to 40 hex digits (an even count, either case): 1 to 20 bytes,
// left-padded with zero bytes to 20 like the original gateway did (LIM-1).
// A text key is conventionally its SHA-1: `printf %s mykey | sha1sum`.
//
// The client a write is charged to (fair storage per client, FST-5) is the
// remote IP address of the HTTP connection; forwarding headers are ignored.
//
// # Endpoints
//
// POST /api/v1/keys/{key} stores a value: put, or put_removable when a
// secret is given.
//
//	{"value": "<base64, <= 1024 bytes, required>",
//	 "ttl": 3600,                       // seconds; optional, default 3600, > 0, clamped to 604800
//	 "secret_hash": "<base64, 20 bytes>", // optional: SHA-1 of the secret, not all zero
//	 "secret": "<base64, <= 40 bytes>",   // optional: the gateway hashes it; not with secret_hash
//	 "application": "<string>"}          // optional, only logged
//
// GET /api/v1/keys/{key}?maxvals=10&placemark=<base64url> reads the values
// under the key, with their details (get_details). maxvals is optional
// (default 10), must be a positive integer and is capped at
// Config.MaxValsCap (1000); placemark is optional (empty or absent on the
// first call). read is optional: quorum (the default) reads from a read
// quorum of the key's replicas and returns every value whose put was
// acknowledged before the get (spec RD-7); fast (spec RD-14) returns the
// merged values of the first replicas to answer, sooner, but may miss a
// value just put or return one just removed. Every page of a fast get is
// a fast read; its placemark is the same kind as a default get's. No
// other query parameter is accepted.
//
//	200 {"values": [{"value": "<base64>", "ttl_remaining": 3599,
//	                 "hash_alg": "SHA" or "", "secret_hash": "<base64>" or ""}],
//	     "placemark": "<base64url>"}
//
// The values come in the order the backend reads (on a node, item order,
// RD-9). A reply may hold fewer than maxvals values while more exist (the
// root caps a reply at about 1 KiB of values, GET-3): a non-empty
// placemark means there may be more, so repeat the GET with it until the
// placemark is empty (GET-4). An unremovable value has
// hash_alg "" and secret_hash "".
//
// DELETE /api/v1/keys/{key} removes a value stored with a secret (rm).
//
//	{"value_hash": "<base64, 20 bytes>", // SHA-1 of the value, or instead:
//	 "value": "<base64, <= 1024 bytes>",   // the value itself; the gateway hashes it
//	 "secret": "<base64, <= 40 bytes, required>",
//	 "ttl": 3600,                          // seconds the removal is kept; optional, default 3600
//	 "application": "<string>"}           // optional, only logged
//
// A write (POST or DELETE) answers with the status of the original API:
//
//	0  200 {"status":0,"result":"success"}
//	1  507 {"status":1,"result":"over capacity","error":"over capacity"}
//	2  503 {"status":2,"result":"try again","error":"try again"}, Retry-After: 1
//
// POST /api/v1/registers/{key} is a compare-and-set on the key's versioned
// register (spec/SPEC.md section 11; registers are apart from the values
// of /keys/, CAS-1): if the register's version is "expected" (0: absent),
// it becomes expected + 1 with the value, live for ttl seconds.
//
//	{"expected": 0,                    // required: a whole number, or a decimal string
//	 "value": "<base64, <= 1024 bytes, required>", // "" deletes (a tombstone, CAS-6)
//	 "ttl": 3600,                      // seconds; optional, default 3600, > 0, clamped to 604800
//	 "application": "<string>"}       // optional, only logged
//
//	200 {"ok": true,  "version": 1, "value": "<base64>"}   // the new version and value
//	200 {"ok": false, "version": 7, "value": "<base64>"}   // it failed: the current ones
//
// GET /api/v1/registers/{key} reads the register (linearizable, CAS-7):
//
//	200 {"version": 7, "value": "<base64>"}   // {"version": 0, "value": ""} when absent
//
// A read-modify-write reads, then posts a cas with "expected" the version
// read; when it fails ("ok": false) it starts again from the version and
// value the answer carries.
//
// Versions are unsigned 64-bit integers, written as JSON numbers (up to
// 18446744073709551615). Go reads them exactly into a uint64; JavaScript's
// JSON.parse reads numbers as doubles, exact only up to 2^53: a JavaScript
// client should parse versions with a BigInt-aware JSON parser and may
// send "expected" as a decimal string ("expected": "9007199254740993").
// (Each successful cas adds one, so no register comes near 2^53 in
// practice.) "expected" must be written in digits: a fraction or an
// exponent is refused, a negative number or 2^64-1 and beyond is "expected
// version is out of range" (CAS-8).
//
// PUT (or POST) /api/v1/large/{key}?ttl=3600 stores the raw request body,
// of any length up to Config.Large.MaxSize (1 GiB), as a large value
// (spec/SPEC.md section 17): 1 kB blocks and a tree of manifests whose root
// goes under {key} once every block was acknowledged. The body is streamed
// (chunked or with a Content-Length): the gateway holds
// Config.Large.Parallel blocks at a time. A secret in the X-OpenDHT-Secret
// header (base64, 1 to 40 bytes) makes the value removable. Every block is
// charged to the connection's address.
//
//	200 {"status":0,"result":"success","size":N,"blocks":N,"ttl":N,"version":"<hex>"}
//
// GET /api/v1/large/{key} streams the value back, every block checked
// against its hash: 200, Content-Type application/octet-stream,
// Content-Length and X-OpenDHT-Size the size, X-OpenDHT-TTL-Remaining,
// X-OpenDHT-Version (the SHA-1 of the root manifest). 404 when there is no
// value; 502 with an error naming the block when a block is missing or
// corrupt before the first byte was sent; after it, the connection is cut,
// so the body is shorter than its Content-Length. HEAD answers the headers
// alone. DELETE /api/v1/large/{key} with the X-OpenDHT-Secret header
// removes the value (404 when none under the key was put with that
// secret). A large value's transfer may take as long as its bytes need:
// only a stall of Config.LargeIdle cuts it. Status 1 and 2 of a block are
// 507 and 503 as for a put; at most Config.MaxLargeStreams large values
// move at once (503 beyond).
//
// GET /api/v1/status describes the node (see Status): 200 {"version":"v1",
// "node_id":..., "address":..., "joined":..., "leaf_set_peers":...,
// "routing_table_peers":..., "uptime_seconds":..., "store":
// {"capacity_bytes":..., "used_bytes":..., "queued_writes":...}}.
//
// HEAD is accepted wherever GET is.
//
// # Accounts
//
// A node started with an accounts file (spec/SPEC.md section 20,
// impl/gateway/accounts) charges each write to the account whose API key
// the request carries, in an "Authorization: Bearer KEY" or "X-API-Key:
// KEY" header; every endpoint above is unchanged. Without a key a request
// is anonymous: reads are served, writes answer 401 {"error": "an API key
// is required to write through this gateway"} unless the node allows
// anonymous writes. A key that names no account answers 401 {"error":
// "unknown API key"}. A write over its account's quota at a replica
// answers
//
//	507 {"status":1,"result":"over quota","error":"account is over its storage quota"}
//
// GET /api/v1/usage, with an account's key, reports that account; with
// the provider's admin key, every account of the provider (see
// gateway.UsageReport):
//
//	200 {"provider":"alpha","accounts":[{"account":"alice","identity":"acct:alpha/alice",
//	     "quota_bytes":N,"ledger":{"ok":N,"over_quota":N,"failed":N,"bytes":N,"byte_seconds":N},
//	     "stored_bytes":N,"stored_items":N}]}
//
// It answers 401 without a key and 404 on a node without accounts.
//
// # Errors
//
// Every error is a JSON object {"error": "<text>"}:
//
//	400  a malformed request; the text is the original fault text when
//	     there is one ("key is longer than 20 bytes", "value is longer
//	     than 1024 bytes", "secret is longer than 40 bytes", "ttl must be
//	     positive", "maxvals must be positive", "placemark is malformed",
//	     "secret hash must be 20 bytes", "value hash must be 20 bytes",
//	     "secret hash of a removable put must not be all zero", "expected
//	     version is out of range"), else it names the field ("request
//	     body: unknown field \"tll\"")
//	401  an API key is required, or the key is unknown (Accounts, above)
//	404  no such endpoint
//	405  a method the endpoint does not serve; the Allow header lists those it does
//	413  the request body is larger than the limit
//	500  the DHT failed ("put failed: ...")
//	501  the node does not serve registers
//	504  the DHT did not answer in time; the client may try again, except
//	     after a cas (below)
//
// A request refused with a 4xx changed nothing (LIM-7). After a 5xx (and
// after status 2) the outcome of a put or rm is not known: the write may
// have reached some replicas. Repeating the same put or remove is safe: it
// names the same item, which is stored once (PUT-1, PUT-5, PUT-6, RM-4).
//
// A cas is not idempotent, so its failures are told apart. A 500 means it
// failed before it was sent to any replica: nothing changed. A 504 means
// its outcome is unknown (CAS-11): it may or may not have taken effect.
// Its body says so, {"error": "outcome unknown: read the register before
// trying again (...)", "outcome": "unknown"}: read the register before
// repeating it (a value that names its writer tells whether it did).
package httpapi
