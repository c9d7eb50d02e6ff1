//! TCP-compatible congestion control for a session's sending flows (RFC 7016 §3.5.2, the
//! algorithm sketched in its Appendix A): slow start, congestion avoidance, halving on loss once
//! per round trip, one packet after a retransmission timeout. The window counts bytes on the
//! wire (chunk bytes).

use std::time::{Duration, Instant};

/// Congestion state of one session.
#[derive(Debug, Clone)]
pub struct Congestion {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    in_flight: usize,
    recovery_until: Option<Instant>,
}

impl Congestion {
    /// Initial state for packets of `mss` bytes: a window of 3 packets (rtmfp-cpp).
    pub fn new(mss: usize) -> Self {
        Congestion {
            mss,
            cwnd: 3 * mss,
            ssthresh: usize::MAX,
            in_flight: 0,
            recovery_until: None,
        }
    }

    /// The congestion window.
    pub fn cwnd(&self) -> usize {
        self.cwnd
    }

    /// Bytes in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether `len` more bytes may be sent. Always true when nothing is in flight, so a
    /// window smaller than a chunk cannot stall the session.
    pub fn can_send(&self, len: usize) -> bool {
        self.in_flight == 0 || self.in_flight + len <= self.cwnd
    }

    /// `len` bytes were sent.
    pub fn on_sent(&mut self, len: usize) {
        self.in_flight += len;
    }

    /// `len` bytes left the flight without an acknowledgement (abandoned).
    pub fn on_removed(&mut self, len: usize) {
        self.in_flight = self.in_flight.saturating_sub(len);
    }

    /// `acked` bytes were acknowledged.
    pub fn on_acked(&mut self, acked: usize) {
        self.in_flight = self.in_flight.saturating_sub(acked);
        if acked == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd += acked.min(self.mss);
        } else {
            self.cwnd += (self.mss * acked / self.cwnd).max(1);
        }
    }

    /// `lost` bytes were declared lost by acknowledgements (fast retransmit); `rtt` bounds the
    /// recovery period in which further losses do not shrink the window again.
    pub fn on_lost(&mut self, lost: usize, now: Instant, rtt: Duration) {
        self.in_flight = self.in_flight.saturating_sub(lost);
        if self.recovery_until.is_some_and(|t| now < t) {
            return;
        }
        self.ssthresh = (self.cwnd / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.recovery_until = Some(now + rtt);
    }

    /// The retransmission timer fired: everything in flight is lost.
    pub fn on_timeout(&mut self) {
        self.ssthresh = (self.cwnd / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.in_flight = 0;
        self.recovery_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_loss_timeout() {
        let now = Instant::now();
        let mut c = Congestion::new(1000);
        assert_eq!(c.cwnd(), 3000);
        assert!(c.can_send(3000));
        c.on_sent(3000);
        assert!(!c.can_send(1));
        c.on_acked(3000);
        assert_eq!(c.cwnd(), 4000);
        c.on_sent(2000);
        c.on_lost(1000, now, Duration::from_millis(100));
        assert_eq!(c.cwnd(), 2000);
        c.on_lost(1000, now, Duration::from_millis(100));
        assert_eq!(c.cwnd(), 2000, "once per round trip");
        c.on_acked(1000);
        assert_eq!(c.cwnd(), 2500, "congestion avoidance");
        c.on_timeout();
        assert_eq!(c.cwnd(), 1000);
        assert!(c.can_send(5000), "nothing in flight");
    }
}
