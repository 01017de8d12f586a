package netem

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// RootlessEnv, set in a process's environment, says it runs inside the
// user + mount + network namespace RunRootless made, and names the private
// directory holding its namespace files and address slots.
const RootlessEnv = "TCPLAB_ROOTLESS"

// Rootless reports whether this process runs inside RunRootless's
// namespaces.
func Rootless() bool { return os.Getenv(RootlessEnv) != "" }

// EnterRootless points the lab's state at the private directory when this
// process runs inside RunRootless's namespaces (its children inherit the
// environment and call it too). Outside, it does nothing.
func EnterRootless() {
	dir := os.Getenv(RootlessEnv)
	if dir == "" {
		return
	}
	NetnsDir = filepath.Join(dir, "netns")
	StateDir = filepath.Join(dir, "state")
}

// RootlessCheck says whether this host lets an unprivileged user create a
// user namespace with a network namespace in it, and if not, why and what
// to do. It starts a short-lived child in such namespaces to be sure.
func RootlessCheck() error {
	if err := rootlessSysctls(); err != nil {
		return err
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return fmt.Errorf("find true(1) to try a user namespace: %w", err)
	}
	cmd := exec.Command(truePath)
	cmd.SysProcAttr = userNSAttr()
	if err := cmd.Run(); err != nil {
		return userNSForbidden(err)
	}
	return nil
}

// rootlessSysctls reads the settings that turn unprivileged user
// namespaces off, and names the one to change.
func rootlessSysctls() error {
	for _, k := range []struct{ file, bad, fix string }{
		{"/proc/sys/kernel/unprivileged_userns_clone", "0", "sudo sysctl -w kernel.unprivileged_userns_clone=1"},
		{"/proc/sys/user/max_user_namespaces", "0", "sudo sysctl -w user.max_user_namespaces=15000"},
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for tcplab allowing userns)"},
	} {
		b, err := os.ReadFile(k.file)
		if err == nil && strings.TrimSpace(string(b)) == k.bad {
			return fmt.Errorf("%s is %s: unprivileged user namespaces are off; to allow them: %s — or run tcplab as root (sudo)", k.file, k.bad, k.fix)
		}
	}
	return nil
}

func userNSForbidden(err error) error {
	return fmt.Errorf("cannot create a user namespace with a network namespace in it (%v): the host forbids it (a container without CLONE_NEWUSER, seccomp, or a sysctl); run tcplab as root (sudo)", err)
}

func userNSAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Cloneflags:                 unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
		Pdeathsig:                  unix.SIGKILL,
	}
}

// RunRootless runs this executable again with args inside a new user,
// mount and network namespace, in which this unprivileged user is root: the
// lab's namespaces live inside it, its namespace files in a private
// directory removed afterwards, and everything goes when the child exits
// (also when it is killed). SIGINT and SIGTERM are passed on. It returns
// the child's exit code.
func RunRootless(args []string) (int, error) {
	if err := rootlessSysctls(); err != nil {
		return 2, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 2, fmt.Errorf("find own executable: %w", err)
	}
	dir, err := os.MkdirTemp("", rootlessDirPrefix)
	if err != nil {
		return 2, fmt.Errorf("private state directory: %w", err)
	}
	defer os.RemoveAll(dir)
	// Who owns the directory, so tcplab cleanup can remove it after a
	// kill -9 of this process (the child dies with it: Pdeathsig).
	st, err := procStartTime(os.Getpid())
	if err != nil {
		return 2, fmt.Errorf("read own start time: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, rootlessOwnerFile), []byte(owner{RunID: "rootless", PID: os.Getpid(), Start: st}.String()), 0o600); err != nil {
		return 2, fmt.Errorf("private state directory: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), RootlessEnv+"="+dir)
	cmd.SysProcAttr = userNSAttr()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 2, userNSForbidden(err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 2, err
	}
	return 0, nil
}

// rootlessDirPrefix starts the name of a rootless run's private directory
// in the temp directory; rootlessOwnerFile in it names the process.
const (
	rootlessDirPrefix = "tcplab-rootless-"
	rootlessOwnerFile = "owner"
)

// FindRootlessLeftovers lists the private directories of rootless runs
// whose tcplab process is gone (killed with -9), in the temp directory:
// those of the calling user (root: of every user). A directory whose owner
// record is missing counts once it is a minute old.
func FindRootlessLeftovers() ([]string, error) {
	tmp := os.TempDir()
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", tmp, err)
	}
	var out []string
	uid := os.Getuid()
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), rootlessDirPrefix) || !e.IsDir() {
			continue // a link or a file by that name is not ours
		}
		dir := filepath.Join(tmp, e.Name())
		var st unix.Stat_t
		if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if uid != 0 && int(st.Uid) != uid {
			continue
		}
		b, err := readNoFollow(filepath.Join(dir, rootlessOwnerFile), 4096)
		if err != nil {
			if time.Since(time.Unix(st.Mtim.Unix())) > time.Minute {
				out = append(out, dir)
			}
			continue
		}
		o, err := parseOwner(string(b))
		if err != nil || !o.alive() {
			out = append(out, dir)
		}
	}
	return out, nil
}

// RemoveRootlessLeftover removes a private directory FindRootlessLeftovers
// listed (links in it are removed, never followed).
func RemoveRootlessLeftover(dir string) error {
	if !strings.HasPrefix(filepath.Base(dir), rootlessDirPrefix) {
		return fmt.Errorf("%s is not a rootless run's directory", dir)
	}
	return os.RemoveAll(dir)
}

// readNoFollow reads a small file without following a link to it.
func readNoFollow(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
