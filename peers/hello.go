package peers

import (
	"encoding/binary"
	"fmt"
	"io"
)

// helloSize is the size of the hello a receiver sends first on every
// connection when both ends are built-in peers: "TLH1", u32 connection id,
// u32 client index, u32 flags (bit 0: resume), u64 resume point (the next
// sequence number the client has not seen). Little-endian.
const helloSize = 24

var helloMagic = [4]byte{'T', 'L', 'H', '1'}

// hello is what a client says about itself when it connects.
type hello struct {
	Conn   int
	Client int
	Resume bool
	From   uint64
}

func (h hello) put(b []byte) {
	copy(b, helloMagic[:])
	binary.LittleEndian.PutUint32(b[4:], uint32(h.Conn))
	binary.LittleEndian.PutUint32(b[8:], uint32(h.Client))
	var fl uint32
	if h.Resume {
		fl = 1
	}
	binary.LittleEndian.PutUint32(b[12:], fl)
	binary.LittleEndian.PutUint64(b[16:], h.From)
}

func readHello(r io.Reader) (hello, error) {
	var b [helloSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return hello{}, fmt.Errorf("read the client's hello: %w", err)
	}
	if [4]byte(b[:4]) != helloMagic {
		return hello{}, fmt.Errorf("the client's hello starts with %q, not %q", b[:4], helloMagic[:])
	}
	return hello{
		Conn:   int(binary.LittleEndian.Uint32(b[4:])),
		Client: int(binary.LittleEndian.Uint32(b[8:])),
		Resume: binary.LittleEndian.Uint32(b[12:])&1 != 0,
		From:   binary.LittleEndian.Uint64(b[16:]),
	}, nil
}
