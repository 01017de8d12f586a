package netem

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are bind-mounted, as iproute2 does.
var NetnsDir = "/run/netns"

// Do runs fn on a fresh OS thread that has entered the network namespace
// target, then restores the thread's namespace. This is the only place in
// tcplab that switches a thread's namespace. If the namespace cannot be
// restored, the thread stays locked and its goroutine ends, so the Go runtime
// throws the thread away instead of reusing it in the wrong namespace.
// Processes started by fn (exec.Cmd.Start) are created inside target.
func Do(target netns.NsHandle, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(target); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", target, err)
		}
		return nil
	}, fn)
}

// DoNew runs fn on a thread inside a new, anonymous network namespace that
// disappears when fn returns. The probes of `tcplab doctor` use it.
func DoNew(fn func() error) error {
	return onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("create network namespace (unshare CLONE_NEWNET): %w", err)
		}
		return nil
	}, fn)
}

// onThread locks a fresh goroutine to its thread, enters a namespace with
// enter, runs fn and restores the thread's original namespace.
func onThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("read current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := enter(); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("restore network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// createNamed creates a network namespace bind-mounted at NetnsDir/name and
// returns an open handle to it. On failure it leaves nothing behind.
func createNamed(name string) (netns.NsHandle, error) {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return netns.None(), fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	path := filepath.Join(NetnsDir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return netns.None(), fmt.Errorf("create namespace file %s: %w", path, err)
	}
	f.Close()
	err = DoNew(func() error {
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mount namespace at %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(path)
		return netns.None(), fmt.Errorf("create network namespace %s: %w", name, err)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		deleteNamed(name)
		return netns.None(), fmt.Errorf("open network namespace %s: %w", name, err)
	}
	return h, nil
}

// deleteNamed unmounts and removes a named namespace. The namespace itself
// (and the links in it) goes away when its last process and handle are gone.
func deleteNamed(name string) error {
	path := filepath.Join(NetnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
