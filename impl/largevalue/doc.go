// Package largevalue stores values larger than the 1 kB of a put
// (spec/SPEC.md section 17, LV-1..LV-10) over any DHT that offers the
// original put, get_details and rm: the Go client (impl/client) and each
// node's HTTP API (impl/gateway/httpapi) run it, so a value written
// through one reads through the other.
//
// A value is cut into 1024-byte blocks, each put under the SHA-1 of its
// bytes, so every block verifies itself; a tree of manifests names the
// blocks, and its root goes under the value's name only after every block
// and inner manifest was acknowledged, so a write that fails is never
// visible. A read picks the newest root under the name, walks its tree
// and fetches Config.Parallel blocks at a time, writing them in order and
// checking each against its key: a lost or corrupt block is a *BlockError
// that names it, never wrong data. The root expires before its blocks; a
// removable value's blocks carry a secret derived per write, so a remove
// takes the root and then every block away without touching other values.
//
// Memory is bounded by Parallel blocks and one manifest per tree level,
// whatever the size. The planted mistakes of the negative controls
// (Variant) exist only in builds with the variants tag.
package largevalue
