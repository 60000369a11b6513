//! Packet time. Every stage takes `now` from here, never from the wall clock, so a replay of a
//! capture gives the alerts the live run gave, at any speed.
//!
//! Routers have no real-time clock: they boot in 1970 or at the firmware build date, then NTP
//! moves time by months in one step, forward or back. The pipeline therefore runs on a
//! *monotonic packet clock* (`mono`, microseconds) derived from packet timestamps:
//!
//! * forward steps advance `mono` by the same amount — a large jump simply looks like a long
//!   quiet period: flows expire, windows close (each ring clears in at most its own length of
//!   steps, never one step per skipped second);
//! * a step back of up to [`REORDER_TOLERANCE_US`] (packets merged from two interfaces, or
//!   timestamps from a driver that reorders) leaves `mono` where it is;
//! * a larger step back is a clock reset: it is counted, `mono` stays where it is and keeps
//!   advancing from the new base, so expiry and windows go on instead of freezing until the
//!   wall clock catches up with the old time.
//!
//! Alerts keep the packet's own wall timestamp, so what a person reads matches the capture.

/// Steps back smaller than this are reordering, not a clock reset.
pub const REORDER_TOLERANCE_US: i64 = 1_000_000;
/// Steps forward larger than this are counted as clock jumps (they are still honoured).
pub const FORWARD_JUMP_US: i64 = 86_400 * 1_000_000;

#[derive(Debug, Default, Clone)]
pub struct Clock {
    started: bool,
    last_wall: i64,
    mono: u64,
    pub jumps_back: u64,
    pub jumps_forward: u64,
}

impl Clock {
    /// Feed one packet's wall timestamp (µs since the epoch); returns the monotonic time.
    #[inline]
    pub fn observe(&mut self, wall_us: i64) -> u64 {
        if !self.started {
            self.started = true;
            self.last_wall = wall_us;
            self.mono = wall_us.max(0) as u64;
            return self.mono;
        }
        // Wrapping: two timestamps further apart than 292,000 years give a wrong sign, which
        // only decides whether the jump is counted as forward or back.
        let step = wall_us.wrapping_sub(self.last_wall);
        if step >= 0 {
            if step > FORWARD_JUMP_US {
                self.jumps_forward += 1;
            }
            self.mono = self.mono.saturating_add(step as u64);
            self.last_wall = wall_us;
        } else if step < -REORDER_TOLERANCE_US {
            self.jumps_back += 1;
            self.last_wall = wall_us;
        }
        self.mono
    }

    /// Advance by elapsed monotonic time with no packet (live capture between packets).
    pub fn idle(&mut self, elapsed_us: u64) -> u64 {
        if self.started {
            self.mono = self.mono.saturating_add(elapsed_us);
            self.last_wall = self.last_wall.saturating_add(elapsed_us as i64);
        }
        self.mono
    }

    pub fn now(&self) -> u64 {
        self.mono
    }

    pub fn started(&self) -> bool {
        self.started
    }

    /// Wall time (µs) that corresponds to monotonic time `mono` under the current base.
    pub fn wall_of(&self, mono: u64) -> i64 {
        let offset = self.last_wall.saturating_sub(self.mono as i64);
        (mono as i64).saturating_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_reset_keeps_time_moving() {
        let mut c = Clock::default();
        let base = 1_800_000_000_000_000i64;
        assert_eq!(c.observe(base), base as u64);
        assert_eq!(c.observe(base + 2_000_000), base as u64 + 2_000_000);
        // Small reorder: no change.
        assert_eq!(c.observe(base + 1_500_000), base as u64 + 2_000_000);
        // Reset by a year: mono holds, then keeps advancing from the new base.
        let year = 365 * 86_400 * 1_000_000i64;
        assert_eq!(c.observe(base - year), base as u64 + 2_000_000);
        assert_eq!(c.observe(base - year + 5_000_000), base as u64 + 7_000_000);
        assert_eq!(c.jumps_back, 1);
        assert_eq!(c.wall_of(c.now()), base - year + 5_000_000);
    }

    #[test]
    fn forward_jump_counted() {
        let mut c = Clock::default();
        c.observe(0);
        c.observe(2 * FORWARD_JUMP_US);
        assert_eq!(c.jumps_forward, 1);
        assert_eq!(c.now(), 2 * FORWARD_JUMP_US as u64);
    }
}
