// Package lint holds the project's architecture rules, written as tests:
// which packages may import which: the vocabulary (impl/dht) is a leaf that
// both the model and the node import, and neither imports the other. It
// has no code.
package lint
