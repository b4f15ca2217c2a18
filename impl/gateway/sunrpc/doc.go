// Package sunrpc is the OpenDHT gateway over Sun RPC: ONC RPC version 2
// (RFC 5531) over TCP with record marking, on node port + 2, serving
// program 708655600 in versions 2 and 3, exactly as the original OpenDHT
// gateways did, so that clients generated from the original interface
// definition (C rpcgen stubs, Remote Tea Java) work unchanged. It carries
// the same calls as the XML-RPC gateway onto a gateway.Backend, and holds a
// small client that speaks both versions.
//
// # Wire layout
//
// All types are XDR (RFC 4506). Field order below is the order on the wire;
// <n> is a variable-length field of at most n bytes (a length word, the
// bytes, zero padding to four), [n] a fixed field of n bytes (no length).
//
//	bamboo_key        opaque[20]
//	bamboo_value      opaque<1024>
//	bamboo_placemark  opaque<100>
//	bamboo_stat       enum { BAMBOO_OK = 0, BAMBOO_CAP = 1, BAMBOO_AGAIN = 2 }
//	bamboo_hash       { string algorithm<20>; opaque hash<40> }
//
//	bamboo_get_args   { string application<255>; string client_library<255>;
//	                    bamboo_key key; int maxvals; bamboo_placemark placemark }
//
// Version 2, the first public interface (NULL = 1, PUT = 2, GET = 3):
//
//	PUT  bamboo_put_args { string application<255>; string client_library<255>;
//	                       bamboo_key key; bamboo_value value; int ttl_sec }
//	     -> bamboo_stat
//	GET  bamboo_get_args -> bamboo_get_res { bamboo_value values<>;
//	                                         bamboo_placemark placemark }
//
// Version 2 had a remove once; the original withdrew it, and so procedure 4
// of version 2 is PROC_UNAVAIL here too.
//
// Version 3 (NULL = 1, PUT = 2, GET = 3, RM = 4):
//
//	PUT  bamboo_put_arguments { string application<255>; string client_library<255>;
//	                            bamboo_key key; bamboo_value value;
//	                            bamboo_hash secret_hash; int ttl_sec }
//	     -> bamboo_stat                       (the secret hash comes before the TTL)
//	GET  bamboo_get_args -> bamboo_get_result { bamboo_get_value values<>;
//	                                            bamboo_placemark placemark }
//	     bamboo_get_value { bamboo_value value; int ttl_sec_rem; bamboo_hash secret_hash }
//	RM   bamboo_rm_arguments { string application<255>; string client_library<255>;
//	                           bamboo_key key; bamboo_hash value_hash;
//	                           string secret_hash_alg<20>; opaque secret<40>; int ttl_sec }
//	     -> bamboo_stat
//
// A put's secret hash is empty for a plain put (PUT-2) and ("SHA", the 20
// bytes of SHA-1(secret)) for a removable one; a get reports it the same
// way (GET-5). An rm's value hash is ("SHA", SHA-1(value)). An empty
// placemark in a reply means there is no more (GET-4); a client passes the
// placemark back to read on. A version 2 get returns the same values as a
// version 3 get, without their details.
//
// # Answers
//
// PUT and RM return the status enum (0 success, 1 over capacity, 2 try
// again, ST-1). The RPC layer answers the rest:
//   - a version other than 2 or 3: PROG_MISMATCH, naming low 2 and high 3;
//   - a procedure the version does not have: PROC_UNAVAIL;
//   - arguments that do not decode or break a bound: GARBAGE_ARGS;
//   - a call to another program: PROG_UNAVAIL; RPC version other than 2:
//     denied with RPC_MISMATCH (2, 2); a credential flavor other than
//     AUTH_NONE and AUTH_SYS (both accepted and ignored): denied with
//     AUTH_ERROR/AUTH_BADCRED.
//
// After any of these the connection stays open and serves the next call.
//
// # Decisions where the original interface is silent (ours)
//
//   - The status enum has no code for a bad request, so every invalid
//     argument is GARBAGE_ARGS: undecodable XDR, a value, name, hash or
//     placemark beyond its bound (LIM-2..LIM-5), a secret hash algorithm
//     other than SHA-1's, a put secret hash that is neither empty nor 20
//     non-zero bytes, a value hash that is not 20 bytes, a TTL or maxvals
//     that is not positive (LIM-6), and a placemark this node did not
//     issue. A Backend failure that is not a validation error (a timeout,
//     shutdown) is SYSTEM_ERR.
//   - SHA-1 may be named "SHA" (what every original client sends) or
//     "SHA1" (which the original interface definition also names). A plain
//     put's empty secret hash may name any algorithm, or none: clients did
//     both, and the original looked only at the hash. An rm's value hash
//     may leave its algorithm empty.
//   - Procedure 0, the standard ONC RPC ping, is answered as NULL in both
//     versions.
//   - A record larger than Config.MaxRecordSize (checked from each fragment
//     header, before its bytes are read), a message that is not a call, or
//     a read timeout closes the connection without a reply: the byte stream
//     cannot be trusted after it.
//   - The XDR codec is written here rather than taken from a library: every
//     length is checked against its declared bound and the bytes left
//     before anything is allocated, padding must be zero and trailing bytes
//     are refused, so a decoded value re-encodes to the same bytes. The
//     layout above is pinned by golden encodings (TestWireLayout) and
//     checked against a C client generated by rpcgen from an interface
//     definition written from it (testdata/rpcgen).
//
// The client a write is charged to is the connection's remote IP address
// (dht.ClientID, FST-5). Calls on one connection are answered in order, one
// at a time; connections are served concurrently.
package sunrpc
