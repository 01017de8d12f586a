// Command sender is a stand-in for a user's program in exec tests: it
// connects to $TCPLAB_RECEIVER_ADDR:$TCPLAB_PORT and writes as fast as it
// can until $TCPLAB_DURATION has passed or it gets SIGTERM.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	d, err := time.ParseDuration(os.Getenv("TCPLAB_DURATION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "TCPLAB_DURATION:", err)
		os.Exit(2)
	}
	deadline := time.Now().Add(d)
	addr := net.JoinHostPort(os.Getenv("TCPLAB_RECEIVER_ADDR"), os.Getenv("TCPLAB_PORT"))
	var c net.Conn
	for c == nil && time.Now().Before(deadline) {
		if c, err = net.Dial("tcp", addr); err != nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if c == nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() { <-term; c.Close(); os.Exit(0) }()
	c.SetWriteDeadline(deadline)
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := c.Write(buf)
		n += int64(k)
		if err != nil {
			break
		}
	}
	fmt.Printf("sent %d bytes\n", n)
}
