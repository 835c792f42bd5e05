// Command wsload is the native websocket load generator of Podium's subscription benchmark: it opens
// N graphql-transport-ws subscribers against one URL (a bounded number of handshakes in flight, an
// optional start rate, or all at once), records each connection's connect+ack and connect+initial
// state times, then listens and records each pushed message's lag.
//
// Why native: the Python clients ran on the same two cores as the server, so the benchmark measured
// them as much as the server. Here a goroutine per connection costs a few kilobytes and a received
// frame a few microseconds.
//
// Lag of a pushed message = its receive time minus the largest value of the `-stamp-field` key in it
// (the bench selects `changes { achievedAt }`: the score's own timestamp, in Unix ms, taken by the
// writer just before it posts the score). Messages without the key count as deliveries without a lag.
//
// Output (stdout, one JSON object per line): {"phase":"connected",...} once every connection has its
// initial state or has failed, then {"phase":"done",...} when every subscriber got -messages pushed
// messages after its initial state, or -listen-timeout after the connected line, whichever is first.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const protocol = "graphql-transport-ws"

type options struct {
	url           string
	query         string
	variables     string
	n             int
	concurrency   int
	rate          float64
	attempts      int
	retryDelay    time.Duration
	connectTO     time.Duration
	messages      int
	listenTO      time.Duration
	stampField    string
	errorsKept    int
	readBufferLen int
	raw           bool
}

// sub is one subscriber: its connection, its timings and its received messages' lags.
type sub struct {
	mu        sync.Mutex // the listen fields, read by the report while a late message may still arrive
	conn      *websocket.Conn
	ackMs     float64 // dial start -> connection_ack
	initialMs float64 // dial start -> initial `next`
	retries   int
	err       string
	lags      []float64 // ms, one per pushed message that carried the stamp field
	received  int       // pushed `next` messages after the initial one, errors excluded
	errFrames int       // `next` messages carrying errors: counted apart, never as deliveries
	gotAll    bool
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "websocket URL, e.g. ws://127.0.0.1:8000/graphql")
	flag.StringVar(&o.query, "query", "", "the subscription document")
	flag.StringVar(&o.variables, "variables", "{}", "the subscription's variables (a JSON object)")
	flag.IntVar(&o.n, "n", 100, "subscribers to open")
	flag.IntVar(&o.concurrency, "concurrency", 100, "handshakes in flight at once (0: all at once, a storm)")
	flag.Float64Var(&o.rate, "rate", 0, "connections started per second (0: unbounded)")
	flag.IntVar(&o.attempts, "attempts", 5, "connect attempts per subscriber (a refused or timed-out handshake is retried)")
	flag.DurationVar(&o.retryDelay, "retry-delay", time.Second, "wait before a retry")
	flag.DurationVar(&o.connectTO, "connect-timeout", 60*time.Second, "one attempt's limit, dial to initial state")
	flag.IntVar(&o.messages, "messages", 0, "pushed messages per subscriber after its initial state to wait for")
	flag.DurationVar(&o.listenTO, "listen-timeout", 30*time.Second, "listening limit after the connected line")
	flag.StringVar(&o.stampField, "stamp-field", "achievedAt", "JSON key whose largest value in a message is its Unix-ms stamp")
	flag.IntVar(&o.errorsKept, "errors-kept", 5, "distinct connect errors reported")
	flag.IntVar(&o.readBufferLen, "read-buffer", 4096, "read buffer bytes per connection")
	flag.BoolVar(&o.raw, "raw", false, "the done line also lists every lag and connect time (to merge several processes' runs)")
	flag.Parse()
	if o.url == "" || o.query == "" || o.n <= 0 {
		fmt.Fprintln(os.Stderr, "wsload: -url, -query and -n > 0 are required")
		os.Exit(2)
	}
	var vars map[string]any
	if err := json.Unmarshal([]byte(o.variables), &vars); err != nil {
		fmt.Fprintln(os.Stderr, "wsload: -variables is not a JSON object:", err)
		os.Exit(2)
	}
	raiseFileLimit(o.n + 1024)
	subscribe, _ := json.Marshal(map[string]any{"id": "1", "type": "subscribe",
		"payload": map[string]any{"query": o.query, "variables": vars}})
	run(o, subscribe)
}

func run(o options, subscribe []byte) {
	dialer := &websocket.Dialer{
		HandshakeTimeout: o.connectTO,
		Subprotocols:     []string{protocol},
		ReadBufferSize:   o.readBufferLen,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{}, // write buffers shared between idle connections
	}
	subs := make([]*sub, o.n)
	var done sync.WaitGroup     // one per subscriber: connected (or failed)
	var listen sync.WaitGroup   // one per connected subscriber: got -messages (or closed)
	stop := make(chan struct{}) // closed when the listen phase ends: later messages are not counted
	gate := make(chan struct{}, max(o.concurrency, 1))
	if o.concurrency <= 0 {
		gate = make(chan struct{}, o.n)
	}
	stamp := []byte(`"` + o.stampField + `":`)
	start := time.Now()
	done.Add(o.n)
	for i := 0; i < o.n; i++ {
		if o.rate > 0 {
			if wait := time.Until(start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))); wait > 0 {
				time.Sleep(wait)
			}
		}
		gate <- struct{}{}
		s := &sub{}
		subs[i] = s
		go func() {
			ok := s.connect(dialer, o, subscribe)
			<-gate
			if ok {
				listen.Add(1)
			}
			done.Done()
			if ok {
				s.listen(o, stamp, &listen, stop)
			}
		}()
	}
	done.Wait()
	connectS := time.Since(start).Seconds()
	emit(map[string]any{"phase": "connected", "connect_s": round(connectS, 3)}, connectStats(subs, o))
	listenStart := time.Now()
	everyone := make(chan struct{})
	go func() { listen.Wait(); close(everyone) }()
	select {
	case <-everyone:
	case <-time.After(o.listenTO):
	}
	close(stop)
	report := connectStats(subs, o)
	report["phase"] = "done"
	report["connect_s"] = round(connectS, 3)
	report["listen_s"] = round(time.Since(listenStart).Seconds(), 3)
	for k, v := range deliveryStats(subs, o) {
		report[k] = v
	}
	if o.raw {
		for k, v := range rawTimes(subs) {
			report[k] = v
		}
	}
	emit(report, nil)
	for _, s := range subs { // a clean close, best effort: the server's teardown is not measured
		if s.conn != nil {
			_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""),
				time.Now().Add(100*time.Millisecond))
			_ = s.conn.Close()
		}
	}
}

// raiseFileLimit lifts the open-file limit to `want` (Go lifts the soft limit to the hard one by
// itself; a hard limit below N sockets is raised too where allowed, as root). A failure is left to
// show as "too many open files" connect errors.
func raiseFileLimit(want int) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil || lim.Cur >= uint64(want) {
		return
	}
	raised := lim
	raised.Cur = uint64(want)
	if raised.Max < raised.Cur {
		raised.Max = raised.Cur
	}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) != nil {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// connect dials, sends connection_init, waits for connection_ack, subscribes and waits for the
// initial state; a refused (429) or timed-out attempt is retried after -retry-delay.
func (s *sub) connect(d *websocket.Dialer, o options, subscribe []byte) bool {
	t0 := time.Now()
	for attempt := 0; attempt < o.attempts; attempt++ {
		if attempt > 0 {
			s.retries++
			time.Sleep(o.retryDelay)
		}
		err := s.attempt(d, o, subscribe, t0)
		if err == nil {
			return true
		}
		s.err = err.Error()
		if s.conn != nil {
			_ = s.conn.Close()
			s.conn = nil
		}
	}
	return false
}

func (s *sub) attempt(d *websocket.Dialer, o options, subscribe []byte, t0 time.Time) error {
	conn, resp, err := d.Dial(o.url, http.Header{})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("handshake refused: HTTP %d", resp.StatusCode)
		}
		return err
	}
	s.conn = conn
	_ = conn.SetReadDeadline(time.Now().Add(o.connectTO))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_init","payload":{}}`)); err != nil {
		return err
	}
	acked := false
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		switch kind := messageType(msg); kind {
		case "connection_ack":
			acked = true
			s.ackMs = ms(time.Since(t0))
			if err := conn.WriteMessage(websocket.TextMessage, subscribe); err != nil {
				return err
			}
		case "ping":
			if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`)); err != nil {
				return err
			}
		case "next":
			if !acked {
				return errors.New("next before connection_ack")
			}
			if bytes.Contains(msg, []byte(`"errors"`)) {
				return fmt.Errorf("initial state with errors: %.200s", msg)
			}
			s.initialMs = ms(time.Since(t0))
			s.err = ""
			return conn.SetReadDeadline(time.Time{})
		default:
			return fmt.Errorf("unexpected message: %.200s", msg)
		}
	}
}

// listen records each pushed message until -messages arrived (then it goes on reading and answering
// pings, uncounted, until the run ends) or the connection closes.
func (s *sub) listen(o options, stamp []byte, wg *sync.WaitGroup, stop <-chan struct{}) {
	counted := true
	finish := func() {
		if counted {
			counted = false
			wg.Done()
		}
	}
	defer finish()
	if o.messages <= 0 {
		finish()
	}
	for {
		_, msg, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		switch messageType(msg) {
		case "next":
			select {
			case <-stop:
				continue
			default:
			}
			s.mu.Lock()
			if bytes.Contains(msg, []byte(`"errors"`)) {
				s.errFrames++
			} else {
				s.received++
				if at, ok := largestStamp(msg, stamp); ok {
					s.lags = append(s.lags, float64(now.UnixMicro())/1000-at)
				}
				if s.received >= o.messages && counted {
					s.gotAll = true
					finish()
				}
			}
			s.mu.Unlock()
		case "ping":
			_ = s.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
		}
	}
}

// messageType reads the graphql-transport-ws "type" without decoding the payload.
func messageType(msg []byte) string {
	i := bytes.Index(msg, []byte(`"type":"`))
	if i < 0 {
		return ""
	}
	rest := msg[i+8:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// largestStamp is the largest number after any occurrence of `"<field>":` in msg.
func largestStamp(msg, key []byte) (float64, bool) {
	best, found := 0.0, false
	for {
		i := bytes.Index(msg, key)
		if i < 0 {
			return best, found
		}
		msg = msg[i+len(key):]
		j := 0
		for j < len(msg) && (msg[j] == '-' || msg[j] == '.' || (msg[j] >= '0' && msg[j] <= '9')) {
			j++
		}
		if v, err := strconv.ParseFloat(string(msg[:j]), 64); err == nil && (!found || v > best) {
			best, found = v, true
		}
	}
}
