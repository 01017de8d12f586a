package peers

import (
	"errors"
	"io"
	"syscall"
	"testing"
)

// TestWriteEndTakesTheSocketsError: the socket's error goes to whichever of
// the server's read and write asks first; a write that finds the socket
// closed (EPIPE) reports the read's ETIMEDOUT or ECONNRESET instead, and
// stays EPIPE when the read saw only the end of the stream.
func TestWriteEndTakesTheSocketsError(t *testing.T) {
	for _, c := range []struct {
		name       string
		write, rd  error
		want       error
		readerDone bool
	}{
		{"user timeout seen by the read", syscall.EPIPE, syscall.ETIMEDOUT, syscall.ETIMEDOUT, true},
		{"reset seen by the read", syscall.EPIPE, syscall.ECONNRESET, syscall.ECONNRESET, true},
		{"the peer closed: EOF", syscall.EPIPE, io.EOF, syscall.EPIPE, true},
		{"no word from the read", syscall.EPIPE, nil, syscall.EPIPE, false},
		{"the write got the error itself", syscall.ETIMEDOUT, syscall.EPIPE, syscall.ETIMEDOUT, true},
	} {
		rerr := make(chan error, 1)
		if c.readerDone {
			rerr <- c.rd
		}
		if got := writeEnd(c.write, rerr); !errors.Is(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
