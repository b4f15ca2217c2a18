// Package plant keeps the planted mistakes of the negative controls: a
// variant of a node, an overlay node, a store or a layer that a test
// switches on to prove that its checks can fail.
//
// What is planted is kept outside the planted-in struct, in a Table keyed
// by it, and only in builds with the build tag "variants" (make's tests
// set it). In every other build a Table is empty, Of answers the zero
// variant (a constant, so that every check of a flag compiles away) and
// Plant refuses: production binaries can switch no variant on.
package plant
