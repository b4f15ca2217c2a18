// Package lint holds the project's architecture rules, written as tests:
// which packages may import which (STYLE.md practice 2). It has no code.
package lint
