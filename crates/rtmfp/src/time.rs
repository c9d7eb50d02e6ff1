//! Time: the 16-bit, 4 ms packet timestamps with their echo (RFC 7016 §2.2.4, §3.5.2.1) and the
//! smoothed round-trip time and effective retransmission timeout, ERTO (§3.5.2.2).
//!
//! The caller supplies every instant; the crate never reads a clock.

use std::time::{Duration, Instant};

/// One timestamp tick.
pub const TICK: Duration = Duration::from_millis(4);
/// Echo a received timestamp only this long after it arrived (rtmfp-cpp uses 128 s).
pub const ECHO_HOLD: Duration = Duration::from_secs(128);
/// Initial ERTO (RFC 7016 §3.5.2.2).
pub const INITIAL_ERTO: Duration = Duration::from_secs(3);
/// Minimum ERTO.
pub const MIN_ERTO: Duration = Duration::from_millis(250);
/// Maximum ERTO.
pub const MAX_ERTO: Duration = Duration::from_secs(10);

/// The 16-bit timestamp of `now` on a clock started at `epoch`.
pub fn timestamp(epoch: Instant, now: Instant) -> u16 {
    ((now.saturating_duration_since(epoch).as_millis() / TICK.as_millis()) & 0xffff) as u16
}

/// Timestamp echo state of one session.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    received: Option<(u16, Instant)>,
    last_echo: Option<u16>,
}

impl Echo {
    /// A packet with timestamp `ts` arrived at `now`.
    pub fn on_timestamp(&mut self, ts: u16, now: Instant) {
        self.received = Some((ts, now));
    }

    /// The echo to send at `now`: the received timestamp advanced by the ticks since.
    pub fn echo(&self, now: Instant) -> Option<u16> {
        let (ts, at) = self.received?;
        let held = now.saturating_duration_since(at);
        if held > ECHO_HOLD {
            return None;
        }
        let ticks = (held.as_millis() / TICK.as_millis()) as u16;
        Some(ts.wrapping_add(ticks))
    }

    /// An echo `echo` arrived when our clock reads `now_ts`: a round-trip sample, if the echo is
    /// new (an unchanged echo says nothing new).
    pub fn on_echo(&mut self, echo: u16, now_ts: u16) -> Option<Duration> {
        if self.last_echo == Some(echo) {
            return None;
        }
        self.last_echo = Some(echo);
        let ticks = now_ts.wrapping_sub(echo);
        // A "negative" difference is a reordered or bogus echo.
        (ticks < 0x8000).then(|| TICK * u32::from(ticks))
    }
}

/// Smoothed RTT and ERTO, RFC 6298 style as RFC 7016 §3.5.2.2 asks.
#[derive(Debug, Clone)]
pub struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    erto: Duration,
    backoff: f64,
}

impl Default for Rtt {
    fn default() -> Self {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            erto: INITIAL_ERTO,
            backoff: 1.0,
        }
    }
}

impl Rtt {
    /// Take a sample.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.expect("set above");
        self.erto =
            (srtt + (self.rttvar * 4).max(Duration::from_millis(10))).clamp(MIN_ERTO, MAX_ERTO);
        self.backoff = 1.0;
    }

    /// The smoothed RTT, if sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The current effective retransmission timeout, back-off included.
    pub fn erto(&self) -> Duration {
        self.erto.mul_f64(self.backoff).min(MAX_ERTO)
    }

    /// A retransmission timeout fired: back off by √2 (rtmfp-cpp).
    pub fn back_off(&mut self) {
        self.backoff = (self.backoff * std::f64::consts::SQRT_2).min(64.0);
    }

    /// Progress was made: no more back-off.
    pub fn reset_backoff(&mut self) {
        self.backoff = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_echo() {
        let t0 = Instant::now();
        assert_eq!(timestamp(t0, t0 + Duration::from_millis(9)), 2);
        assert_eq!(timestamp(t0, t0 + TICK * 65537), 1, "wraps");
        let mut e = Echo::default();
        assert_eq!(e.echo(t0), None);
        e.on_timestamp(100, t0);
        assert_eq!(e.echo(t0 + Duration::from_millis(40)), Some(110));
        assert_eq!(e.echo(t0 + ECHO_HOLD + TICK), None);
        assert_eq!(e.on_echo(10, 60), Some(Duration::from_millis(200)));
        assert_eq!(e.on_echo(10, 70), None, "same echo twice");
        assert_eq!(e.on_echo(65530, 4), Some(TICK * 10), "wraps");
    }

    #[test]
    fn erto() {
        let mut r = Rtt::default();
        assert_eq!(r.erto(), INITIAL_ERTO);
        r.sample(Duration::from_millis(100));
        assert_eq!(r.erto(), Duration::from_millis(300));
        for _ in 0..50 {
            r.sample(Duration::from_millis(20));
        }
        assert_eq!(r.erto(), MIN_ERTO);
        r.back_off();
        assert!(r.erto() > MIN_ERTO);
        for _ in 0..20 {
            r.back_off();
        }
        assert_eq!(r.erto(), MAX_ERTO);
    }
}
