// Command receiver is a stand-in for a user's program in exec tests: it
// listens on $TCPLAB_RECEIVER_ADDR:$TCPLAB_PORT, accepts one connection and
// reads it at -rate bytes/s (0: as fast as it comes) until SIGTERM.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	rate := flag.Float64("rate", 0, "bytes per second to read (0: no limit)")
	size := flag.Int("size", 16<<10, "bytes per read")
	flag.Parse()
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("TCPLAB_RECEIVER_ADDR"), os.Getenv("TCPLAB_PORT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() { <-term; os.Exit(0) }()
	c, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf := make([]byte, *size)
	start := time.Now()
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if err != nil {
			fmt.Printf("read %d bytes\n", n)
			return
		}
		if *rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(n) / *rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
	}
}
