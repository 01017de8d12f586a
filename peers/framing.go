package peers

import (
	"encoding/binary"
	"fmt"
)

// HeaderSize is the size of a message header: u32 length of the whole
// message, u64 sequence number, i64 send time (ns since the run's start on the
// monotonic clock). All little-endian.
const HeaderSize = 20

// MinMessageSize is the smallest message: a header alone.
const MinMessageSize = HeaderSize

// MaxMessageSize bounds a message so that a corrupt length is caught.
const MaxMessageSize = 16 << 20

// PutHeader writes a message header into b[:HeaderSize].
func PutHeader(b []byte, size uint32, seq uint64, sent int64) {
	binary.LittleEndian.PutUint32(b[0:], size)
	binary.LittleEndian.PutUint64(b[4:], seq)
	binary.LittleEndian.PutUint64(b[12:], uint64(sent))
}

// Message is what the Deframer reports for each complete header.
type Message struct {
	Size uint32
	Seq  uint64
	Sent int64
}

// Deframer splits a byte stream into messages across arbitrary read
// boundaries without allocating.
type Deframer struct {
	hdr  [HeaderSize]byte
	have int     // header bytes collected
	skip uint32  // payload bytes still to skip
	cur  Message // the message whose payload is being skipped
}

// Feed consumes b and calls fn for every message whose last byte is in it
// (a message cut short by a disconnect is never reported).
func (d *Deframer) Feed(b []byte, fn func(Message)) error {
	for len(b) > 0 {
		if d.skip > 0 {
			n := uint32(len(b))
			if n > d.skip {
				n = d.skip
			}
			d.skip -= n
			b = b[n:]
			if d.skip == 0 {
				fn(d.cur)
			}
			continue
		}
		n := copy(d.hdr[d.have:], b)
		d.have += n
		b = b[n:]
		if d.have < HeaderSize {
			return nil
		}
		d.have = 0
		m := Message{
			Size: binary.LittleEndian.Uint32(d.hdr[0:]),
			Seq:  binary.LittleEndian.Uint64(d.hdr[4:]),
			Sent: int64(binary.LittleEndian.Uint64(d.hdr[12:])),
		}
		if m.Size < HeaderSize || m.Size > MaxMessageSize {
			return fmt.Errorf("corrupt stream: message length %d outside %d..%d (seq field %d)", m.Size, HeaderSize, MaxMessageSize, m.Seq)
		}
		d.skip = m.Size - HeaderSize
		if d.skip == 0 {
			fn(m)
		} else {
			d.cur = m
		}
	}
	return nil
}
