// Package cddb is the CD database that CD players have asked since the
// 1990s, as FreeDB served it: the xmcd record format, the disc ID, exact
// and inexact (fuzzy) matching, and the legacy query protocol in both of
// its forms, cddbp over TCP (port 8880) and CDDB over HTTP
// (/~cddb/cddb.cgi). It knows nothing of where records live: a DB answers
// lookups, and the DHT's answer is package food.
//
// What it promises (spec/SPEC.md section 15, rules FOOD-1..FOOD-14):
//
//   - Parse accepts a record only if it is whole and well formed (FOOD-1,
//     FOOD-2) and says why it refuses one; nothing half-read is returned.
//   - DiscID is FreeDB's disc ID of a table of contents (FOOD-3).
//   - A Session answers the protocol's commands with FreeDB's status codes
//     and texts at protocol levels 1 to 6 (FOOD-9..FOOD-12): 200/210/211/202
//     for a query, 210/401/402/403 for a read, 409 before the handshake,
//     500 for malformed input. The same Session serves cddbp (Serve) and
//     the HTTP form (HTTPHandler).
//   - Matching is FreeDB's (FOOD-10): an exact match is a record under the
//     queried disc ID whose tracks each differ by at most FuzzyFactor
//     frames; without one, an inexact match is any record with the same
//     number of tracks and a disc length close enough, found through the
//     DB's family lookup.
//
// Generate writes a seeded synthetic corpus in the format of the FreeDB
// dump (category directories of files named by disc ID).
package cddb
