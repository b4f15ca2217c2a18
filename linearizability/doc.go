// Package linearizability holds the consistency checkers that histories
// recorded from real and simulated clusters are held to: CheckEventual for
// the eventually consistent put/get/remove of the DHT (no phantom, no
// expired value, no resurrection, no lost acknowledged put), and, with the
// read-modify-write extension, porcupine models of linearizability.
//
// It is the one non-test package besides tests that may depend on both the
// model and the implementation.
package linearizability
