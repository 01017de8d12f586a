package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tcplab/tcplab/report"
	"github.com/tcplab/tcplab/scenario"
)

// Expectations reads s's expectations with report's grammar and gives each
// timeline[N].verdict the span of that entry; each problem names the file,
// line and column of its expectation.
func Expectations(s *scenario.Scenario) ([]report.Expect, error) {
	var errs scenario.Errors
	out := make([]report.Expect, 0, len(s.Expect))
	for i, src := range s.Expect {
		bad := func(format string, args ...any) {
			errs = append(errs, &scenario.FieldError{Pos: src.Pos(), Path: fmt.Sprintf("expect[%d]", i), Msg: fmt.Sprintf(format, args...)})
		}
		e, err := report.ParseExpect(src.Source)
		if err != nil {
			bad("%v", err)
			continue
		}
		if e.Entry >= 0 {
			if e.Entry >= len(s.Timeline) {
				bad("%q: the scenario has %d timeline entries (timeline[0]..timeline[%d])", e.Source, len(s.Timeline), len(s.Timeline)-1)
				continue
			}
			tl := s.Timeline[e.Entry]
			e.From = time.Duration(tl.At).Seconds()
			e.To = time.Duration(s.Duration).Seconds()
			if tl.For != nil {
				e.To = min(e.To, time.Duration(tl.At+*tl.For).Seconds())
			}
		}
		out = append(out, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// Check is what validate and run check beyond the file's own rules: the
// expectations (report's grammar) and the programs on this host. Each
// problem names the file, line and column.
func Check(s *scenario.Scenario) error {
	var errs scenario.Errors
	for _, err := range []error{expectationsErr(s), CheckPrograms(s)} {
		var fe scenario.Errors
		if errors.As(err, &fe) {
			errs = append(errs, fe...)
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func expectationsErr(s *scenario.Scenario) error {
	_, err := Expectations(s)
	return err
}

// CheckSweep checks every point of sw (each problem once).
func CheckSweep(sw *scenario.Sweep) error {
	var errs scenario.Errors
	seen := map[string]bool{}
	for _, p := range sw.Points {
		var pe scenario.Errors
		if err := Check(p.Scenario); errors.As(err, &pe) {
			for _, e := range pe {
				if !seen[e.Error()] {
					seen[e.Error()] = true
					errs = append(errs, e)
				}
			}
		} else if err != nil {
			return err
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
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
func CheckPrograms(s *scenario.Scenario) error {
	var errs scenario.Errors
	for _, x := range []struct {
		role string
		e    *scenario.Exec
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
			errs = append(errs, &scenario.FieldError{Pos: x.e.CommandPos(), Path: x.role + ".exec.command", Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
