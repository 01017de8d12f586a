package record

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tcplab/tcplab/tcpinfo"
)

// ReadSamples reads a samples.jsonl, or a samples.jsonl.gz (a name ending
// in .gz is read through gzip).
func ReadSamples(path string) ([]tcpinfo.Sample, error) {
	r, closeFile, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	return DecodeSamples(r, path)
}

// openMaybeGzip opens path, through gzip when its name ends in .gz.
func openMaybeGzip(path string) (io.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, func() { f.Close() }, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return zr, func() { zr.Close(); f.Close() }, nil
}

// DecodeSamples reads the lines of a samples.jsonl; name is the file's
// name in errors.
func DecodeSamples(r io.Reader, name string) ([]tcpinfo.Sample, error) {
	var out []tcpinfo.Sample
	err := readLines(r, name, func(b []byte) error {
		var s tcpinfo.Sample
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// ReadEvents reads events.jsonl.
func ReadEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return DecodeEvents(f, path)
}

// DecodeEvents reads the lines of an events.jsonl; name is the file's name
// in errors.
func DecodeEvents(r io.Reader, name string) ([]Event, error) {
	var out []Event
	err := readLines(r, name, func(b []byte) error {
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// MaxLine is the longest line the run directory's readers accept; tcplab's
// own lines are a few KiB at most.
const MaxLine = 1 << 20

// readLines calls fn with each non-empty line of r; an error names the file
// and the line.
func readLines(r io.Reader, name string, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: line longer than %d bytes (the limit of a run directory's lines)", name, line+1, MaxLine)
		}
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return nil
}

// DecodeConns reads the lines of a connections.jsonl; name is the file's
// name in errors.
func DecodeConns(r io.Reader, name string) ([]WireConn, error) {
	var out []WireConn
	err := readLines(r, name, func(b []byte) error {
		var c WireConn
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	return out, err
}
