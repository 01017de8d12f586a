package netem

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/tcplab/tcplab/netem/impair"
)

// fakeKernel answers rtnetlink qdisc requests as a kernel would, on any
// machine: it keeps the root qdisc it was given per interface and can lack
// sch_netem or change what it stores.
type fakeKernel struct {
	noNetem bool                      // answer RTM_NEWQDISC for netem with ENOENT
	alter   func(o *NetemOptions)     // what the kernel changes in the stored options
	delErr  int                       // errno for RTM_DELQDISC (0: ok)
	flags   []netlink.HeaderFlags     // of each RTM_NEWQDISC
	qdiscs  map[uint32][2]interface{} // ifindex → kind, options
}

func (k *fakeKernel) serve(t *testing.T) func(req []netlink.Message) ([]netlink.Message, error) {
	return func(req []netlink.Message) ([]netlink.Message, error) {
		m := req[0]
		ifindex := binary.NativeEndian.Uint32(m.Data[4:])
		switch m.Header.Type {
		case unix.RTM_NEWQDISC:
			k.flags = append(k.flags, m.Header.Flags)
			ad, err := netlink.NewAttributeDecoder(m.Data[20:])
			if err != nil {
				t.Fatal(err)
			}
			var kind string
			var opts []byte
			for ad.Next() {
				switch ad.Type() {
				case tcaKind:
					kind = ad.String()
				case tcaOptions:
					opts = ad.Bytes()
				}
			}
			if kind == "netem" && k.noNetem {
				return nltest.Error(int(unix.ENOENT), req)
			}
			o, err := DecodeNetemOptions(opts)
			if err != nil {
				return nltest.Error(int(unix.EINVAL), req)
			}
			if k.alter != nil {
				k.alter(&o)
			}
			if k.qdiscs == nil {
				k.qdiscs = map[uint32][2]interface{}{}
			}
			k.qdiscs[ifindex] = [2]interface{}{kind, o}
			return nltest.Error(0, req)
		case unix.RTM_GETQDISC:
			var out []netlink.Message
			for idx, q := range k.qdiscs {
				o := q[1].(NetemOptions)
				b, err := o.Encode()
				if err != nil {
					t.Fatal(err)
				}
				ae := netlink.NewAttributeEncoder()
				ae.String(tcaKind, q[0].(string))
				ae.Bytes(tcaOptions, b)
				attrs, err := ae.Encode()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, netlink.Message{Header: netlink.Header{Type: unix.RTM_NEWQDISC, Sequence: m.Header.Sequence, PID: nltest.PID}, Data: append(tcmsg(idx, 0x10000, handleRoot), attrs...)})
			}
			return nltest.Multipart(out)
		case unix.RTM_DELQDISC:
			if k.delErr != 0 {
				return nltest.Error(k.delErr, req)
			}
			delete(k.qdiscs, ifindex)
			return nltest.Error(0, req)
		}
		t.Fatalf("unexpected request type %d", m.Header.Type)
		return nil, nil
	}
}

var fakeImpairment = impair.Impairment{Delay: 25 * time.Millisecond, Jitter: 2 * time.Millisecond, Distribution: impair.Normal, Loss: 0.01, Duplicate: 0.001, RateBits: 20e6, Limit: 5000, Seed: 7}

// TestApplyNetemRequest: the request replaces the root qdisc (create,
// replace, acknowledged) with netem carrying what was asked, and a kernel
// that stores it as asked passes the read-back.
func TestApplyNetemRequest(t *testing.T) {
	k := &fakeKernel{}
	c := nltest.Dial(k.serve(t))
	defer c.Close()
	if err := applyNetemOn(c, "veth-test", 7, fakeImpairment); err != nil {
		t.Fatal(err)
	}
	want := netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Replace
	if len(k.flags) != 1 || k.flags[0] != want {
		t.Errorf("RTM_NEWQDISC flags %v, want %v", k.flags, want)
	}
	q, ok := k.qdiscs[7]
	if !ok || q[0] != "netem" {
		t.Fatalf("the kernel holds %v on ifindex 7", k.qdiscs)
	}
	asked, err := NetemFor(fakeImpairment)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameNetem(asked, q[1].(NetemOptions)); err != nil {
		t.Errorf("stored options: %v", err)
	}
}

// TestApplyNetemReadBackMismatch: a kernel that stores something else than
// was asked (here: no loss) fails the apply, naming the field.
func TestApplyNetemReadBackMismatch(t *testing.T) {
	k := &fakeKernel{alter: func(o *NetemOptions) { o.Loss = 0 }}
	c := nltest.Dial(k.serve(t))
	defer c.Close()
	err := applyNetemOn(c, "veth-test", 7, fakeImpairment)
	if err == nil || !strings.Contains(err.Error(), "differs from what was asked") || !strings.Contains(strings.ToLower(err.Error()), "loss") {
		t.Errorf("read-back mismatch: %v", err)
	}
}

// TestApplyNetemNoModule: a kernel without sch_netem gets the message that
// says so and what to use instead.
func TestApplyNetemNoModule(t *testing.T) {
	k := &fakeKernel{noNetem: true}
	c := nltest.Dial(k.serve(t))
	defer c.Close()
	err := applyNetemOn(c, "veth-test", 7, fakeImpairment)
	if err == nil || !strings.Contains(err.Error(), "the kernel has no sch_netem") || !strings.Contains(err.Error(), "link.backend: userspace") || !errors.Is(err, unix.ENOENT) {
		t.Errorf("no sch_netem: %v", err)
	}
}

// TestDeleteRootQdisc: removing a qdisc that is not there is fine; any
// other refusal is an error.
func TestDeleteRootQdisc(t *testing.T) {
	for _, c := range []struct {
		errno int
		ok    bool
	}{{0, true}, {int(unix.ENOENT), true}, {int(unix.EINVAL), true}, {int(unix.EPERM), false}} {
		k := &fakeKernel{delErr: c.errno}
		conn := nltest.Dial(k.serve(t))
		err := deleteRootQdiscOn(conn, "veth-test", 7)
		conn.Close()
		if (err == nil) != c.ok {
			t.Errorf("errno %d: %v", c.errno, err)
		}
	}
}
