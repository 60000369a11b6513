//! `netwatch run`: live capture on one or more interfaces feeding one pipeline.
//!
//! This is the first, synchronous form of the daemon: one thread polls the capture handles'
//! file descriptors (non-blocking libpcap), runs every ready handle's packets through the
//! pipeline, advances packet time by the monotonic clock while the wire is quiet (so flows
//! expire and pending alerts are emitted), and writes alerts as EVE JSON lines. Signals:
//! SIGTERM/SIGINT flush and exit; SIGHUP reloads thresholds, allowlists and timeouts from the
//! same file (capacities need a restart; an invalid file is refused and the old settings stay).
//! An interface that is missing or goes away is logged once and retried with back-off.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::capture::{CaptureStats, LiveCapture};
use crate::config::Config;
use crate::output::eve;
use crate::pipeline::Pipeline;

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

extern "C" fn on_hup(_: libc::c_int) {
    RELOAD.store(true, Ordering::Relaxed);
}

fn install_signals() {
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

struct Source {
    iface: String,
    cap: Option<LiveCapture>,
    retry_at: Instant,
    backoff: Duration,
    warned: bool,
    stats: CaptureStats,
}

/// Run until SIGTERM/SIGINT. `reload` re-reads the configuration on SIGHUP.
pub fn run(
    cfg: Config,
    ifaces: Vec<String>,
    reload: &dyn Fn() -> Result<Config, String>,
) -> Result<(), String> {
    if ifaces.is_empty() {
        return Err(
            "no interface to capture: set capture.interfaces in the config or pass --iface".into(),
        );
    }
    install_signals();
    let mut cfg = cfg;
    let mut pipeline = Pipeline::new(&cfg);
    let mut sources: Vec<Source> = ifaces
        .into_iter()
        .map(|iface| Source {
            iface,
            cap: None,
            retry_at: Instant::now(),
            backoff: Duration::from_secs(1),
            warned: false,
            stats: CaptureStats::default(),
        })
        .collect();
    let stdout = std::io::stdout();
    let mut line = String::with_capacity(4096);
    let mut sink = |a: &crate::detect::Alert| {
        line.clear();
        eve::write_alert(&mut line, a);
        let mut o = stdout.lock();
        let _ = o.write_all(line.as_bytes());
        let _ = o.flush();
    };
    eprintln!(
        "netwatch: running on {} (profile {}, {} flows, fixed tables {:.1} MiB); alerts as EVE JSON on stdout",
        sources.iter().map(|s| s.iface.as_str()).collect::<Vec<_>>().join(", "),
        cfg.profile.name(),
        cfg.capacity.flows,
        pipeline.footprint_bytes() as f64 / 1048576.0
    );
    let mut last_activity = Instant::now();
    let mut last_stats = Instant::now();
    while !STOP.load(Ordering::Relaxed) {
        if RELOAD.swap(false, Ordering::Relaxed) {
            match reload() {
                Ok(new) => {
                    if new.capacity != cfg.capacity || new.profile != cfg.profile {
                        eprintln!(
                            "netwatch: reloaded; capacity changes take effect only after a restart"
                        );
                    } else {
                        eprintln!("netwatch: reloaded thresholds, allowlists and timeouts");
                    }
                    pipeline.reconfigure(&new);
                    cfg = new;
                }
                Err(e) => eprintln!("netwatch: reload refused, previous settings stay: {e}"),
            }
        }
        // (Re)open interfaces that are due.
        let now = Instant::now();
        for s in sources
            .iter_mut()
            .filter(|s| s.cap.is_none() && s.retry_at <= now)
        {
            match LiveCapture::open(&s.iface, &cfg.capture) {
                Ok(c) => {
                    eprintln!(
                        "netwatch: capturing on {} (link type {})",
                        s.iface, c.linktype
                    );
                    s.cap = Some(c);
                    s.backoff = Duration::from_secs(1);
                    s.warned = false;
                }
                Err(e) => {
                    if !s.warned {
                        eprintln!("netwatch: {e}; retrying with back-off");
                        s.warned = true;
                    }
                    s.retry_at = now + s.backoff;
                    s.backoff = (s.backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        let mut fds: Vec<libc::pollfd> = sources
            .iter()
            .filter_map(|s| s.cap.as_ref())
            .map(|c| libc::pollfd {
                fd: c.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd for the duration of the call.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
        let mut got = false;
        for s in sources.iter_mut() {
            let Some(c) = s.cap.as_mut() else { continue };
            let lt = c.linktype;
            // Bounded batch per handle so one busy interface cannot starve the others.
            for _ in 0..4096 {
                match c.next_frame() {
                    Ok(Some(f)) => {
                        got = true;
                        pipeline.process(lt, f.ts_us, f.data, f.wire_len, &mut sink);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("netwatch: {} went away ({e}); retrying", s.iface);
                        s.cap = None;
                        s.retry_at = Instant::now() + s.backoff;
                        break;
                    }
                }
            }
        }
        let now = Instant::now();
        if got {
            last_activity = now;
        } else if now.duration_since(last_activity) >= Duration::from_millis(500) {
            // Quiet wire: packet time moves with the monotonic clock.
            pipeline.idle(
                now.duration_since(last_activity).as_micros() as u64,
                &mut sink,
            );
            last_activity = now;
        }
        if now.duration_since(last_stats) >= Duration::from_secs(1) {
            last_stats = now;
            for s in sources.iter_mut() {
                if let Some(st) = s.cap.as_mut().and_then(|c| c.stats()) {
                    s.stats = st;
                }
            }
        }
    }
    pipeline.finish(&mut sink);
    let mut counters = String::new();
    pipeline.counters_json(&mut counters);
    let caps: Vec<String> = sources
        .iter()
        .map(|s| {
            format!(
                "\"{}\":{{\"received\":{},\"dropped_kernel\":{},\"dropped_interface\":{}}}",
                s.iface.escape_default(),
                s.stats.received,
                s.stats.dropped_kernel,
                s.stats.dropped_interface
            )
        })
        .collect();
    eprintln!(
        "{{\"counters\":{counters},\"capture\":{{{}}}}}",
        caps.join(",")
    );
    Ok(())
}
