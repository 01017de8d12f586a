package scenario

import (
	"strings"
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

// ExpandExecVars replaces ${NAME} for the names in vars and leaves every
// other byte as written: $HOME, $$, ${u}, "${args[@]}" reach the program.
func ExpandExecVars(s string, vars map[string]string) string {
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

// CommandPos is where the exec command is written in its file.
func (e *Exec) CommandPos() Pos { return e.commandAt }
