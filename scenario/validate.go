package scenario

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tcplab/tcplab/internal/vocab"
	"github.com/tcplab/tcplab/netem/impair"
	"github.com/tcplab/tcplab/scenario/units"
)

// validate checks a decoded, defaulted scenario. pos maps field paths to
// checker collects the problems of one decoded, defaulted scenario. pos maps
// field paths to where they were written (a defaulted field points at its
// parent or 1:1).
type checker struct {
	s    *Scenario
	pos  map[string]Pos
	file string
	errs Errors
}

// at is where path (or its nearest written parent) is in the file.
func (c *checker) at(path string) Pos {
	for p := path; p != ""; {
		if ps, ok := c.pos[p]; ok {
			return ps
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return Pos{c.file, 1, 1}
}

// bad records a problem with the field at path.
func (c *checker) bad(path, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Pos: c.at(path), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validate checks a decoded, defaulted scenario, part by part.
func (s *Scenario) validate(pos map[string]Pos, file string) Errors {
	c := &checker{s: s, pos: pos, file: file}
	for _, check := range []func(){c.checkRun, c.checkLink, c.checkTimeline, c.checkPeerKinds, c.checkClients, c.checkSides} {
		check()
	}
	for i := range s.Expect {
		s.Expect[i].at = c.at(fmt.Sprintf("expect[%d]", i))
	}
	return c.errs
}

// checkRun checks the name and the run's timing.
func (c *checker) checkRun() {
	s, pos, bad := c.s, c.pos, c.bad
	if !nameRE.MatchString(s.Name) {
		bad("name", "%q is not a valid name (1-64 of letters, digits, '.', '_', '-', starting with a letter or digit)", s.Name)
	}
	if d := time.Duration(s.Duration); d < time.Second || d > time.Hour {
		bad("duration", "%v is outside 1s..1h", d)
	}
	if d := time.Duration(s.SampleInterval); d < time.Millisecond || d > time.Second {
		bad("sample_interval", "%v is outside 1ms..1s", d)
	} else if s.SampleInterval >= s.Duration {
		bad("sample_interval", "%v is not below duration %v", time.Duration(s.SampleInterval), time.Duration(s.Duration))
	}
	if w := time.Duration(s.Window); w < 100*time.Millisecond || s.Window > s.Duration {
		bad("window", "%v is outside 100ms..duration (%v)", w, time.Duration(s.Duration))
	} else if s.Window < s.SampleInterval*2 {
		if _, set := pos["window"]; set {
			bad("window", "%v holds fewer than two samples at sample_interval %v; at least %v", w, time.Duration(s.SampleInterval), 2*time.Duration(s.SampleInterval))
		} else {
			bad("sample_interval", "%v leaves fewer than two samples in a window of %v (the default); at most %v, or set window", time.Duration(s.SampleInterval), w, w/2)
		}
	}
}

// checkLink checks the link and its middlebox.
func (c *checker) checkLink() {
	s, bad := c.s, c.bad
	if !oneOf(s.Link.Backend, Backends) {
		bad("link.backend", "unknown backend %q; accepted: %s", s.Link.Backend, strings.Join(Backends, ", "))
	}
	if sd := s.Link.Seed; sd != nil && (*sd < 1 || *sd > 1<<31) {
		bad("link.seed", "%d is outside 1..2147483648", *sd)
	}
	for _, d := range []struct {
		name string
		dir  *Direction
	}{{"link.both", s.Link.Both}, {"link.down", s.Link.Down}, {"link.up", s.Link.Up}} {
		validateDirection(d.name, d.dir, bad)
	}
	if n := s.Link.NAT; n != nil {
		if d := time.Duration(n.IdleTimeout); d < time.Second || d > time.Hour {
			bad("link.nat.idle_timeout", "%v is outside 1s..1h", d)
		}
		if !oneOf(n.Expired, NATExpired) {
			bad("link.nat.expired", "unknown value %q; accepted: %s", n.Expired, strings.Join(NATExpired, ", "))
		}
		if s.Link.Backend == "netem" {
			bad("link.nat", "a middlebox that forgets idle connections needs the userspace link; set link.backend: userspace or auto")
		}
	}
	for _, dir := range impair.Dirs {
		im := s.Link.Resolve(dir).Impairment(1)
		if err := im.Validate(); err != nil {
			bad("link."+string(dir), "%v", err)
		}
	}
}

// checkTimeline checks the timeline's entries.
func (c *checker) checkTimeline() {
	s, bad := c.s, c.bad
	var last units.Duration
	for i, e := range s.Timeline {
		p := fmt.Sprintf("timeline[%d]", i)
		if e.At >= s.Duration {
			bad(p+".at", "%v is not before the end of the run (duration %v)", e.At, s.Duration)
		}
		if e.At < last {
			bad(p+".at", "%v is before the previous entry's %v; list entries in time order", e.At, last)
		}
		last = e.At
		if e.For != nil && *e.For <= 0 {
			bad(p+".for", "must be above 0")
		}
		set := 0
		for _, x := range []bool{e.Link != nil, e.Partition != "", e.Reboot != "", e.Freeze != "", e.Kill != ""} {
			if x {
				set++
			}
		}
		if set != 1 {
			bad(p, "give exactly one of link, partition, reboot, freeze or kill")
		}
		for f, v := range map[string]string{"freeze": e.Freeze, "kill": e.Kill} {
			if v != "" && !oneOf(v, RebootSides) {
				bad(p+"."+f, "unknown side %q; accepted: %s", v, strings.Join(RebootSides, ", "))
			}
		}
		if e.Kill != "" && e.For != nil {
			bad(p+".for", "a killed process does not come back; remove for")
		}
		if e.Reboot != "" && !oneOf(e.Reboot, RebootSides) {
			bad(p+".reboot", "unknown side %q; accepted: %s", e.Reboot, strings.Join(RebootSides, ", "))
		}
		if e.Reboot != "" && s.Link.Backend == "netem" {
			bad(p+".reboot", "answering with RSTs needs the userspace link; set link.backend: userspace or auto")
		}
		if e.Partition != "" && !oneOf(e.Partition, Partitions) {
			bad(p+".partition", "unknown partition %q; accepted: %s", e.Partition, strings.Join(Partitions, ", "))
		}
		if c := e.Link; c != nil {
			validateDirection(p+".link.both", c.Both, bad)
			validateDirection(p+".link.down", c.Down, bad)
			validateDirection(p+".link.up", c.Up, bad)
			l := s.Link.Apply(c)
			for _, dir := range impair.Dirs {
				im := l.Resolve(dir).Impairment(1)
				if err := im.Validate(); err != nil {
					bad(p+".link", "%s direction: %v", dir, err)
				}
			}
		}
	}
}

// checkPeerKinds checks each side's exec or built-in fields, the sender's schedule and policy.
func (c *checker) checkPeerKinds() {
	s, pos, bad, at := c.s, c.pos, c.bad, c.at
	for _, x := range []struct {
		role    string
		e       *Exec
		builtin []string
	}{{"sender", s.Sender.Exec, []string{"rate", "message", "socket"}}, {"receiver", s.Receiver.Exec, []string{"read", "socket"}}} {
		if x.e == nil {
			continue
		}
		if len(x.e.Command) == 0 || x.e.Command[0] == "" {
			bad(x.role+".exec.command", "give the program and its arguments, like [\"./client\", \"${TCPLAB_RECEIVER_ADDR}\"]")
		}
		for _, f := range x.builtin {
			if _, set := pos[x.role+"."+f]; set {
				bad(x.role+"."+f, "has no effect with %s.exec (the built-in %s does not run); remove it", x.role, x.role)
			}
		}
		for k, v := range x.e.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				bad(x.role+".exec.env", "invalid variable name %q", k)
			}
			if n := unknownExecVar(v); n != "" {
				bad(x.role+".exec.env."+k, "${%s} is not a variable tcplab sets; accepted: %s", n, execVarList())
			}
		}
		for i, a := range x.e.Command {
			if n := unknownExecVar(a); n != "" {
				bad(fmt.Sprintf("%s.exec.command[%d]", x.role, i), "${%s} is not a variable tcplab sets; accepted: %s (write $%s, without braces, for the program's own variable)", n, execVarList(), n)
			}
			if strings.IndexByte(a, 0) >= 0 {
				bad(fmt.Sprintf("%s.exec.command[%d]", x.role, i), "holds a NUL byte")
			}
		}
		if n := unknownExecVar(x.e.Dir); n != "" {
			bad(x.role+".exec.dir", "${%s} is not a variable tcplab sets; accepted: %s", n, execVarList())
		}
		if !oneOf(x.e.Exits, ExitsValues) {
			bad(x.role+".exec.exits", "unknown value %q; accepted: %s", x.e.Exits, strings.Join(ExitsValues, ", "))
		}
		x.e.commandAt = at(x.role + ".exec.command")
	}
	if len(s.Sender.Schedule) > 0 {
		if _, set := pos["sender.rate"]; set {
			bad("sender.rate", "give rate or schedule, not both")
		}
	}
	for i, ph := range s.Sender.Schedule {
		p := fmt.Sprintf("sender.schedule[%d]", i)
		n := 0
		for _, set := range []bool{ph.Rate != nil, ph.Pause != nil, ph.Replay != nil, ph.Off != nil, ph.Ramp != nil, ph.Burst != nil} {
			if set {
				n++
			}
		}
		last := i == len(s.Sender.Schedule)-1
		switch {
		case n != 1:
			bad(p, "give exactly one of rate, pause, replay, off, ramp or burst")
		case ph.For != nil && ph.Rate == nil && ph.Burst == nil:
			bad(p+".for", "for goes with rate or burst (a pause has its own length; a replay ends when the backlog is sent)")
		case (ph.Rate != nil || ph.Burst != nil) && ph.For == nil && !last:
			bad(p+".for", "a rate or burst phase before others needs for")
		case ph.Burst != nil && (ph.Burst.Size < MinMessageSize || ph.Burst.Size > 64<<20):
			bad(p+".burst.size", "%v is outside %dB..64MiB", ph.Burst.Size, MinMessageSize)
		case ph.Burst != nil && (time.Duration(ph.Burst.Every) < time.Millisecond || time.Duration(ph.Burst.Every) > time.Hour):
			bad(p+".burst.every", "%v is outside 1ms..1h", ph.Burst.Every)
		case ph.Pause != nil && *ph.Pause <= 0:
			bad(p+".pause", "must be above 0")
		case ph.Off != nil && *ph.Off <= 0:
			bad(p+".off", "must be above 0")
		case ph.Ramp != nil && (ph.Ramp.For <= 0 || ph.Ramp.From.IsMax() || ph.Ramp.To.IsMax()):
			bad(p+".ramp", "give from and to as rates (not max) and for above 0")
		case ph.Ramp != nil && (ph.Ramp.From.Msgs > 0) != (ph.Ramp.To.Msgs > 0):
			bad(p+".ramp", "from and to must both be message rates (2000/s) or both bit/byte rates")
		}
	}
	if p := s.Sender.Policy; p != nil && p.ResetSlowClient != nil {
		r := p.ResetSlowClient
		if r.BacklogAbove < 1024 {
			bad("sender.policy.reset_slow_client.backlog_above", "%v is below 1KiB", r.BacklogAbove)
		}
		if r.For <= 0 {
			bad("sender.policy.reset_slow_client.for", "must be above 0")
		}
	}
}

// checkClients checks the receiver's clients, reconnects and overrides, the sender's policy, repeat and message.
func (c *checker) checkClients() {
	s, pos, bad := c.s, c.pos, c.bad
	listens := s.SenderListens()
	rc := &s.Receiver
	if rc.Clients < 1 || rc.Clients > MaxClients {
		bad("receiver.clients", "%d is outside 1..%d", rc.Clients, MaxClients)
	}
	if rate := float64(rc.Clients) / time.Duration(s.SampleInterval).Seconds(); rc.Clients > 1 && s.SampleInterval > 0 && rate > MaxSocketSamplesPerSecond {
		least := time.Duration(math.Ceil(float64(rc.Clients)/MaxSocketSamplesPerSecond*1000)) * time.Millisecond
		most := int(MaxSocketSamplesPerSecond * time.Duration(s.SampleInterval).Seconds())
		bad("receiver.clients", "%d clients sampled every %v are %.0f socket samples a second at each end; tcplab keeps 99%% of its sampling ticks up to %d a second (docs/scenario.md, \"Peers: one feed, many clients\"): set sample_interval: %v or more (and window at least twice that), or use at most %d clients",
			rc.Clients, time.Duration(s.SampleInterval), rate, MaxSocketSamplesPerSecond, least, most)
	}
	needsListen := func(field string) {
		if !listens {
			bad(field, "needs the receiver to connect: set sender.listen: true")
		}
	}
	if _, set := pos["receiver.clients"]; set && rc.Clients > 1 {
		needsListen("receiver.clients")
	}
	if rc.Reconnect != nil {
		needsListen("receiver.reconnect")
		r := rc.Reconnect
		if r.Initial < units.Duration(time.Millisecond) || r.Max < r.Initial {
			bad("receiver.reconnect", "initial %v must be at least 1ms and max %v at least initial", r.Initial, r.Max)
		}
		if r.Jitter != nil && *r.Jitter > 100 {
			bad("receiver.reconnect.jitter", "%v is above 100%%", *r.Jitter)
		}
		if r.ConnectTimeout < units.Duration(10*time.Millisecond) {
			bad("receiver.reconnect.connect_timeout", "%v is below 10ms", r.ConnectTimeout)
		}
	}
	if v := rc.CloseAt; v != nil && (*v <= 0 || *v >= s.Duration) {
		bad("receiver.close_at", "%v is outside the run (0..%v)", *v, s.Duration)
	}
	if v := rc.CloseEvery; v != nil {
		switch {
		case *v < units.Duration(10*time.Millisecond) || *v >= s.Duration:
			bad("receiver.close_every", "%v is outside 10ms..duration (%v)", *v, s.Duration)
		case rc.Reconnect == nil:
			bad("receiver.close_every", "a client that closes its connections must connect again: set receiver.reconnect (like { initial: 10ms })")
		}
	}
	for i, o := range rc.Overrides {
		p := fmt.Sprintf("receiver.client_overrides[%d]", i)
		if len(o.Clients) == 0 {
			bad(p+".clients", "list the client indexes (from 0), like [0]")
		}
		for _, c := range o.Clients {
			if c < 0 || c >= rc.Clients {
				bad(p+".clients", "client %d is outside 0..%d (receiver.clients is %d)", c, rc.Clients-1, rc.Clients)
			}
		}
		if o.Read != nil && o.Read.Rate != nil && *o.Read.Rate != 0 && *o.Read.Rate < 8000 {
			bad(p+".read.rate", "%v is below 1KB/s", *o.Read.Rate)
		}
		if o.Read != nil && len(o.Read.Schedule) > 0 {
			bad(p+".read.schedule", "a read schedule is set on receiver.read for every client; an override sets read.rate")
		}
		if o.Read != nil && o.Read.Size != 0 {
			bad(p+".read.size", "the read size is the same for every client; set receiver.read.size")
		}
		if v := o.CloseAt; v != nil && (*v <= 0 || *v >= s.Duration) {
			bad(p+".close_at", "%v is outside the run (0..%v)", *v, s.Duration)
		}
	}
	if pol := s.Sender.Policy; pol != nil {
		if pol.CloseIdle != nil && *pol.CloseIdle < units.Duration(10*time.Millisecond) {
			bad("sender.policy.close_idle", "%v is below 10ms", *pol.CloseIdle)
		}
		for i, r := range pol.Refuse {
			p := fmt.Sprintf("sender.policy.refuse[%d]", i)
			needsListen(p)
			if r.At >= s.Duration || r.For <= 0 {
				bad(p, "at %v must be before the end (%v) and for above 0", r.At, s.Duration)
			}
			if !oneOf(r.Mode, RefusalModes) {
				bad(p+".mode", "unknown mode %q; accepted: %s", r.Mode, strings.Join(RefusalModes, ", "))
			}
		}
	}
	if s.Sender.Repeat {
		if len(s.Sender.Schedule) == 0 {
			bad("sender.repeat", "repeats a schedule; give sender.schedule")
		}
		for i, ph := range s.Sender.Schedule {
			if ph.Rate != nil && ph.For == nil {
				bad(fmt.Sprintf("sender.schedule[%d].for", i), "a repeated schedule needs for on every rate phase")
			}
			if ph.Replay != nil {
				bad(fmt.Sprintf("sender.schedule[%d].replay", i), "replay has no fixed length; a repeated schedule takes rate, off, pause and ramp")
			}
		}
	}
	m := s.Sender.Message
	if !oneOf(m.Distribution, SizeDistributions) {
		bad("sender.message.distribution", "unknown distribution %q; accepted: %s", m.Distribution, strings.Join(SizeDistributions, ", "))
	} else if m.Distribution != "fixed" && (m.Max < m.Size || m.Max > 16<<20) {
		bad("sender.message.max", "%v is outside size (%v)..16MiB", m.Max, m.Size)
	}
	if _, set := pos["sender.message.max"]; set && m.Distribution == "fixed" {
		bad("sender.message.max", "goes with a distribution (uniform or exponential)")
	}
}

// checkSides checks the exec sides, vanish, stalls, ports, rates, sizes and sockets.
func (c *checker) checkSides() {
	s, pos, bad := c.s, c.pos, c.bad
	if s.Receiver.Exec != nil {
		for _, f := range []string{"clients", "client_overrides", "close_at", "reconnect"} {
			if _, set := pos["receiver."+f]; set {
				bad("receiver."+f, "has no effect with receiver.exec (the built-in receiver does not run); remove it")
			}
		}
	}
	if s.Sender.Exec != nil {
		for _, f := range []string{"policy", "schedule", "resume", "repeat"} {
			if _, set := pos["sender."+f]; set {
				bad("sender."+f, "has no effect with sender.exec (the built-in sender does not run); remove it")
			}
		}
	}
	if v := s.Receiver.Vanish; v != nil && (*v <= 0 || *v >= s.Duration) {
		bad("receiver.vanish", "%v is outside the run (0..%v)", *v, s.Duration)
	}
	for i, sw := range s.Receiver.Stalls {
		p := fmt.Sprintf("receiver.stalls[%d]", i)
		if sw.At >= s.Duration {
			bad(p+".at", "%v is not before the end of the run (duration %v)", sw.At, s.Duration)
		}
		if sw.For <= 0 {
			bad(p+".for", "must be above 0")
		}
	}
	c.checkListen()
	c.checkHTTP()
	if m := s.Sender.Message.Size; m < MinMessageSize || m > 1<<20 {
		bad("sender.message.size", "%v is outside %dB..1MiB", m, MinMessageSize)
	}
	if r := s.Sender.Rate; r != nil && *r != 0 && *r < 1000 {
		bad("sender.rate", "%v is below 1kbit", *r)
	}
	if r := s.Receiver.Read.Rate; r != nil && *r != 0 && *r < 8000 {
		bad("receiver.read.rate", "%v is below 1KB/s", *r)
	}
	if sch := s.Receiver.Read.Schedule; len(sch) > 0 {
		if _, set := pos["receiver.read.rate"]; set {
			bad("receiver.read.rate", "give read.rate or read.schedule, not both")
		}
		for i, ph := range sch {
			p := fmt.Sprintf("receiver.read.schedule[%d]", i)
			switch {
			case ph.Rate == nil:
				bad(p+".rate", "give the phase's read rate: max or a rate like 200KB/s")
			case *ph.Rate != 0 && *ph.Rate < 8000:
				bad(p+".rate", "%v is below 1KB/s", *ph.Rate)
			}
			switch {
			case ph.For == nil && i < len(sch)-1:
				bad(p+".for", "needs for: only the last phase lasts to the end")
			case ph.For != nil && *ph.For <= 0:
				bad(p+".for", "must be above 0")
			}
		}
	}
	if z := s.Receiver.Read.Size; z < 1 || z > 16<<20 {
		bad("receiver.read.size", "%v is outside 1B..16MiB", z)
	}
	for _, side := range []struct {
		name string
		so   Socket
	}{{"sender.socket", s.Sender.Socket}, {"receiver.socket", s.Receiver.Socket}} {
		for _, b := range []struct {
			f string
			v units.Size
		}{{"sndbuf", side.so.Sndbuf}, {"rcvbuf", side.so.Rcvbuf}} {
			if b.v != 0 && (b.v < 1024 || b.v > 1<<30) {
				bad(side.name+"."+b.f, "%v is outside 1KiB..1GiB", b.v)
			}
		}
		if k := side.so.Keepalive; k != nil {
			p := side.name + ".keepalive"
			wholeSeconds := func(f string, d units.Duration, lo, hi time.Duration) {
				if t := time.Duration(d); t < lo || t > hi || t%time.Second != 0 {
					bad(p+"."+f, "%v: give whole seconds in %v..%v (the kernel keeps keepalive times in seconds)", t, lo, hi)
				}
			}
			wholeSeconds("idle", k.Idle, time.Second, 2*time.Hour)
			wholeSeconds("interval", k.Interval, time.Second, time.Hour)
			if k.Count < 1 || k.Count > 127 {
				bad(p+".count", "%d is outside 1..127", k.Count)
			}
		}
		if u := side.so.UserTimeout; u != nil && (time.Duration(*u) < time.Millisecond || time.Duration(*u) > time.Hour) {
			bad(side.name+".user_timeout", "%v is outside 1ms..1h", *u)
		}
		if l := side.so.Linger; l != nil && (time.Duration(*l)%time.Second != 0 || time.Duration(*l) > time.Hour) {
			bad(side.name+".linger", "%v: give whole seconds up to 1h (0s: close sends an RST)", *l)
		}
		if n := side.so.NotsentLowat; n != 0 && n > 1<<30 {
			bad(side.name+".notsent_lowat", "%v is above 1GiB", n)
		}
		if r := side.so.MaxPacingRate; r != nil && (*r < 8000 || *r > 32e9) {
			bad(side.name+".max_pacing_rate", "%v is outside 8kbit..32gbit (max is not accepted here: leave the field out for no cap)", *r)
		}
		if cc := side.so.Congestion; cc != "" {
			ok := false
			for _, c := range CongestionAlgorithms {
				ok = ok || c == cc
			}
			if !ok {
				bad(side.name+".congestion", "unknown congestion control %q; accepted: %s", cc, strings.Join(CongestionAlgorithms, ", "))
			}
		}
	}
}

func oneOf(v string, accepted []string) bool {
	for _, a := range accepted {
		if a == v {
			return true
		}
	}
	return false
}

func validateDirection(name string, d *Direction, bad func(path, format string, args ...any)) {
	if d == nil {
		return
	}
	if d.Rate != nil && *d.Rate != 0 {
		if *d.Rate < 8000 {
			bad(name+".rate", "%v is below 8kbit, too slow for a TCP handshake to finish in time", *d.Rate)
		}
		if uint64(*d.Rate) > 1e12 {
			bad(name+".rate", "%v is above 1000gbit; use max for no limit", *d.Rate)
		}
	}
	for _, x := range []struct {
		f string
		v *units.Duration
	}{{"delay", d.Delay}, {"jitter", d.Jitter}} {
		if x.v != nil && time.Duration(*x.v) > 10*time.Second {
			bad(name+"."+x.f, "%v is above 10s", *x.v)
		}
	}
	if d.Distribution != "" && !slices.Contains(impair.Distributions, d.Distribution) {
		bad(name+".distribution", "unknown distribution %q; accepted: %s", d.Distribution, strings.Join(vocab.Names(impair.Distributions), ", "))
	}
	if d.Overhead != nil && (*d.Overhead < -1500 || *d.Overhead > 1500) {
		bad(name+".overhead", "%d is outside -1500..1500 bytes", *d.Overhead)
	}
	if d.Queue != nil && (*d.Queue < 1 || *d.Queue > 1000000) {
		bad(name+".queue", "%d is outside 1..1000000 packets (netem's limit 0 would drop everything)", *d.Queue)
	}
	if d.Loss != nil && d.GilbertElliott != nil {
		bad(name+".gilbert_elliott", "give loss or gilbert_elliott, not both")
	}
	if r := d.Reorder; r != nil && r.Gap != nil && (*r.Gap < 1 || *r.Gap > 1000000) {
		bad(name+".reorder.gap", "%d is outside 1..1000000", *r.Gap)
	}
}
