//! The live captures: one non-blocking libpcap handle per interface, registered with the
//! runtime by its descriptor, reopened with back-off when its interface goes away or is
//! re-created.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;

use crate::capture::{CaptureStats, LiveCapture};
use crate::config::Config;

/// A capture file descriptor for the runtime's readiness registration.
pub(super) struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

pub(super) struct Source {
    pub(super) iface: String,
    /// The interface name for health evidence (figures take `&'static str`; one per source).
    pub(super) name: &'static str,
    // Declared before `cap`: deregistered before the handle closes.
    pub(super) afd: Option<AsyncFd<Fd>>,
    pub(super) cap: Option<LiveCapture>,
    pub(super) retry_at: Instant,
    pub(super) backoff: Duration,
    pub(super) warned: bool,
    /// More frames may be waiting (the last drain stopped at `BATCH`).
    pub(super) more: bool,
    /// Interface index when opened: a deleted and re-created interface has a new one, and
    /// the old socket stays bound to the dead index, so it must be reopened.
    pub(super) ifindex: u32,
    pub(super) stats: CaptureStats,
    /// Statistics at the start of the current health minute.
    pub(super) minute_stats: CaptureStats,
}

impl Source {
    pub(super) fn new(iface: String) -> Source {
        Source {
            name: Box::leak(iface.clone().into_boxed_str()),
            iface,
            afd: None,
            cap: None,
            retry_at: Instant::now(),
            backoff: Duration::from_secs(1),
            warned: false,
            more: false,
            ifindex: 0,
            stats: CaptureStats::default(),
            minute_stats: CaptureStats::default(),
        }
    }

    pub(super) fn close(&mut self) {
        self.afd = None;
        self.cap = None;
        self.more = false;
    }

    /// Open the handle if it is due; logs the first failure only.
    pub(super) fn try_open(&mut self, cfg: &Config, now: Instant) {
        if self.cap.is_some() || now < self.retry_at {
            return;
        }
        let opened = LiveCapture::open(&self.iface, &cfg.capture).and_then(|c| {
            // SAFETY: the descriptor belongs to `c`, which is stored beside the `AsyncFd` and
            // closed only after it (`afd` is declared first and `close` clears it first).
            unsafe { AsyncFd::register_with_interest(Fd(c.fd()), tokio::io::Interest::READABLE) }
                .map(|a| (c, a))
                .map_err(|e| crate::capture::CaptureError::OpenLive {
                    iface: self.iface.clone(),
                    msg: format!("cannot register with the runtime: {e}"),
                })
        });
        match opened {
            Ok((c, a)) => {
                log::info!("capturing on {} (link type {})", self.iface, c.linktype);
                self.ifindex = ifindex(&self.iface);
                self.cap = Some(c);
                self.afd = Some(a);
                self.more = true;
                self.backoff = Duration::from_secs(1);
                self.warned = false;
            }
            Err(e) => {
                if !self.warned {
                    log::warn!("{e}; retrying with back-off (up to 30 s)");
                    self.warned = true;
                }
                self.retry_at = now + self.backoff;
                self.backoff = (self.backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The kernel's index of interface `name`; 0 when there is no such interface.
pub(super) fn ifindex(name: &str) -> u32 {
    match std::ffi::CString::new(name) {
        // SAFETY: a valid NUL-terminated string for the duration of the call.
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) },
        Err(_) => 0,
    }
}

impl Source {
    /// Close the handle if its interface was deleted (or replaced by a new one of the same
    /// name): libpcap in non-blocking mode does not notice.
    pub(super) fn check_present(&mut self, now: Instant) {
        if self.cap.is_some() && ifindex(&self.iface) != self.ifindex {
            log::warn!("{} went away; retrying with back-off", self.iface);
            self.close();
            self.retry_at = now + Duration::from_secs(1);
            self.backoff = Duration::from_secs(1);
            self.warned = true;
        }
    }
}
