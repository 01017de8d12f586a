package scenario

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

// Pos is a place in a scenario file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// FieldError is one problem with a scenario file: where, which field, what.
type FieldError struct {
	Pos  Pos
	Path string // e.g. sender.socket.sndbuf
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
}

// Errors is every problem found in one file.
type Errors []*FieldError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// UnmarshalText keeps an expectation's text (the decoder reads it like a
// unit); report.ParseExpect reads the statement.
func (e *Expect) UnmarshalText(b []byte) error {
	e.Source = strings.TrimSpace(string(b))
	return nil
}

// MarshalText writes the expectation's source text.
func (e Expect) MarshalText() ([]byte, error) { return []byte(e.Source), nil }

type decoder struct {
	file string
	errs Errors
	pos  map[string]Pos
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Pos: Pos{d.file, n.Line, n.Column}, Path: path, Msg: fmt.Sprintf(format, args...)})
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName says whether s is accepted as a scenario's name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// MaxFileSize is the largest scenario file tcplab reads: real ones are a
// few KiB.
const MaxFileSize = 1 << 20

// MaxErrors is how many problems of one file are listed; more are counted.
const MaxErrors = 50

// Load reads, decodes strictly, defaults and validates the scenario in file.
func Load(file string) (*Scenario, error) {
	b, err := ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, b)
}

// ReadFile reads a scenario file: a regular file (or a link to one) of at
// most MaxFileSize bytes. A device, a FIFO or a directory is refused
// without reading from it.
func ReadFile(file string) ([]byte, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read scenario %s: not a regular file (%s); give a scenario file", file, fileKind(fi.Mode()))
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("read scenario %s: %d bytes; a scenario file is at most %d bytes (1 MiB)", file, fi.Size(), MaxFileSize)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", file, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("read scenario %s: more than %d bytes; a scenario file is at most 1 MiB", file, MaxFileSize)
	}
	return b, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// capErrors keeps the first MaxErrors problems and counts the rest.
func capErrors(es Errors) Errors {
	if len(es) <= MaxErrors {
		return es
	}
	more := len(es) - MaxErrors
	last := es[MaxErrors-1]
	return append(es[:MaxErrors:MaxErrors], &FieldError{Pos: last.Pos, Msg: fmt.Sprintf("… and %d more problems", more)})
}

// listLimits bounds the length of a scenario's lists, by field name; any
// other list holds at most defaultListLimit entries.
var listLimits = map[string]int{
	"expect":   256,
	"clients":  5000,
	"command":  4096,
	"timeline": 1000,
}

const defaultListLimit = 1000

// listField is the field name of a list's path: "receiver.client_overrides[2].stalls" → "stalls".
func listField(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '['); i >= 0 {
		path = path[:i]
	}
	return path
}

// Parse decodes, defaults and validates a scenario from its bytes; file names
// it in errors. Every problem is reported, each with file:line:col, the field
// path and what is accepted.
func Parse(file string, data []byte) (*Scenario, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	if k := mappingKey(root, "matrix"); k != nil {
		return nil, Errors{{Pos: Pos{file, k.Line, k.Column}, Path: "matrix", Msg: "this file is a sweep (it has a matrix): run it with tcplab run, which runs every point"}}
	}
	return parseNode(file, root)
}

// unclosedFlow finds a flow bracket ({ or [) of data left open when a
// line starts again at the left margin, or at the end; quoted text and
// comments are skipped. It is a hint for YAML that does not parse, not a
// parser.
func unclosedFlow(data []byte) (line, col int, open rune, ok bool) {
	type mark struct {
		line, col int
		r         rune
	}
	var stack []mark
	var quote rune // ' or " inside quoted text
	comment := false
	ln, c := 1, 0
	prev := '\n'
	for _, r := range string(data) {
		c++
		if r == '\n' {
			ln, c, comment, prev = ln+1, 0, false, r
			continue
		}
		if c == 1 && len(stack) > 0 && quote == 0 && r != ' ' && r != '\t' && r != '#' && r != '}' && r != ']' {
			// A new top-level line while a bracket is still open.
			return stack[0].line, stack[0].col, stack[0].r, true
		}
		switch {
		case comment:
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t' || prev == '\n'):
			comment = true
		case r == '{' || r == '[':
			stack = append(stack, mark{ln, c, r})
		case r == '}' || r == ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
		prev = r
	}
	if len(stack) > 0 {
		return stack[0].line, stack[0].col, stack[0].r, true
	}
	return 0, 0, 0, false
}

// parseYAML reads exactly one YAML document and returns its root node.
func parseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Pos: Pos{file, 1, 1}, Msg: "empty scenario file"}}
		}
		if line, col, open, ok := unclosedFlow(data); ok {
			// The parser reports where it gave up; the mistake is where
			// the bracket opened.
			return nil, Errors{{Pos: Pos{file, line, col}, Msg: fmt.Sprintf("not valid YAML: the %q opened here is never closed (the YAML parser: %s)", open, yamlErrMsg(err))}}
		}
		return nil, Errors{{Pos: yamlErrPos(file, err), Msg: "not valid YAML: " + yamlErrMsg(err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{Pos: Pos{file, extra.Line, extra.Column}, Msg: "more than one YAML document; a scenario file holds one"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return root, nil
}

// mappingValue returns the value node of the key called name in a mapping
// node (nil if none).
func mappingValue(n *yaml.Node, name string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i+1]
		}
	}
	return nil
}

// mappingKey returns the key node called name in a mapping node (nil if none).
func mappingKey(n *yaml.Node, name string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == name {
			return n.Content[i]
		}
	}
	return nil
}

// parseNode decodes, defaults and validates one scenario from its root node.
func parseNode(file string, root *yaml.Node) (*Scenario, error) {
	d := &decoder{file: file, pos: map[string]Pos{}}
	var s Scenario
	d.value(root, reflect.ValueOf(&s).Elem(), "")
	if len(d.errs) > 0 {
		return nil, capErrors(d.errs)
	}
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	s.ApplyDefaults(base)
	if errs := s.validate(d.pos, file); len(errs) > 0 {
		return nil, capErrors(errs)
	}
	if errs := s.loadTraces(d.pos, file); len(errs) > 0 {
		return nil, capErrors(errs)
	}
	return &s, nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrPos(file string, err error) Pos {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		l, _ := strconv.Atoi(m[1])
		return Pos{file, l, 1}
	}
	return Pos{file, 1, 1}
}

// yamlErrMsg is the parser's message without its "yaml: line N:" prefix
// (the position is given as file:line:col).
func yamlErrMsg(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringIndex(msg); m != nil && m[0] == 0 && strings.HasPrefix(msg[m[1]:], ": ") {
		msg = msg[m[1]+2:]
	}
	return msg
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// scalarType is what parses itself from one YAML value: the unit types and Expect.
var scalarType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// value decodes n into v, recording the position of path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if path != "" {
		d.pos[path] = Pos{d.file, n.Line, n.Column}
	}
	if n.Kind == yaml.AliasNode {
		d.fail(n, path, "YAML aliases are not supported in scenario files")
		return
	}
	if v.Kind() == reflect.Pointer {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			d.fail(n, path, "empty value; remove the field to use the default")
			return
		}
		nv := reflect.New(v.Type().Elem())
		d.value(n, nv.Elem(), path)
		v.Set(nv)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(scalarType) {
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "expected a single value, found %s", kindName(n.Kind))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "expected a list, found %s", kindName(n.Kind))
			return
		}
		limit, ok := listLimits[listField(path)]
		if !ok {
			limit = defaultListLimit
		}
		if len(n.Content) > limit {
			d.fail(n, path, "%d entries; a scenario's %s list holds at most %d", len(n.Content), listField(path), limit)
			return
		}
		sl := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, sl.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(sl)
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
			d.fail(n, path, "expected a mapping of names to text, found %s", kindName(n.Kind))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind != yaml.ScalarNode || val.Tag == "!!null" {
				d.fail(val, join(path, k.Value), "expected text, found %s", kindName(val.Kind))
				continue
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			d.fail(n, path, "expected text, found %s", kindName(n.Kind))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(n, path, "expected true or false, found %q", n.Value)
			return
		}
		v.SetBool(n.Value == "true")
	case reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "expected a whole number, found %q", n.Value)
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if err != nil {
			d.fail(n, path, "expected a whole number, found %q", n.Value)
			return
		}
		v.SetInt(i)
	default:
		d.fail(n, path, "internal: no decoder for %s", v.Type())
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		what := "the top level"
		if path != "" {
			what = path
		}
		d.fail(n, path, "expected a mapping of fields (%s) for %s, found %s", strings.Join(fieldNames(v.Type()), ", "), what, kindName(n.Kind))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		fpath := join(path, name)
		if seen[name] {
			d.fail(k, fpath, "field given twice")
			continue
		}
		seen[name] = true
		fi, ok := fieldIndex(v.Type(), name)
		if !ok {
			hint := ""
			if near := nearest(name, fieldNames(v.Type())); near != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", near)
			}
			d.fail(k, fpath, "unknown field%s; accepted here: %s", hint, strings.Join(fieldNames(v.Type()), ", "))
			continue
		}
		d.value(val, v.Field(fi), fpath)
	}
}

func yamlName(f reflect.StructField) string {
	return strings.Split(f.Tag.Get("yaml"), ",")[0]
}

func fieldIndex(t reflect.Type, name string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		if yamlName(t.Field(i)) == name {
			return i, true
		}
	}
	return 0, false
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := yamlName(t.Field(i)); n != "" && n != "-" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// nearest returns the accepted name closest to s, if it is close.
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dd := editDistance(s, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// MarshalYAMLResolved renders a resolved scenario as YAML, units included.
func MarshalYAMLResolved(s *Scenario) ([]byte, error) {
	// The built-in peer's fields are defaulted also for a side that runs
	// the user's program; written out they would not load back.
	c := *s
	if c.Sender.Exec != nil {
		c.Sender.Rate, c.Sender.Message, c.Sender.Socket = nil, Message{}, Socket{}
	}
	if c.Receiver.Exec != nil {
		c.Receiver.Read, c.Receiver.Socket, c.Receiver.Clients = Read{}, Socket{}, 0
	}
	return yaml.Marshal(&c)
}
