// Package repocheck holds repository-wide checks that run with the tests:
// every package documents itself.
package repocheck
