package userspace

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vnetHdrLen is the size of struct virtio_net_hdr (legacy, no num_buffers).
const vnetHdrLen = 10

// virtio_net_hdr fields.
const (
	vnetFlagNeedsCsum = 1
	gsoNone           = 0
	gsoTCPv4          = 1
	gsoECN            = 0x80
)

// OpenTUN creates the TUN device name in the calling thread's network
// namespace (call it inside netem.Do) with IFF_VNET_HDR and checksum/TSO4
// offloads, and returns its non-blocking file descriptor.
func OpenTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := ioctl(fd, unix.TUNSETIFF, unsafe.Pointer(ifr)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("create TUN %s: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set offloads on TUN %s: %w", name, err)
	}
	return fd, nil
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}
