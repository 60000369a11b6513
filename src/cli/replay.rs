//! `netwatch replay FILE...`: the whole pipeline over captures, alerts as EVE lines; with
//! `--serve` through the store and the web server at real time (or faster).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netwatch::alloc::{peak_heap_bytes, peak_rss_bytes};
use netwatch::capture::{CaptureError, FileCapture};
use netwatch::config::{Config, ConfigSource};
use netwatch::output::eve;
use netwatch::pipeline::Pipeline;

use super::{load_config, Fail};

pub const USAGE: &str = "\
netwatch replay FILE... [-c CONFIG | --uci UCIFILE] [--bpf EXPR] [--stats]
                   [--serve [--speed X] [--db FILE]]

Replays a capture file through the whole pipeline — decoding, flows, windows and every
detector — on packet time, so the alerts are the ones a live run would have raised. pcap and
pcapng (either byte order, micro- or nanosecond stamps, pcapng interfaces of different link
types) are read in place from memory maps; `-` reads standard input through libpcap.
Alerts are printed on stdout as EVE JSON lines. Several files are replayed in the order
given through one pipeline, as one capture (for example the pieces `tcpdump -C` or `-G`
rotated): a scan that spans two files is one scan.

OPTIONS:
    -c, --config FILE   TOML configuration (default: built-in defaults, `router` profile)
    --uci FILE          OpenWrt UCI configuration instead (e.g. /etc/config/netwatch)
    --bpf EXPR          Only packets matching this libpcap filter expression (compiled by
                        libpcap once per link type, applied to each record)
    --stats             At the end, print one JSON object on stderr: `counters`
                        (deterministic: identical on every run and architecture) and `run`
                        (elapsed_s, pps, peak_rss_bytes, peak_heap_bytes)
    --serve             Replay at the capture's own pace through the web server
                        ([web] listen and token, as `run` has them), so the REST API,
                        WebSockets and dashboard can be shown without live traffic; keeps
                        serving after the end until Ctrl-C or SIGTERM
    --speed X           With --serve: X times faster than real time (0.01..1000000)
    --db FILE           With --serve: keep the alerts in FILE (default: a temporary
                        database, removed at exit)
    -h, --help          This help

A truncated or corrupt capture is processed up to the damage; then the error says where it
stopped (which file, how many packets, the byte offset and what is wrong there), later files
are not read, and the exit code is 1.
";

/// Where replayed alerts go: EVE lines on stdout, and with `--serve` the store and the web.
struct ReplaySink<W: Write> {
    out: W,
    line: String,
    write_failed: bool,
    store: Option<netwatch::store::Store>,
    web: Option<netwatch::web::Publisher>,
    enrich: Option<netwatch::enrich::Enricher>,
}

impl<W: Write> ReplaySink<W> {
    /// Store and publish the language model's replies that arrived.
    fn enrichments(&mut self) {
        let Some(e) = &self.enrich else { return };
        for (id, text) in e.take_results() {
            if let Some(st) = self.store.as_mut() {
                st.set_enrichment(id, &text);
                let _ = st.flush();
            }
            if let Some(w) = &self.web {
                w.alert(netwatch::web::enrichment_message(id, &text));
            }
        }
    }

    fn alert(&mut self, a: &netwatch::detect::Alert) {
        let id = self.store.as_mut().and_then(|s| s.add_alert(a));
        if let Some(w) = &self.web {
            w.incident(a);
        }
        if a.suppressed {
            return;
        }
        self.line.clear();
        eve::write_alert(&mut self.line, a);
        if !self.write_failed && self.out.write_all(self.line.as_bytes()).is_err() {
            self.write_failed = true;
        }
        if let (Some(w), Some(id)) = (&self.web, id) {
            w.alert(netwatch::web::alert_message(id, a));
        }
        if let (Some(e), Some(id)) = (self.enrich.as_ref().filter(|e| e.wants(a)), id) {
            e.submit(id, a);
        }
    }
}

/// `--serve`: the web server, its store, and the pacing of the replay.
struct Serve {
    web: netwatch::web::Web,
    speed: f64,
    db: PathBuf,
    temporary: bool,
}

pub fn replay(mut p: lexopt::Parser) -> Result<(), Fail> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Fail::Usage(e.to_string());
    let (mut files, mut config, mut bpf, mut stats) =
        (Vec::new(), ConfigSource::Builtin, None, false);
    let (mut serve, mut speed, mut db) = (false, 1.0f64, None);
    while let Some(a) = p.next().map_err(usage)? {
        match a {
            Short('c') | Long("config") => {
                config = ConfigSource::Toml(PathBuf::from(p.value().map_err(usage)?))
            }
            Long("uci") => config = ConfigSource::Uci(PathBuf::from(p.value().map_err(usage)?)),
            Long("bpf") => bpf = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("stats") => stats = true,
            Long("serve") => serve = true,
            Long("speed") => {
                let v = p.value().map_err(usage)?.string().map_err(usage)?;
                speed = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.01 && *x <= 1e6)
                    .ok_or_else(|| {
                        Fail::Usage(format!(
                            "--speed needs a factor from 0.01 to 1000000, not `{v}`"
                        ))
                    })?;
            }
            Long("db") => db = Some(PathBuf::from(p.value().map_err(usage)?)),
            Long("help") | Short('h') => {
                print!("{USAGE}");
                return Ok(());
            }
            Value(v) => files.push(PathBuf::from(v)),
            a => return Err(Fail::Usage(a.unexpected().to_string())),
        }
    }
    if files.is_empty() {
        return Err(Fail::Usage("replay needs a capture FILE".into()));
    }
    if !serve && (db.is_some() || speed != 1.0) {
        return Err(Fail::Usage("--speed and --db go with --serve".into()));
    }
    let mut cfg = load_config(&config)?;
    // Every file opens (and its filter compiles) before the first packet.
    let mut caps = Vec::with_capacity(files.len());
    for file in &files {
        let cap = FileCapture::open(file, bpf.as_deref()).map_err(|e| match e {
            CaptureError::Filter { .. } => Fail::Config(e.to_string()),
            _ => Fail::Runtime(e.to_string()),
        })?;
        caps.push(cap);
    }
    let started = Instant::now();
    let mut pipeline = Pipeline::new(&cfg);
    let stdout = std::io::stdout();
    let mut sink = ReplaySink {
        out: std::io::BufWriter::with_capacity(64 * 1024, stdout.lock()),
        line: String::with_capacity(4096),
        write_failed: false,
        store: None,
        web: None,
        enrich: None,
    };
    let mut served = None;
    if serve {
        netwatch::logger::init(log::LevelFilter::Info);
        if cfg.web.listen.is_empty() {
            return Err(Fail::Config(
                "--serve needs web.listen (it is empty in this config)".into(),
            ));
        }
        let (db, temporary) = match db {
            Some(d) => (d, false),
            None => (
                std::env::temp_dir().join(format!("netwatch-replay-{}.db", std::process::id())),
                true,
            ),
        };
        let mut scfg = cfg.store.clone();
        scfg.path = db.display().to_string();
        let store = netwatch::store::Store::new(scfg);
        let token = netwatch::web::resolve_token(&cfg).map_err(Fail::Runtime)?;
        let web = netwatch::web::launch(
            &cfg,
            config.clone(),
            token,
            Some((db.clone(), cfg.store.keep)),
        )
        .map_err(|e| Fail::Runtime(e.to_string()))?
        .ok_or_else(|| Fail::Config("--serve needs web.listen".into()))?;
        for a in &web.handle.addrs {
            eprintln!("netwatch: serving the replay on http://{a}/ (speed x{speed})");
        }
        pipeline.report_repeats(true);
        let next = store.next_incident();
        pipeline.engine_mut().gate.incidents.number_from(next);
        sink.store = Some(store);
        sink.web = Some(web.publisher.clone());
        sink.enrich = netwatch::enrich::Enricher::start(&cfg.enrich);
        served = Some(Serve {
            web,
            speed,
            db,
            temporary,
        });
    }
    let mut failure = None;
    let mut first_ts: Option<i64> = None;
    let mut last_sec = i64::MIN;
    let mut next_check_ts = i64::MIN;
    for (file, mut cap) in files.iter().zip(caps) {
        let res = match &served {
            // The plain replay's loop has nothing of the web in it.
            None => cap.for_each(|f| {
                pipeline.process(f.linktype, f.ts_us, f.data, f.wire_len, &mut |a| {
                    sink.alert(a)
                })
            }),
            Some(s) => {
                // Capture time between two looks at the clock: a millisecond of replay time, and
                // at most a second of capture time (a snapshot per second of capture).
                let step_us = ((1000.0 * s.speed) as i64).clamp(1, 1_000_000);
                cap.for_each(|f| {
                    // (The second test: time stepped far back, e.g. after one bogus timestamp.)
                    if f.ts_us >= next_check_ts || next_check_ts - f.ts_us > 2 * step_us {
                        next_check_ts = f.ts_us + step_us;
                        // Real time (or `speed` times faster).
                        let t0 = *first_ts.get_or_insert(f.ts_us);
                        let due =
                            Duration::from_micros(((f.ts_us - t0).max(0) as f64 / s.speed) as u64);
                        let el = started.elapsed();
                        if due > el {
                            std::thread::sleep(due - el);
                        }
                        if f.ts_us.div_euclid(1_000_000) > last_sec {
                            last_sec = f.ts_us.div_euclid(1_000_000);
                            netwatch::daemon::apply_labels(&mut pipeline, &s.web.take_labels());
                            publish(&pipeline, &cfg, &mut sink, s, f.ts_us, started, false);
                            if s.web.reload_requested() {
                                // PATCH /api/config: apply as the daemon does on SIGHUP.
                                match config.load() {
                                    Ok((new, _)) => {
                                        pipeline.reconfigure(&new);
                                        s.web.config.send_replace(std::sync::Arc::new(new.clone()));
                                        cfg = new;
                                        log::info!("reloaded thresholds, allowlists and timeouts");
                                    }
                                    Err(e) => {
                                        log::error!("reload refused, previous settings stay: {e}")
                                    }
                                }
                            }
                        }
                    }
                    pipeline.process(f.linktype, f.ts_us, f.data, f.wire_len, &mut |a| {
                        sink.alert(a)
                    })
                })
            }
        };
        if let Err(e) = res {
            failure = Some(format!("{}: {e}", file.display()));
            break;
        }
    }
    pipeline.finish(&mut |a| sink.alert(a));
    let _ = sink.out.flush();
    if stats {
        let elapsed = started.elapsed().as_secs_f64();
        let mut s = String::with_capacity(2048);
        s.push_str("{\"counters\":");
        pipeline.counters_json(&mut s);
        let pkts = pipeline.counters.packets;
        s.push_str(&format!(
            ",\"run\":{{\"elapsed_s\":{:.3},\"pps\":{:.0},\"peak_rss_bytes\":{},\"peak_heap_bytes\":{}}}}}",
            elapsed,
            if elapsed > 0.0 { pkts as f64 / elapsed } else { 0.0 },
            peak_rss_bytes().unwrap_or(0),
            peak_heap_bytes()
        ));
        eprintln!("{s}");
    }
    if let Some(s) = served {
        let last = first_ts.map(|_| last_sec * 1_000_000).unwrap_or(0);
        sink.enrichments();
        publish(&pipeline, &cfg, &mut sink, &s, last, started, true);
        match &failure {
            Some(m) => eprintln!("netwatch: {m}"),
            None => eprintln!("netwatch: replay finished; still serving (Ctrl-C or SIGTERM stops)"),
        }
        // Settings changed through the web after the end still reach /api/config.
        wait_for_stop(&mut || {
            // Device labels given after the end show in the next snapshot.
            if netwatch::daemon::apply_labels(&mut pipeline, &s.web.take_labels()) > 0 {
                publish(&pipeline, &cfg, &mut sink, &s, last, started, true);
            }
            // Replies of the language model keep arriving after the capture's end.
            sink.enrichments();
            if let (Some(e), Some(st)) = (&sink.enrich, sink.store.as_mut()) {
                let mut snap = s.web.publisher.latest();
                snap.sinks.enrich = Some(e.counters());
                snap.sinks.store = Some(st.counters);
                s.web.publisher.snapshot(snap);
            }
            if s.web.reload_requested() {
                match config.load() {
                    Ok((new, _)) => {
                        s.web.config.send_replace(std::sync::Arc::new(new));
                        log::info!("reloaded thresholds, allowlists and timeouts");
                    }
                    Err(e) => log::error!("reload refused, previous settings stay: {e}"),
                }
            }
        });
        if let Some(st) = sink.store.as_mut() {
            st.close();
        }
        s.web.handle.stop();
        if s.temporary {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", s.db.display()));
            }
        }
    }
    match failure {
        Some(m) => Err(Fail::Runtime(m)),
        None => Ok(()),
    }
}

/// Flush the replay's store and publish a snapshot at capture time `ts_us`.
fn publish<W: Write>(
    p: &Pipeline,
    cfg: &Config,
    sink: &mut ReplaySink<W>,
    s: &Serve,
    ts_us: i64,
    started: Instant,
    finished: bool,
) {
    let mut snap = netwatch::web::Snapshot::of_pipeline(p, cfg, ts_us, started.elapsed().as_secs());
    if let Some(st) = sink.store.as_mut() {
        let _ = st.flush();
        snap.sinks.store = Some(st.counters);
    }
    snap.sinks.enrich = sink.enrich.as_ref().map(|e| e.counters());
    snap.rss_bytes = netwatch::alloc::rss_bytes().unwrap_or(0);
    snap.heap_bytes = netwatch::alloc::heap_bytes() as u64;
    snap.finished = finished;
    s.web.publisher.snapshot(snap);
}

/// Block until SIGINT or SIGTERM, calling `every_second` meanwhile.
fn wait_for_stop(every_second: &mut dyn FnMut()) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => every_second(),
            }
        }
    });
}
