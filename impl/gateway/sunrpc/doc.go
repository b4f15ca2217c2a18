// Package sunrpc is the OpenDHT gateway over Sun RPC: ONC RPC version 2
// (RFC 5531) over TCP with record marking, serving program 708655600
// version 3 of gateway_prot.x on node port + 2 (see
// ../../../../shared/reference/OPENDHT.md §2). It carries the same calls as
// the XML-RPC gateway onto a gateway.Backend, and holds a small client.
//
// Procedures: NULL = 1 (proc 0 is answered as NULL too, so standard ONC RPC
// pings work), PUT = 2, GET = 3, RM = 4. PUT and RM return the status enum
// (0 success, 1 over capacity, 2 try again, ST-1); GET returns the
// get_details form: values with their remaining TTL and secret hash, and a
// placemark (empty when there is no more, GET-4).
//
// Decisions where gateway_prot.x as we have it is silent (ours):
//   - The XDR codec is written here rather than taken from a library:
//     every length is checked against its declared bound and the bytes left
//     before anything is allocated, padding must be zero and trailing bytes
//     are refused, so a decoded value re-encodes to the same bytes.
//   - rm's value_hash is opaque[20], like the key: a SHA-1 digest.
//   - The status enum has no code for a bad request, so every invalid
//     argument is answered with accept_stat GARBAGE_ARGS: undecodable XDR,
//     a value, name, hash or placemark beyond its bound (LIM-2..LIM-5), a
//     secret hash algorithm other than "SHA" or a put secret hash that is
//     not empty-with-empty-algorithm or 20 non-zero bytes, a TTL or maxvals
//     that is not positive, and a placemark this node did not issue. A
//     Backend failure that is not a validation error (a timeout, shutdown)
//     is SYSTEM_ERR.
//   - Credentials AUTH_NONE and AUTH_SYS are accepted and ignored; any
//     other flavor is denied with AUTH_ERROR/AUTH_BADCRED. A call with RPC
//     version other than 2 is denied with RPC_MISMATCH (2, 2); a wrong
//     program is PROG_UNAVAIL, a wrong version PROG_MISMATCH (3, 3), an
//     unknown procedure PROC_UNAVAIL.
//   - A record larger than Config.MaxRecordSize (checked from each
//     fragment header, before its bytes are read), a message that is not a
//     call, or a read timeout closes the connection without a reply: the
//     byte stream cannot be trusted after it.
//
// The client a write is charged to is the connection's remote IP address
// (dht.ClientID, FST-5). Calls on one connection are answered in order, one
// at a time; connections are served concurrently.
package sunrpc
