// Figures of a run: connect and delivery statistics, percentiles, the JSON lines.
package main

import (
	"encoding/json"
	"math"
	"os"
	"sort"
	"time"
)

func connectStats(subs []*sub, o options) map[string]any {
	var ack, initial []float64
	retries, failed := 0, 0
	reasons := map[string]int{}
	for _, s := range subs {
		retries += s.retries
		if s.conn == nil {
			failed++
			if len(reasons) < o.errorsKept || reasons[s.err] > 0 {
				reasons[s.err]++
			}
			continue
		}
		ack = append(ack, s.ackMs)
		initial = append(initial, s.initialMs)
	}
	return map[string]any{
		"subscribers": len(subs), "connected": len(initial), "failed": failed, "connect_retries": retries,
		"connect_errors": reasons, "ack_ms": percentiles(ack), "initial_state_ms": percentiles(initial),
	}
}

func deliveryStats(subs []*sub, o options) map[string]any {
	var lags []float64
	received, errFrames, complete := 0, 0, 0
	for _, s := range subs {
		s.mu.Lock()
		lags = append(lags, s.lags...)
		received += s.received
		errFrames += s.errFrames
		if s.gotAll {
			complete++
		}
		s.mu.Unlock()
	}
	return map[string]any{"deliveries": received, "error_frames": errFrames, "lagged": len(lags),
		"subscribers_complete": complete, "messages_per_subscriber": o.messages, "lag_ms": percentiles(lags)}
}

// rawTimes: every connected subscriber's ack and initial-state time and every lag, 0.1 ms rounded.
func rawTimes(subs []*sub) map[string]any {
	ack, initial, lags := []float64{}, []float64{}, []float64{}
	for _, s := range subs {
		if s.conn == nil {
			continue
		}
		ack = append(ack, round(s.ackMs, 1))
		initial = append(initial, round(s.initialMs, 1))
		s.mu.Lock()
		for _, l := range s.lags {
			lags = append(lags, round(l, 1))
		}
		s.mu.Unlock()
	}
	return map[string]any{"ack_ms_raw": ack, "initial_state_ms_raw": initial, "lag_ms_raw": lags}
}

func percentiles(xs []float64) map[string]any {
	if len(xs) == 0 {
		return map[string]any{"count": 0}
	}
	sort.Float64s(xs)
	at := func(p float64) float64 { // linear interpolation, as numpy's default
		pos := p / 100 * float64(len(xs)-1)
		lo := int(math.Floor(pos))
		hi := min(lo+1, len(xs)-1)
		return xs[lo] + (xs[hi]-xs[lo])*(pos-float64(lo))
	}
	return map[string]any{"count": len(xs), "p50": round(at(50), 1), "p90": round(at(90), 1),
		"p99": round(at(99), 1), "max": round(xs[len(xs)-1], 1)}
}

func emit(m map[string]any, extra map[string]any) map[string]any {
	for k, v := range extra {
		m[k] = v
	}
	line, _ := json.Marshal(m)
	os.Stdout.Write(append(line, '\n'))
	return m
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
