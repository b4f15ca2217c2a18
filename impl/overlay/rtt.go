package overlay

import "time"

// rtt is a per-peer round-trip estimator (RFC 6298 style): Bamboo's
// timeouts are RTO = SRTT + 4*RTTVAR (+10 ms), doubled on each consecutive
// timeout, capped.
type rtt struct {
	srtt, rttvar time.Duration
	samples      int
	failures     int // consecutive timeouts
}

// sample records a measured round trip.
func (r *rtt) sample(d time.Duration) {
	if d < 0 {
		d = 0
	}
	if r.samples == 0 {
		r.srtt, r.rttvar = d, d/2
	} else {
		diff := r.srtt - d
		if diff < 0 {
			diff = -diff
		}
		r.rttvar = (3*r.rttvar + diff) / 4
		r.srtt = (7*r.srtt + d) / 8
	}
	r.samples++
	r.failures = 0
}

// rto is the timeout for the next request to this peer: never below
// minRTO (FD-1), doubled for each consecutive timeout, capped at maxRTO.
func (r *rtt) rto(initial, minRTO, maxRTO time.Duration) time.Duration {
	base := initial
	if r.samples > 0 {
		base = max(r.srtt+4*r.rttvar+10*time.Millisecond, minRTO)
	}
	for range r.failures {
		base *= 2
		if base >= maxRTO {
			return maxRTO
		}
	}
	return min(base, maxRTO)
}
