// Package redir is ReDiR, recursive distributed rendezvous: a client
// library that gives applications the lookup interface of a DHT,
// lookup(namespace, key) -> the member of the namespace whose ID succeeds
// key, built only on the put, get and remove of the public DHT (through
// impl/client, or any implementation of DHT). Applications run no DHT code
// and the DHT knows nothing of ReDiR. The rules it keeps are spec/SPEC.md
// section 14 (RZ-1..RZ-9); the oracle it is checked against is
// model/redir.go.
//
// # The tree
//
// The 160-bit ID space is covered by a tree with branching factor b (a
// power of two, 2 by default, as in the paper) and L levels. Tree node
// (l, j) covers the j-th of b^l equal intervals and is stored under the DHT
// key SHA-1("redir", namespace, l, j); its values are member records (the
// member's ID and a payload such as its address), each a removable put with
// a TTL: soft state that members refresh and that dies with them.
//
// A member with ID m registers (Register, then Refresh periodically):
//
//   - at the start level l0 it puts its record unconditionally, so the node
//     (l0, j) holds every member of its interval (RZ-2);
//   - going up, it puts its record at level l-1 while it is the lowest or
//     highest ID among the records of the node it just wrote at level l, so
//     every node holds the lowest and highest member of each of its b
//     sub-intervals (RZ-3);
//   - going down, it puts its record at every level below l0 at which its
//     interval still holds another member it saw at l0, so a node below l0
//     whose interval holds two members or more holds all of them (RZ-4).
//
// A lookup of key k fetches the node covering k at a start level (the level
// the namespace's previous lookup ended at; the configured start level at
// first). If k's sub-interval holds records on both sides of k, the
// successor is among members the node may not list: it goes down a level.
// Otherwise, if the node holds a record at or after k, the closest is the
// successor. Otherwise it goes up a level; at the root it wraps to the
// lowest ID. It never fetches the same level twice, so a lookup costs at
// most L gets, usually one or two (RZ-5..RZ-7). Predecessor is the mirror.
//
// Records are soft state: a departed member that did not Leave is listed
// until its records expire, and a record lost by the DHT comes back at the
// owner's next refresh. Lookups are exact once the namespace and the DHT
// have been quiet for two refresh periods and the records of departed
// members have expired or been removed (RZ-8); until then a lookup returns
// a member that registered, not necessarily the successor (RZ-9).
//
// The DHT interface has two implementations: the real one over the Go
// client (NewClientDHT) and Sim, an in-memory DHT that loses values when
// its nodes churn and delays puts, for tests and the figures.
package redir
