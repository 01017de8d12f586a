package scenario

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSweepPoints bounds the points a matrix expands into.
const MaxSweepPoints = 1024

// Sweep is a scenario file with a `matrix:`: every combination of the
// matrix's values is a point, a whole scenario of its own. A file without a
// matrix is a sweep of one point.
//
//	matrix:
//	  receiver.socket.keepalive.idle: [1s, 5s]
//	  timeline[0].partition: [both, down]
//
// Keys are field paths (names joined by dots, list entries by [N]); values
// are what the field would take in the file, or ~ (null) to leave it unset. Points are numbered in the
// order of the product, the last key varying fastest.
type Sweep struct {
	File   string
	Keys   []string
	Points []*SweepPoint
}

// SweepPoint is one combination of the matrix's values.
type SweepPoint struct {
	Index int
	// ID names the point's run directory: p00, p01, …
	ID string
	// Values are the point's values, one per Sweep.Keys, as written.
	Values   []string
	Scenario *Scenario
}

// Label is the point's values as key=value pairs.
func (p *SweepPoint) Label(keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + p.Values[i]
	}
	return strings.Join(parts, " ")
}

// LoadSweep reads a scenario file that may hold a matrix.
func LoadSweep(file string) (*Sweep, error) {
	data, err := ReadFile(file)
	if err != nil {
		return nil, err
	}
	return ParseSweep(file, data)
}

// ParseSweep parses a scenario file that may hold a matrix and expands it.
// Every point is decoded and validated like a file of its own; an error
// names the point and, for a matrix value, where it is written.
func ParseSweep(file string, data []byte) (*Sweep, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	sw := &Sweep{File: file}
	mk := mappingKey(root, "matrix")
	if mk == nil {
		s, err := parseNode(file, root)
		if err != nil {
			return nil, err
		}
		sw.Points = []*SweepPoint{{ID: "p00", Scenario: s}}
		return sw, nil
	}
	var matrix *yaml.Node
	base := &yaml.Node{Kind: yaml.MappingNode, Line: root.Line, Column: root.Column}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i] == mk {
			matrix = root.Content[i+1]
			continue
		}
		base.Content = append(base.Content, root.Content[i], root.Content[i+1])
	}
	bad := func(n *yaml.Node, path, format string, a ...any) error {
		return Errors{{Pos: Pos{file, n.Line, n.Column}, Path: path, Msg: fmt.Sprintf(format, a...)}}
	}
	if matrix.Kind != yaml.MappingNode || len(matrix.Content) == 0 {
		return nil, bad(matrix, "matrix", "expected a mapping of field paths to lists of values, like receiver.socket.keepalive.idle: [1s, 5s]")
	}
	var keys []*yaml.Node
	var values [][]*yaml.Node
	total := 1
	for i := 0; i+1 < len(matrix.Content); i += 2 {
		k, v := matrix.Content[i], matrix.Content[i+1]
		if _, err := parsePath(k.Value); err != nil {
			return nil, bad(k, "matrix", "%v", err)
		}
		if k.Value == "matrix" || strings.HasPrefix(k.Value, "name") {
			return nil, bad(k, "matrix."+k.Value, "cannot vary %s", k.Value)
		}
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return nil, bad(v, "matrix."+k.Value, "expected a non-empty list of values, like [1s, 5s]")
		}
		keys = append(keys, k)
		values = append(values, v.Content)
		sw.Keys = append(sw.Keys, k.Value)
		total *= len(v.Content)
		if total > MaxSweepPoints {
			return nil, bad(k, "matrix", "the matrix has more than %d points", MaxSweepPoints)
		}
	}
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if n := mappingKey(base, "name"); n != nil {
		for i := 0; i+1 < len(base.Content); i += 2 {
			if base.Content[i] == n {
				name = base.Content[i+1].Value
			}
		}
	}
	conds, err := expectConditions(file, base, keys, values)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(keys))
	for p := 0; p < total; p++ {
		doc := deepCopy(base)
		pt := &SweepPoint{Index: p, ID: fmt.Sprintf("p%0*d", len(strconv.Itoa(total-1)), p)}
		if total <= 100 {
			pt.ID = fmt.Sprintf("p%02d", p)
		}
		for i, k := range keys {
			v := values[i][idx[i]]
			pt.Values = append(pt.Values, nodeText(v))
			if err := setPath(doc, k, deepCopy(v)); err != nil {
				return nil, bad(k, "matrix."+k.Value, "%v", err)
			}
		}
		keepExpect(doc, conds, pt.Values)
		setScalar(doc, "name", name+"-"+pt.ID)
		s, err := parseNode(file, doc)
		if err != nil {
			return nil, fmt.Errorf("matrix point %s (%s): %w", pt.ID, pt.Label(sw.Keys), err)
		}
		pt.Scenario = s
		sw.Points = append(sw.Points, pt)
		// Next combination: the last key varies fastest.
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(values[i]) {
				break
			}
			idx[i] = 0
		}
	}
	return sw, nil
}

// pathStep is one step of a field path: a name, or a list index.
type pathStep struct {
	name  string
	index int // -1 for a name
}

var stepRE = regexp.MustCompile(`^([a-z0-9_-]+)((?:\[\d+\])*)$`)

func parsePath(p string) ([]pathStep, error) {
	var out []pathStep
	for _, part := range strings.Split(p, ".") {
		m := stepRE.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("%q is not a field path (names joined by dots, list entries as [N], like timeline[0].partition)", p)
		}
		out = append(out, pathStep{name: m[1], index: -1})
		for _, ix := range regexp.MustCompile(`\d+`).FindAllString(m[2], -1) {
			n, _ := strconv.Atoi(ix)
			out = append(out, pathStep{index: n})
		}
	}
	return out, nil
}

// setPath sets the value at key's path in doc, creating missing mappings.
// The created key nodes carry the matrix key's position, so an error about
// them points at the matrix.
func setPath(doc *yaml.Node, key, value *yaml.Node) error {
	steps, err := parsePath(key.Value)
	if err != nil {
		return err
	}
	n := doc
	for i, st := range steps {
		last := i == len(steps)-1
		if st.index >= 0 {
			if n.Kind != yaml.SequenceNode || st.index >= len(n.Content) {
				return fmt.Errorf("%s: no list entry [%d] in the scenario", key.Value, st.index)
			}
			if last {
				n.Content[st.index] = value
				return nil
			}
			n = n.Content[st.index]
			continue
		}
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: %s is not a mapping in the scenario", key.Value, st.name)
		}
		var next *yaml.Node
		unset := last && value.Kind == yaml.ScalarNode && value.Tag == "!!null"
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == st.name {
				if unset {
					// ~ (null) leaves the field unset: its default.
					n.Content = append(n.Content[:j], n.Content[j+2:]...)
					return nil
				}
				if last {
					n.Content[j+1] = value
					return nil
				}
				next = n.Content[j+1]
			}
		}
		if unset {
			return nil
		}
		if next == nil {
			k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: st.name, Line: key.Line, Column: key.Column}
			if last {
				n.Content = append(n.Content, k, value)
				return nil
			}
			if steps[i+1].index >= 0 {
				return fmt.Errorf("%s: the scenario has no list %s to index", key.Value, st.name)
			}
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: key.Line, Column: key.Column}
			n.Content = append(n.Content, k, next)
		}
		n = next
	}
	return nil
}

func setScalar(doc *yaml.Node, name, value string) {
	for j := 0; j+1 < len(doc.Content); j += 2 {
		if doc.Content[j].Value == name {
			doc.Content[j+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Line: doc.Content[j+1].Line, Column: doc.Content[j+1].Column}
			return
		}
	}
	doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
}

func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = deepCopy(x)
	}
	return &c
}

// nodeText is a value as written (flow style for mappings and lists).
func nodeText(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	c := deepCopy(n)
	c.Style = yaml.FlowStyle
	b, err := yaml.Marshal(c)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// expectCondition is the condition of one expect entry of a sweep
// ("STATEMENT if KEY=VALUE, KEY=VALUE"): the entry holds at the points
// where every key has its value. Entries without one hold everywhere.
type expectCondition struct {
	statement string
	keys      []int // indexes into the matrix keys
	values    []string
}

// expectConditions reads the conditions of the expect entries in base and
// checks each names a matrix key and one of its values.
func expectConditions(file string, base *yaml.Node, keys []*yaml.Node, values [][]*yaml.Node) ([]*expectCondition, error) {
	list := mappingValue(base, "expect")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, nil // parseNode reports a malformed expect
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Value)
	}
	conds := make([]*expectCondition, len(list.Content))
	for i, item := range list.Content {
		if item.Kind != yaml.ScalarNode {
			continue
		}
		stmt, cond, ok := strings.Cut(item.Value, " if ")
		if !ok {
			continue
		}
		c := &expectCondition{statement: strings.TrimSpace(stmt)}
		path := fmt.Sprintf("expect[%d]", i)
		for _, part := range strings.Split(cond, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" || v == "" {
				return nil, Errors{{Pos: Pos{file, item.Line, item.Column}, Path: path, Msg: fmt.Sprintf("cannot read condition %q: write STATEMENT if KEY=VALUE (a matrix key and one of its values), like 'disconnects == 0 if %s=%s'", strings.TrimSpace(part), names[0], nodeText(values[0][0]))}}
			}
			ki := slices.Index(names, k)
			if ki < 0 {
				return nil, Errors{{Pos: Pos{file, item.Line, item.Column}, Path: path, Msg: fmt.Sprintf("condition key %q is not a matrix key; the matrix's keys: %s", k, strings.Join(names, ", "))}}
			}
			var accepted []string
			for _, n := range values[ki] {
				accepted = append(accepted, nodeText(n))
			}
			if !slices.Contains(accepted, v) {
				return nil, Errors{{Pos: Pos{file, item.Line, item.Column}, Path: path, Msg: fmt.Sprintf("condition %s=%s: the matrix gives %s the values %s", k, v, k, strings.Join(accepted, ", "))}}
			}
			c.keys, c.values = append(c.keys, ki), append(c.values, v)
		}
		conds[i] = c
	}
	return conds, nil
}

// keepExpect rewrites doc's expect list for a point with the given matrix
// values: conditional entries that hold there lose their condition, the
// others are left out.
func keepExpect(doc *yaml.Node, conds []*expectCondition, point []string) {
	list := mappingValue(doc, "expect")
	if list == nil || list.Kind != yaml.SequenceNode || len(conds) != len(list.Content) {
		return
	}
	var kept []*yaml.Node
	for i, item := range list.Content {
		c := conds[i]
		if c == nil {
			kept = append(kept, item)
			continue
		}
		holds := true
		for j, ki := range c.keys {
			holds = holds && point[ki] == c.values[j]
		}
		if holds {
			n := *item
			n.Value = c.statement
			kept = append(kept, &n)
		}
	}
	list.Content = kept
}
