//! The load rule of the latency budget (`server.adaptive_batching`, docs/CAPACITY.md): when the
//! server nears its CPU capacity, publishers hold their media longer before handing it to the
//! hub, so every player gets fewer, larger writes. The cost of fan-out is almost all system
//! calls, one vectored write per player per batch, so holding twice as long costs about half as
//! much: players keep their full rate and latency grows smoothly instead of the core saturating
//! and players falling behind.
//!
//! [`Controller`] is the rule itself, with no clock or system call (tested below); [`Governor`]
//! holds its current answer for the publishers (one relaxed atomic load per frame) and
//! [`run`] samples the process's CPU time twice a second and steps the controller.
//!
//! The rule, every [`PERIOD`]:
//! - `duty` = process CPU time in the period / (period × cores the process may run on);
//! - `duty ≥ HIGH` (0.75): hold longer: `hold = max(hold × 1.5, MIN_STEP)` (50 ms, then 75,
//!   112, 168, ...), at most `overload_max_ms`;
//! - `duty ≤ LOW` (0.45) and holding: hold shorter: `hold × 2/3`, and 0 once under
//!   `MIN_STEP`. A step down raises the write rate by at most 1.5×, so at `LOW` the duty after
//!   it stays under `HIGH` (0.45 × 1.5 < 0.75): the rule does not swing between two steps;
//! - otherwise keep the hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the load is measured and the hold stepped.
pub const PERIOD: Duration = Duration::from_millis(500);
/// The duty from which the hold grows.
pub const HIGH: f64 = 0.75;
/// The duty under which the hold shrinks.
pub const LOW: f64 = 0.45;
/// The first step of the hold: longer than one video frame at 25 fps, so that each step merges
/// whole frames.
pub const MIN_STEP: Duration = Duration::from_millis(50);

/// The load rule: duty in, hold out.
#[derive(Debug, Clone)]
pub struct Controller {
    max: Duration,
    hold: Duration,
}

impl Controller {
    /// A controller whose hold never exceeds `max` (0 = never hold).
    pub fn new(max: Duration) -> Self {
        Controller {
            max,
            hold: Duration::ZERO,
        }
    }

    /// The current hold.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// One period's duty (0.0 = idle, 1.0 = every core busy): the new hold.
    pub fn step(&mut self, duty: f64) -> Duration {
        if duty >= HIGH {
            self.hold = self.hold.mul_f64(1.5).max(MIN_STEP).min(self.max);
        } else if duty <= LOW && !self.hold.is_zero() {
            let shorter = self.hold.mul_f64(2.0 / 3.0);
            self.hold = if shorter < MIN_STEP {
                Duration::ZERO
            } else {
                shorter
            };
        }
        self.hold
    }
}

/// What the publishers read: the hold the load rule asks for now.
#[derive(Debug, Default)]
pub struct Governor {
    hold_us: AtomicU64,
    /// The last measured duty, in millionths (for the metrics).
    duty_ppm: AtomicU64,
}

impl Governor {
    /// The hold the load rule asks for (zero when there is room).
    #[inline]
    pub fn hold(&self) -> Duration {
        Duration::from_micros(self.hold_us.load(Ordering::Relaxed))
    }

    /// The last measured duty (process CPU over the cores it may use).
    pub fn duty(&self) -> f64 {
        self.duty_ppm.load(Ordering::Relaxed) as f64 / 1e6
    }

    fn set(&self, hold: Duration, duty: f64) {
        self.hold_us
            .store(hold.as_micros() as u64, Ordering::Relaxed);
        self.duty_ppm
            .store((duty.clamp(0.0, 64.0) * 1e6) as u64, Ordering::Relaxed);
    }
}

/// The load rule's state in the Prometheus text format, appended to `/metrics`:
/// `sluice_load_duty` (the last measured duty) and `sluice_load_hold_seconds` (the hold it asks
/// for; 0 when there is room).
pub fn render_metrics(governor: &Governor) -> String {
    format!(
        "# HELP sluice_load_duty Process CPU over the cores it may use, last {period} ms (the load rule's input).\n\
         # TYPE sluice_load_duty gauge\n\
         sluice_load_duty {duty}\n\
         # HELP sluice_load_hold_seconds How long the load rule asks publishers to hold media for fewer writes (0: room to spare).\n\
         # TYPE sluice_load_hold_seconds gauge\n\
         sluice_load_hold_seconds {hold}\n",
        period = PERIOD.as_millis(),
        duty = governor.duty(),
        hold = governor.hold().as_secs_f64(),
    )
}

/// The process's CPU time so far (user + system, every thread).
fn process_cpu() -> Option<Duration> {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?;
    Some(Duration::new(
        u64::try_from(ts.tv_sec()).ok()?,
        u32::try_from(ts.tv_nsec()).ok()?,
    ))
}

/// Measure the load and step the controller, until the task is aborted. With
/// `adaptive_batching` off (or `overload_max_ms = 0`) it returns at once and the hold stays 0.
pub async fn run(governor: Arc<Governor>, max: Duration) {
    if max.is_zero() {
        return;
    }
    let Some(mut cpu0) = process_cpu() else {
        tracing::warn!("process CPU time unavailable: adaptive batching off");
        return;
    };
    // The cores this process may run on (its affinity mask, as `taskset` sets it).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut controller = Controller::new(max);
    let mut t0 = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (Some(cpu1), t1) = (process_cpu(), tokio::time::Instant::now()) else {
            continue;
        };
        let wall = t1.duration_since(t0).as_secs_f64();
        if wall < PERIOD.as_secs_f64() / 2.0 {
            continue;
        }
        let duty = cpu1.saturating_sub(cpu0).as_secs_f64() / (wall * cores);
        let before = controller.hold();
        let hold = controller.step(duty);
        if hold != before {
            tracing::info!(
                duty = format_args!("{duty:.2}"),
                hold_ms = hold.as_millis() as u64,
                "load rule: media held longer or shorter for fewer writes per player"
            );
        }
        governor.set(hold, duty);
        cpu0 = cpu1;
        t0 = t1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn room_costs_nothing() {
        let mut c = Controller::new(MS(200));
        for duty in [0.0, 0.3, 0.6, 0.74] {
            assert_eq!(c.step(duty), Duration::ZERO);
        }
    }

    #[test]
    fn load_grows_the_hold_by_steps_up_to_the_bound() {
        let mut c = Controller::new(MS(200));
        let steps: Vec<u128> = (0..6).map(|_| c.step(0.95).as_millis()).collect();
        assert_eq!(steps, [50, 75, 112, 168, 200, 200]);
    }

    #[test]
    fn between_the_marks_the_hold_stays() {
        let mut c = Controller::new(MS(200));
        c.step(0.9);
        c.step(0.9);
        for duty in [0.5, 0.6, 0.7, 0.46] {
            assert_eq!(c.step(duty), MS(75));
        }
    }

    #[test]
    fn a_falling_load_shrinks_the_hold_back_to_zero() {
        let mut c = Controller::new(MS(200));
        for _ in 0..5 {
            c.step(1.0);
        }
        let steps: Vec<u128> = (0..6).map(|_| c.step(0.2).as_millis()).collect();
        assert_eq!(steps, [133, 88, 59, 0, 0, 0]);
    }

    #[test]
    fn metrics_show_duty_and_hold() {
        let g = Governor::default();
        g.set(MS(75), 0.8);
        let text = render_metrics(&g);
        assert!(text.contains("sluice_load_duty 0.8\n"), "{text}");
        assert!(text.contains("sluice_load_hold_seconds 0.075\n"), "{text}");
        assert!(text.contains("# TYPE sluice_load_hold_seconds gauge"));
    }

    #[test]
    fn a_zero_bound_never_holds() {
        let mut c = Controller::new(Duration::ZERO);
        assert_eq!(c.step(1.0), Duration::ZERO);
    }

    // A step down multiplies the write rate by at most 1.5: from LOW that stays under HIGH.
    const _: () = assert!(LOW * 1.5 < HIGH);

    #[test]
    fn process_cpu_advances() {
        let a = process_cpu().expect("CLOCK_PROCESS_CPUTIME_ID");
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu().unwrap() > a);
    }
}
