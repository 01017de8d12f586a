package scenario

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// ExecVar is a variable tcplab gives a user's program: set in its
// environment and replaced where ${NAME} is written in exec.command, env
// and dir.
type ExecVar struct {
	Name string
	Doc  string
}

// ExecVars is every variable tcplab sets for a user's program; no other
// ${NAME} is replaced.
var ExecVars = []ExecVar{
	{"TCPLAB_SENDER_ADDR", "the sender's address in the lab (like 198.18.0.1)"},
	{"TCPLAB_RECEIVER_ADDR", "the receiver's address in the lab"},
	{"TCPLAB_PORT", "sender.port: the port the listening side listens on"},
	{"TCPLAB_DURATION", "the run's duration (like 10s)"},
	{"TCPLAB_ROLE", "sender or receiver: the side this program is"},
	{"TCPLAB_RUN_DIR", "the run directory (its stdout and stderr are written there)"},
}

func execVarList() string {
	names := make([]string, len(ExecVars))
	for i, v := range ExecVars {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

func isExecVar(name string) bool {
	for _, v := range ExecVars {
		if v.Name == name {
			return true
		}
	}
	return false
}

// replaceExecVars calls lookup for each ${TCPLAB_…} reference of s and
// puts its answer in place where it has one; every other byte stays.
func replaceExecVars(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "${TCPLAB_") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${TCPLAB_")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		if v, ok := lookup(s[i+2 : i+j]); ok {
			b.WriteString(s[:i])
			b.WriteString(v)
		} else {
			b.WriteString(s[:i+j+1])
		}
		s = s[i+j+1:]
	}
	b.WriteString(s)
	return b.String()
}

// expandExecVars replaces ${NAME} for the names in vars and leaves every
// other byte as written: $HOME, $$, ${u}, "${args[@]}" reach the program.
func expandExecVars(s string, vars map[string]string) string {
	return replaceExecVars(s, func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// unknownExecVar returns the first ${TCPLAB_…} name in s that tcplab does
// not set ("" if none): a typo would otherwise reach the program verbatim.
func unknownExecVar(s string) (unknown string) {
	replaceExecVars(s, func(name string) (string, bool) {
		if unknown == "" && !isExecVar(name) {
			unknown = name
		}
		return "", false
	})
	return unknown
}

// ErrProgram marks a program of exec.command that is missing or cannot be
// run.
var ErrProgram = errors.New("program cannot be run")

// programPath finds an exec program the way the run starts it: a name
// without a slash on PATH, a path from the directory tcplab runs in. It
// returns an absolute path.
func programPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrNotFound) && !strings.Contains(name, "/"):
		return "", fmt.Errorf("%w: %q is not on PATH (%s)", ErrProgram, name, os.Getenv("PATH"))
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%w: %s does not exist (a relative path is taken from the directory tcplab runs in)", ErrProgram, name)
	case errors.Is(err, syscall.EISDIR):
		return "", fmt.Errorf("%w: %s is a directory", ErrProgram, name)
	case errors.Is(err, os.ErrPermission):
		return "", fmt.Errorf("%w: %s is not executable (chmod +x it)", ErrProgram, name)
	default:
		return "", fmt.Errorf("%w: %s: %v", ErrProgram, name, err)
	}
	return filepath.Abs(p)
}

// CheckPrograms checks that every exec program of s exists and is
// executable, as the run would start it; each problem names the file, line
// and column of its command. Parse does not look at the host; validate
// and run call this.
func (s *Scenario) CheckPrograms() error {
	var errs Errors
	for _, x := range []struct {
		role string
		e    *Exec
	}{{"sender", s.Sender.Exec}, {"receiver", s.Receiver.Exec}} {
		if x.e == nil || len(x.e.Command) == 0 {
			continue
		}
		// The program's own name cannot hold a run's variables other than
		// the run directory, which does not exist yet.
		name := x.e.Command[0]
		if strings.Contains(name, "${TCPLAB_") {
			continue
		}
		if _, err := programPath(name); err != nil {
			errs = append(errs, &FieldError{Pos: x.e.commandAt, Path: x.role + ".exec.command", Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// CheckPrograms checks the exec programs of every point (each problem once).
func (sw *Sweep) CheckPrograms() error {
	var errs Errors
	seen := map[string]bool{}
	for _, p := range sw.Points {
		var pe Errors
		if err := p.Scenario.CheckPrograms(); errors.As(err, &pe) {
			for _, e := range pe {
				if !seen[e.Error()] {
					seen[e.Error()] = true
					errs = append(errs, e)
				}
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
