// Package arch holds the architecture's import rules as a test: which of
// tcplab's packages each package may import (the table of docs/design.md).
// It has no code of its own.
package arch
