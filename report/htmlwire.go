package report

import (
	"fmt"

	"github.com/tcplab/tcplab/record"
)

// maxLanes bounds the lifecycle chart's rows: connections share a lane when
// one ends before the next opens.
const maxLanes = 40

// wireView is the lifecycle chart: each connection a bar from its first
// SYN to its close (or the run's end), the handshake darker, a tick where
// each kept exchange starts, its end coloured by who closed it.
type wireView struct {
	W, H   int
	Bars   []rectView
	Ticks  []rectView
	Legend []legendView
	// Shown counts the connections drawn (all of them unless the lanes ran out).
	Shown, Total int
	Rows         []wireRow
	More         int
}

// wireRow is one line of the lifecycle table.
type wireRow struct {
	Conn                                                          int
	Ends, Opened, Handshake, Client, Server, Idle, Closed, Lasted string
	Exchanges                                                     int
}

var closeColour = map[record.ConnEnd]string{record.EndClient: "#4c78a8", record.EndServer: "#f58518"}

const (
	resetColour = "#cf222e"
	openColour  = "#9aa5b1"
	laneH       = 8
)

// wireChart lays out the wire's connections (nil: none recorded).
func wireChart(s *Summary) *wireView {
	ws := s.Wire
	if ws == nil || len(ws.List) == 0 {
		return nil
	}
	dur := max(s.Meta.DurationS, 1e-3)
	for _, c := range ws.List {
		dur = max(dur, c.LastS)
	}
	v := &wireView{W: chartW, Total: len(ws.List)}
	var laneEnd []float64
	for _, c := range ws.List {
		from, to := c.OpenedS, c.LastS
		lane := -1
		for i, e := range laneEnd {
			if e < from {
				lane = i
				break
			}
		}
		if lane < 0 {
			if len(laneEnd) == maxLanes {
				continue
			}
			lane = len(laneEnd)
			laneEnd = append(laneEnd, 0)
		}
		laneEnd[lane] = to
		v.Shown++
		y := float64(8 + lane*(laneH+2))
		fill, how := openColour, "open at the end"
		if c.Close != nil {
			fill, how = closeColour[c.Close.By], fmt.Sprintf("closed by the %s (%s) at %.3f s", c.Close.By, c.Close.How, c.Close.AtS)
			if c.Close.How == record.CloseRST {
				fill = resetColour
			}
		}
		tip := fmt.Sprintf("conn %d %s → %s: opened %.3f s, handshake %s, %d exchange(s), idle max %s, %s", c.Conn, c.Client, c.Server, c.OpenedS, handshakeText(&c), c.Exchanges, msText(c.IdleMaxMs), how)
		x0, x1 := xOf(max(from, 0), dur), xOf(max(to, 0), dur)
		v.Bars = append(v.Bars, rectView{X: round1(x0), Y: y, W: round1(max(x1-x0, 1.5)), H: laneH, Fill: fill, Tip: tip})
		if c.HandshakeMs != nil {
			v.Bars = append(v.Bars, rectView{X: round1(x0), Y: y, W: round1(max(xOf(from+*c.HandshakeMs/1e3, dur)-x0, 1)), H: laneH, Fill: "#333", Tip: "handshake " + msText(*c.HandshakeMs)})
		}
		for _, x := range c.FirstExchanges {
			v.Ticks = append(v.Ticks, rectView{X: round1(xOf(max(x.StartS, 0), dur)), Y: y - 1, W: 1, H: laneH + 2, Fill: "#111", Tip: fmt.Sprintf("exchange at %.3f s: %s → %s", x.StartS, sizeText(x.RequestBytes), sizeText(x.ResponseBytes))})
		}
	}
	v.H = 8 + len(laneEnd)*(laneH+2) + 24
	x := float64(chartLeft)
	for _, l := range []struct{ fill, text string }{{closeColour[record.EndClient], "closed by the client"}, {closeColour[record.EndServer], "closed by the server"}, {resetColour, "reset"}, {openColour, "open at the end"}, {"#333", "handshake"}} {
		v.Legend = append(v.Legend, legendView{X: x, Y: float64(v.H - 14), Fill: l.fill, Text: l.text})
		x += 160
	}
	for _, i := range wireRows(len(ws.List)) {
		if i < 0 {
			v.More = len(ws.List) - wireHead - wireTail
			v.Rows = append(v.Rows, wireRow{Conn: -1})
			continue
		}
		c := &ws.List[i]
		v.Rows = append(v.Rows, wireRow{Conn: c.Conn, Ends: c.Client + " → " + c.Server, Opened: fmt.Sprintf("%.3f s", c.OpenedS), Handshake: handshakeText(c),
			Exchanges: c.Exchanges, Client: sizeText(c.BytesClient), Server: sizeText(c.BytesServer), Idle: msText(c.IdleMaxMs), Closed: closeText(c), Lasted: msText(c.SessionMs)})
	}
	return v
}
