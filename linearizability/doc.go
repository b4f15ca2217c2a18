// Package linearizability will hold the porcupine models, the history
// recorder and the checks of the read-modify-write extension. It is empty
// until that extension exists; only tests and this package may import both
// the model and the implementation.
package linearizability
