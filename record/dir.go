package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrNotEmpty is returned by Create for an existing directory that holds
// files: a run directory is tcplab's own.
var ErrNotEmpty = errors.New("exists and is not empty")

// ErrSymlink is returned for a directory or file that is a symbolic link.
var ErrSymlink = errors.New("is a symbolic link (tcplab writes run directories only through paths it created)")

// ErrTooLarge is returned by the bounded readers.
var ErrTooLarge = errors.New("too large")

// Dir is a run directory opened by tcplab: every file operation goes
// through its descriptor, with one path component and O_NOFOLLOW.
type Dir struct {
	// Path is the directory as the user named it.
	Path string
	fd   int
}

// Create makes the run directory path: it must not exist, or be an empty
// directory (not a link to one). Missing parents are created.
func Create(path string) (*Dir, error) {
	clean := filepath.Clean(path)
	if parent := filepath.Dir(clean); parent != "." {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("create run directory %s: %w", path, err)
		}
	}
	created := true
	if err := unix.Mkdir(clean, 0o755); err != nil {
		if !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create run directory %s: %w", path, err)
		}
		created = false
	}
	d, err := open(clean, path)
	if err != nil {
		return nil, err
	}
	if !created {
		names, err := d.names()
		if err != nil {
			d.Close()
			return nil, err
		}
		if len(names) > 0 {
			d.Close()
			return nil, fmt.Errorf("run directory %s %w (it holds %s): name a new or empty directory", path, ErrNotEmpty, firstNames(names, 3))
		}
	}
	return d, nil
}

// Open opens an existing run directory (for tcplab report): it must be a
// directory, not a link to one.
func Open(path string) (*Dir, error) { return open(filepath.Clean(path), path) }

func open(clean, path string) (*Dir, error) {
	fd, err := unix.Open(clean, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("run directory %s %w", path, ErrSymlink)
		}
		if errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Lstat(clean, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return nil, fmt.Errorf("run directory %s %w", path, ErrSymlink)
			}
			return nil, fmt.Errorf("run directory %s is not a directory", path)
		}
		return nil, fmt.Errorf("open run directory %s: %w", path, &os.PathError{Op: "open", Path: path, Err: err})
	}
	return &Dir{Path: path, fd: fd}, nil
}

// Close releases the directory's descriptor.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// Join is the path of name in the directory (for messages and for
// programs that are told where to write).
func (d *Dir) Join(name string) string { return filepath.Join(d.Path, name) }

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q is not a file name of a run directory", name)
	}
	return nil
}

// Create creates the new file name (O_EXCL: it must not exist yet).
func (d *Dir) Create(name string) (*os.File, error) {
	return d.openFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
}

// CreateAppend creates the new file name for appending (O_APPEND: lines
// written whole by several processes land whole).
func (d *Dir) CreateAppend(name string) (*os.File, error) {
	return d.openFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_APPEND, 0o644)
}

// Open opens name for reading; it must be a regular file, not a link.
func (d *Dir) Open(name string) (*os.File, error) {
	f, err := d.openFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", d.Join(name))
	}
	return f, nil
}

func (d *Dir) openFile(name string, flags int, perm uint32) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd, name, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s %w", d.Join(name), ErrSymlink)
		}
		return nil, &os.PathError{Op: "open", Path: d.Join(name), Err: err}
	}
	// O_NONBLOCK only kept a FIFO from blocking the open; files block.
	unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), d.Join(name)), nil
}

// ReadFile reads name whole, refusing links, non-regular files and files
// larger than limit bytes.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.Join(name), err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is %w: more than %d bytes", d.Join(name), ErrTooLarge, limit)
	}
	return b, nil
}

// WriteFile writes name whole: a new file is created, an existing regular
// file is replaced (written beside it and renamed over it, so a reader
// never sees half of it); an existing link or other kind of file is
// refused.
func (d *Dir) WriteFile(name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	var st unix.Stat_t
	switch err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return fmt.Errorf("write %s: %w", d.Join(name), ErrSymlink)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return fmt.Errorf("write %s: not a regular file", d.Join(name))
		}
	case !errors.Is(err, unix.ENOENT):
		return &os.PathError{Op: "stat", Path: d.Join(name), Err: err}
	}
	tmp := fmt.Sprintf(".%s.%d.tmp", name, os.Getpid())
	f, err := d.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Join(name), err)
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return fmt.Errorf("write %s: %w", d.Join(name), err)
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, name); err != nil {
		unix.Unlinkat(d.fd, tmp, 0)
		return &os.PathError{Op: "rename", Path: d.Join(name), Err: err}
	}
	return nil
}

// Mkdir creates the new subdirectory name (a sweep's point) and returns
// its path; it is opened and written by its own Create.
func (d *Dir) Mkdir(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if err := unix.Mkdirat(d.fd, name, 0o755); err != nil {
		return "", &os.PathError{Op: "mkdir", Path: d.Join(name), Err: err}
	}
	return d.Join(name), nil
}

// Rename renames the entry old to new, both inside the directory (a
// sweep's point kept aside before it runs again).
func (d *Dir) Rename(old, new string) error {
	for _, n := range []string{old, new} {
		if err := checkName(n); err != nil {
			return err
		}
	}
	if err := unix.Renameat(d.fd, old, d.fd, new); err != nil {
		return &os.PathError{Op: "rename", Path: d.Join(old), Err: err}
	}
	return nil
}

// names lists the directory's entries.
func (d *Dir) names() ([]string, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.Path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.Path)
	defer f.Close()
	return f.Readdirnames(-1)
}

func firstNames(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}
