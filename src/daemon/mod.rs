//! `netwatch run`: the live daemon. One tokio `current_thread` runtime, one pipeline.
//!
//! * Every interface is a non-blocking libpcap handle whose file descriptor is registered with
//!   the runtime (`AsyncFd`); whichever is readable is drained (at most 4096 frames at a time,
//!   so one busy interface cannot starve the others) into the one pipeline.
//! * A 1 s tick: packet time advances by the monotonic clock while the wire is quiet (flows
//!   expire, pending alerts are judged), capture statistics are read, missing interfaces are
//!   retried with back-off, the store writes its batch, the web gets its snapshot, and once a
//!   minute sensor health is judged (`health`).
//! * Alerts go to the outputs: EVE lines on stdout and/or a rotated file, the SQLite store
//!   (queued, written once per second or per `store.batch_alerts`), syslog through a bounded
//!   queue drained by its own task (`output::syslog_transport`) — an unreachable collector
//!   costs counted drops, never a stalled pipeline — and the web server's feed (`web`).
//! * The web server (`[web]`) runs on a thread of its own, started after the privilege drop;
//!   `PATCH /api/config` makes the daemon reload at its next tick as SIGHUP does.
//! * Signals: SIGTERM/SIGINT flush (flows, store, syslog queue) and exit within 2 s; SIGHUP
//!   reloads thresholds, allowlists and outputs without losing flow state (capacities and
//!   the store path need a restart, which the log says); an invalid file is refused, the old
//!   settings stay.
//! * After the captures are open the process drops root for `daemon.user`/`daemon.group`,
//!   keeping CAP_NET_RAW and CAP_NET_ADMIN (see `privdrop`).

pub mod health;
mod outputs;
pub mod privdrop;
mod sources;

use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::addr::Addr;
use crate::config::{Config, ConfigSource};
use crate::daemon::health::{wall_us, CaptureMinute, Health};
use crate::detect::Alert;
use crate::output::store::Store;
use crate::output::syslog_transport::SyslogOut;
use crate::pipeline::Pipeline;

use outputs::Outputs;
use sources::Source;

/// Frames taken from one handle before the others get a turn.
const BATCH: usize = 4096;

enum Event {
    Stop,
    Reload,
    Tick,
    Read(usize),
}

/// Run until SIGTERM/SIGINT. `source` is read again on SIGHUP (and after the web API changed
/// settings), with the overrides laid over it.
pub fn run(cfg: Config, ifaces: Vec<String>, source: ConfigSource) -> Result<(), String> {
    if ifaces.is_empty() {
        return Err(
            "no interface to capture: set capture.interfaces in the config or pass --iface".into(),
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(main_loop(cfg, ifaces, source))
}

/// Apply exclusions of the sensor's own connections (the syslog collector).
fn exclude_own(p: &mut Pipeline, cfg: &Config, outs: &Outputs) {
    p.clear_excluded();
    if !cfg.daemon.exclude_own_traffic {
        return;
    }
    if let Some(s) = &outs.syslog {
        if let Some(a) = s.stats.get(|c| c.peer).flatten() {
            let addr = match a.ip() {
                std::net::IpAddr::V4(v) => Addr::v4(v.octets()),
                std::net::IpAddr::V6(v) => Addr::v6(v.octets()),
            };
            p.exclude_endpoint(addr, a.port());
        }
    }
}

/// The router's own web logins are watched: the capture interfaces' addresses join
/// `rules.bruteforce.form_login_hosts` (read at start and at each reload).
fn own_login_hosts(cfg: &mut Config, ifaces: &[String]) {
    let hosts = &mut cfg.rules.bruteforce.form_login_hosts;
    for i in ifaces {
        for ip in crate::web::iface_addrs(i) {
            if let Ok(c) = ip.to_string().parse::<crate::addr::Cidr>() {
                if !hosts.contains(&c) {
                    hosts.push(c);
                }
            }
        }
    }
}

async fn main_loop(cfg: Config, ifaces: Vec<String>, source: ConfigSource) -> Result<(), String> {
    let reload = || source.load().map(|(c, _)| c).map_err(|e| e.to_string());
    let sig = |k: SignalKind| signal(k).map_err(|e| format!("cannot install signal handler: {e}"));
    let (mut term, mut int, mut hup) = (
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
        sig(SignalKind::hangup())?,
    );
    // SAFETY: ignoring SIGPIPE (a closed stdout or TCP peer gives EPIPE instead).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let mut cfg = cfg;
    own_login_hosts(&mut cfg, &ifaces);
    let mut pipeline = Pipeline::new(&cfg);
    let mut sources: Vec<Source> = ifaces.iter().cloned().map(Source::new).collect();
    let start = Instant::now();
    for s in sources.iter_mut() {
        s.try_open(&cfg, start);
    }
    // Privileges: captures are open; look the user up, hand it the store directory, drop.
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        let target = crate::daemon::privdrop::lookup(&cfg.daemon)?;
        if target.uid != 0 {
            for (key, path) in [("store.path", &cfg.store.path), ("eve.path", &cfg.eve.path)] {
                if path.is_empty() {
                    continue;
                }
                match crate::daemon::privdrop::prepare_dir(std::path::Path::new(path), target) {
                    Ok(None) => {}
                    Ok(Some(w)) => log::warn!("{key}: {w}"),
                    Err(e) => log::warn!(
                        "{key}: cannot prepare `{path}` for {}: {e}",
                        cfg.daemon.user
                    ),
                }
            }
        }
        let nft = cfg.respond.mode != crate::notify::respond::Mode::Off;
        if crate::daemon::privdrop::drop_to(target, nft)? {
            log::info!(
                "running as {}:{} with CAP_NET_RAW and CAP_NET_ADMIN only",
                cfg.daemon.user,
                cfg.daemon.group
            );
        } else {
            log::warn!("running as root (daemon.allow_root = true)");
        }
    } else if !crate::daemon::privdrop::can_capture() {
        log::warn!(
            "not root and without CAP_NET_RAW: captures will fail (see `netwatch help run`)"
        );
    }
    let mut outs = Outputs::new(&cfg);
    pipeline.report_repeats(outs.store.is_some());
    if let Some(st) = &outs.store {
        load_baselines(&mut pipeline, &cfg.store);
        let next = st.next_incident();
        pipeline.engine_mut().gate.incidents.number_from(next);
    }
    let mut baselines_saved = Instant::now();
    // The web server starts after the privilege drop, so its thread never holds more.
    let web = start_web(&cfg, &source, &outs);
    if let Some(w) = &web {
        outs.web = Some(w.publisher.clone());
    }
    eprintln!(
        "netwatch: running on {} (profile {}, {} flows, fixed tables {:.1} MiB); alerts go to {}",
        sources
            .iter()
            .map(|s| s.iface.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.profile.name(),
        cfg.capacity.flows,
        pipeline.footprint_bytes() as f64 / 1048576.0,
        outs.describe(&cfg)
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_activity = Instant::now();
    let mut health = Health::new(&pipeline);
    let mut health_out: Vec<Alert> = Vec::new();
    let mut excluded_peer: Option<SocketAddr> = None;
    // PATCH /api/config wrote new settings: reload as SIGHUP does.
    let mut web_changed = false;
    loop {
        let ev = poll_fn(|cx| {
            if term.poll_recv(cx).is_ready() || int.poll_recv(cx).is_ready() {
                return Poll::Ready(Event::Stop);
            }
            if hup.poll_recv(cx).is_ready() || std::mem::take(&mut web_changed) {
                return Poll::Ready(Event::Reload);
            }
            if tick.poll_tick(cx).is_ready() {
                return Poll::Ready(Event::Tick);
            }
            for (i, s) in sources.iter().enumerate() {
                if s.more && s.cap.is_some() {
                    return Poll::Ready(Event::Read(i));
                }
                if let Some(a) = &s.afd {
                    if let Poll::Ready(r) = a.poll_read_ready(cx) {
                        // Clear first, then drain to empty: a frame arriving after this point
                        // raises readiness again.
                        if let Ok(mut g) = r {
                            g.clear_ready();
                        }
                        return Poll::Ready(Event::Read(i));
                    }
                }
            }
            Poll::Pending
        })
        .await;
        match ev {
            Event::Stop => break,
            Event::Reload => match reload() {
                Ok(mut new) => {
                    own_login_hosts(&mut new, &ifaces);
                    if new.capacity != cfg.capacity || new.profile != cfg.profile {
                        log::warn!("reloaded; capacity and profile changes take effect only after a restart");
                    } else {
                        // Always said, like the start line: whoever ran `uci commit` or sent
                        // SIGHUP looks for it in the log.
                        eprintln!(
                            "netwatch: reloaded thresholds, allowlists, timeouts and outputs"
                        );
                    }
                    pipeline.reconfigure(&new);
                    outs.configure(&new);
                    if let Some(w) = &web {
                        w.config.send_replace(std::sync::Arc::new(new.clone()));
                    }
                    cfg = new;
                    excluded_peer = None;
                    exclude_own(&mut pipeline, &cfg, &outs);
                }
                Err(e) => {
                    // After the privilege drop the file is read as daemon.user.
                    let hint = if e.contains("ermission denied") {
                        format!(" (netwatch now runs as `{}`: the file and its directories must be readable by it)", cfg.daemon.user)
                    } else {
                        String::new()
                    };
                    log::error!(
                        "reload refused, previous settings stay: {}{hint}",
                        e.split_whitespace().collect::<Vec<_>>().join(" ")
                    )
                }
            },
            Event::Read(i) => {
                let s = &mut sources[i];
                let Some(c) = s.cap.as_mut() else { continue };
                let lt = c.linktype;
                let mut n = 0;
                s.more = false;
                loop {
                    if n == BATCH {
                        s.more = true;
                        break;
                    }
                    match c.next_frame() {
                        Ok(Some(f)) => {
                            n += 1;
                            pipeline
                                .process(lt, f.ts_us, f.data, f.wire_len, &mut |a| outs.alert(a));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            log::warn!("{} went away ({e}); retrying with back-off", s.iface);
                            s.close();
                            s.retry_at = Instant::now() + s.backoff;
                            s.warned = true;
                            break;
                        }
                    }
                }
                if n > 0 {
                    last_activity = Instant::now();
                }
                if outs.store.as_ref().is_some_and(|st| st.batch_full()) {
                    if let Some(st) = outs.store.as_mut() {
                        let _ = st.flush();
                    }
                }
                if s.more {
                    // Let the syslog task run under sustained load.
                    tokio::task::yield_now().await;
                }
            }
            Event::Tick => {
                let now = Instant::now();
                if now.duration_since(last_activity) >= Duration::from_millis(500) {
                    // Quiet wire: packet time moves with the monotonic clock.
                    pipeline.idle(
                        now.duration_since(last_activity).as_micros() as u64,
                        &mut |a| outs.alert(a),
                    );
                    last_activity = now;
                }
                for s in sources.iter_mut() {
                    s.check_present(now);
                    s.try_open(&cfg, now);
                    if let Some(st) = s.cap.as_mut().and_then(|c| c.stats()) {
                        s.stats = st;
                    }
                }
                let peer = outs
                    .syslog
                    .as_ref()
                    .and_then(|s| s.stats.get(|c| c.peer).flatten());
                if peer != excluded_peer {
                    excluded_peer = peer;
                    exclude_own(&mut pipeline, &cfg, &outs);
                }
                outs.enrichments();
                outs.notify_tick();
                if outs.mqtt.is_some() {
                    let drops = sources
                        .iter()
                        .map(|s| s.stats.dropped_kernel + s.stats.dropped_interface)
                        .sum();
                    outs.mqtt_tick(&pipeline, drops, start.elapsed().as_secs());
                }
                if web.as_ref().is_some_and(|w| w.notify_test_requested()) {
                    match &outs.notify {
                        Some(n) => log::info!(
                            "notify: a test message to {} target(s), as asked over the web",
                            n.test()
                        ),
                        None => log::warn!(
                            "notify: a test message was asked for, but no target is configured"
                        ),
                    }
                }
                let requests = web
                    .as_ref()
                    .map(|w| w.take_block_requests())
                    .unwrap_or_default();
                outs.respond_tick(
                    requests,
                    now.duration_since(health.since) >= Duration::from_secs(60),
                );
                let labelled = match &web {
                    Some(w) => apply_labels(&mut pipeline, &w.take_labels()),
                    None => 0,
                };
                if let Some(st) = outs.store.as_mut() {
                    if labelled > 0 {
                        // A user's label is kept at once, not at the next periodic save.
                        save_devices(&pipeline, st);
                    }
                    pipeline.drain_minutes(|m| st.add_minute(m));
                    if now.duration_since(baselines_saved) >= BASELINE_SAVE_EVERY {
                        baselines_saved = now;
                        save_baselines(&pipeline, st);
                    }
                    let _ = st.flush();
                }
                if let Some(w) = &web {
                    w.publisher
                        .snapshot(snapshot(&pipeline, &cfg, &sources, &outs, start));
                }
                if now.duration_since(health.since) >= Duration::from_secs(60) {
                    let mut caps: Vec<CaptureMinute> = sources
                        .iter_mut()
                        .map(|s| CaptureMinute {
                            name: s.name,
                            now: s.stats,
                            at_start: &mut s.minute_stats,
                        })
                        .collect();
                    let syslog_dropped = outs
                        .syslog
                        .as_ref()
                        .map(|s| s.stats.get(|c| c.dropped).unwrap_or(0));
                    health.judge(
                        &cfg,
                        &pipeline,
                        &mut caps,
                        outs.store.as_ref(),
                        syslog_dropped,
                        &mut health_out,
                    );
                    let now = pipeline.clock().now();
                    for mut a in health_out.drain(..) {
                        let inc = &mut pipeline.engine_mut().gate.incidents;
                        inc.attach_unkeyed(now, &mut a);
                        outs.alert(&a);
                    }
                    log::info!("stats: {}", stats_json(&pipeline, &sources, &outs));
                }
                tokio::task::yield_now().await;
            }
        }
    }
    // Shutdown: judge what is pending, write it, give syslog up to a second to drain.
    pipeline.finish(&mut |a| outs.alert(a));
    outs.enrichments();
    if let Some(st) = outs.store.as_mut() {
        pipeline.drain_minutes(|m| st.add_minute(m));
        save_baselines(&pipeline, st);
        st.close();
    }
    if let Some(s) = outs.syslog.take() {
        let SyslogOut {
            tx, task, stats, ..
        } = s;
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        outs.syslog = None;
        if let Some((sent, dropped, errors)) = stats.get(|c| (c.sent, c.dropped, c.errors)) {
            eprintln!("netwatch: syslog sent {sent}, dropped {dropped}, errors {errors}");
        }
    }
    for s in sources.iter_mut() {
        if let Some(st) = s.cap.as_mut().and_then(|c| c.stats()) {
            s.stats = st;
        }
    }
    eprintln!("{}", stats_json(&pipeline, &sources, &outs));
    if let Some(w) = web {
        w.handle.stop();
    }
    Ok(())
}

/// How often the per-host baselines and the device inventory are written to the store (and
/// at shutdown).
pub const BASELINE_SAVE_EVERY: Duration = Duration::from_secs(600);

/// Give the pipeline the host baselines and the device inventory the store kept (a restart
/// keeps what was learnt).
pub fn load_baselines(p: &mut Pipeline, cfg: &crate::output::store::StoreConfig) {
    let devices = crate::output::store::load_devices(std::path::Path::new(&cfg.path), cfg.keep);
    if !devices.is_empty() {
        log::info!("devices: {} devices restored", devices.len());
    }
    p.devices_mut().restore(devices);
    let (since, rows) = crate::output::store::load_hosts(std::path::Path::new(&cfg.path), cfg.keep);
    let mut parsed: Vec<(crate::addr::Addr, crate::detect::hosts::Baseline)> = rows
        .iter()
        .filter_map(|(a, b)| {
            Some((
                crate::addr::Addr::from(a.parse::<std::net::IpAddr>().ok()?),
                crate::detect::hosts::Baseline::from_bytes(b)?,
            ))
        })
        .collect();
    if rows.len() != parsed.len() {
        log::warn!(
            "store: {} of {} host baselines unreadable; those hosts learn again",
            rows.len() - parsed.len(),
            rows.len()
        );
    }
    if !parsed.is_empty() {
        log::info!("anomaly.host: {} host baselines restored", parsed.len());
    }
    p.engine_mut().hosts.import(since, &mut parsed);
}

/// Queue a snapshot of every host baseline and of the device inventory for the store.
pub fn save_baselines(p: &Pipeline, st: &mut Store) {
    let h = &p.engine().hosts;
    let mut rows = Vec::with_capacity(h.entries() as usize);
    h.export(|a, b| rows.push((a.to_string(), b.to_bytes())));
    st.save_hosts(h.since, rows);
    save_devices(p, st);
}

/// Queue a snapshot of the device inventory for the store.
pub fn save_devices(p: &Pipeline, st: &mut Store) {
    st.save_devices(p.devices().iter().map(|(m, d)| (*m, d.clone())).collect());
}

/// Apply the labels users gave devices through the web API; how many applied (a device
/// forgotten in the meantime takes none).
pub fn apply_labels(p: &mut Pipeline, labels: &[crate::web::DeviceLabel]) -> usize {
    let mut n = 0;
    for l in labels {
        let mac = crate::state::devices::mac_text(&l.mac);
        match p.devices_mut().get_mut(&l.mac) {
            Some(d) => {
                d.label(l.name.as_deref(), l.kind);
                log::info!(
                    "devices: {mac} labelled{}{}",
                    l.name
                        .as_deref()
                        .map(|n| format!(" name {:?}", n))
                        .unwrap_or_default(),
                    l.kind
                        .map(|k| format!(" kind {}", k.as_str()))
                        .unwrap_or_default()
                );
                n += 1;
            }
            None => {
                log::warn!("devices: {mac} is no longer in the inventory; its label is dropped")
            }
        }
    }
    n
}

/// Start the web server when `web.listen` asks for it. A web that cannot start is logged and
/// left off: the sensor goes on without it.
fn start_web(cfg: &Config, source: &ConfigSource, outs: &Outputs) -> Option<crate::web::Web> {
    if cfg.web.listen.is_empty() {
        return None;
    }
    let token = match crate::web::resolve_token(cfg) {
        Ok(t) => t,
        Err(e) => {
            log::warn!("{e}; the web server is off");
            return None;
        }
    };
    let store = outs
        .store
        .as_ref()
        .map(|s| (s.path().to_path_buf(), cfg.store.keep));
    match crate::web::launch(cfg, source.clone(), token, store) {
        Ok(w) => w,
        Err(e) => {
            log::warn!("{e}; the web server is off, sensing goes on");
            None
        }
    }
}

/// The once-a-second snapshot the web reads.
fn snapshot(
    p: &Pipeline,
    cfg: &Config,
    sources: &[Source],
    outs: &Outputs,
    start: Instant,
) -> crate::web::Snapshot {
    let mut s = crate::web::Snapshot::of_pipeline(p, cfg, wall_us(), start.elapsed().as_secs());
    s.capture = sources
        .iter()
        .map(|src| crate::web::CaptureRow {
            iface: src.iface.clone(),
            stats: src.stats,
            up: src.cap.is_some(),
        })
        .collect();
    if let Some(sy) = &outs.syslog {
        if let Some((sent, dropped, errors)) = sy.stats.get(|c| (c.sent, c.dropped, c.errors)) {
            s.sinks.syslog_sent = sent;
            s.sinks.syslog_dropped = dropped;
            s.sinks.syslog_errors = errors;
        }
    }
    s.sinks.eve_errors = outs.eve.as_ref().map(|f| f.errors).unwrap_or(0);
    s.sinks.store = outs.store.as_ref().map(|st| st.counters);
    s.sinks.enrich = outs.enrich.as_ref().map(|e| e.counters());
    s.sinks.notify = outs.notify.as_ref().map(|n| n.counters());
    s.sinks.mqtt = outs.mqtt.as_ref().map(|m| m.counters());
    if let Some(r) = &outs.respond {
        s.sinks.respond = Some(r.counters.clone());
        s.blocks = std::sync::Arc::new(r.blocks().to_vec());
    }
    s.block_events = std::sync::Arc::new(outs.block_events.iter().cloned().collect());
    s.rss_bytes = crate::alloc::rss_bytes().unwrap_or(0);
    s.heap_bytes = crate::alloc::heap_bytes() as u64;
    s
}

/// Counters, capture drops and output counters as one JSON object.
fn stats_json(p: &Pipeline, sources: &[Source], outs: &Outputs) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2048);
    s.push_str("{\"counters\":");
    p.counters_json(&mut s);
    s.push_str(",\"capture\":{");
    for (i, src) in sources.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        crate::output::json::key(&mut s, &src.iface);
        let _ = write!(
            s,
            "{{\"received\":{},\"dropped_kernel\":{},\"dropped_interface\":{}}}",
            src.stats.received, src.stats.dropped_kernel, src.stats.dropped_interface
        );
    }
    let _ = write!(s, "}},\"own_traffic\":{}", p.own_traffic);
    if let Some(st) = &outs.store {
        let c = &st.counters;
        let _ = write!(
            s,
            ",\"store\":{{\"alerts_written\":{},\"minutes_written\":{},\"transactions\":{},\"errors\":{},\"dropped\":{},\"rotations\":{},\"corrupt_moved\":{},\"reopened\":{}}}",
            c.alerts_written, c.minutes_written, c.transactions, c.errors, c.dropped, c.rotations, c.corrupt_moved, c.reopened
        );
    }
    if let Some(f) = &outs.eve {
        let _ = write!(
            s,
            ",\"eve_file\":{{\"errors\":{},\"rotations\":{}}}",
            f.errors, f.rotations
        );
    }
    let _ = write!(
        s,
        ",\"run\":{{\"peak_rss_bytes\":{},\"peak_heap_bytes\":{}}}}}",
        crate::alloc::peak_rss_bytes().unwrap_or(0),
        crate::alloc::peak_heap_bytes()
    );
    s
}
