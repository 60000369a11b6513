//! The web server on the sensor: REST (`/api/...`), WebSockets (`/ws/alerts`,
//! `/ws/incidents`, `/ws/flows`, `/ws/stats`), Prometheus `/metrics` and `/healthz`.
//!
//! The web reads, it never reaches in. The pipeline thread publishes a [`Snapshot`] once a
//! second and every alert as one JSON text through a [`Publisher`]; neither ever waits (a
//! `watch` slot that is overwritten, a `broadcast` ring whose slow readers lose their oldest
//! entries). The server runs on one thread of its own (`netwatch-web`, a tokio
//! `current_thread` runtime) and reads only those and the SQLite store through read-only
//! connections. Rooms: `server` (listeners, limits, the connection loop), `http` (request
//! heads, responses and their security headers), `auth` (the token), `routes` (REST
//! handlers), `incidents` (`/api/incidents`, the incident backlog), `config_api` (`/api/config`), `ws` (WebSockets), `metrics` (Prometheus),
//! `assets` (the embedded dashboard), `config` (the `[web]` section).

mod assets;
mod auth;
mod blocks;
pub mod config;
mod config_api;
mod devices;
#[doc(hidden)]
pub mod fuzz;
mod http;
mod incidents;
mod metrics;
mod routes;
mod server;
mod ws;

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::addr::Addr;
use crate::capture::decode::DecodeError;
use crate::capture::CaptureStats;
use crate::config::Config;
use crate::detect::RuleId;
use crate::output::store::{IncidentRow, StoreCounters};
use crate::pipeline::Pipeline;
use crate::state::window::Summary;

pub use auth::{load_or_create_token, TOKEN_FILE};
pub use blocks::{BlockRequests, REQUESTS_QUEUED};
pub use devices::device_json;
pub use routes::{alert_message, enrichment_message};
pub use server::{iface_addrs, start, WebError, WebHandle, WebOptions};
pub use ws::BEHIND_LIMIT as WS_BEHIND_LIMIT;

/// Flows listed in a snapshot, per ordering (bytes, packets).
pub const TOP_FLOWS: usize = 25;
/// Newest window summaries of each resolution carried by a snapshot; the server merges them
/// into rings of its own, so a snapshot it misses (it reads only the newest) loses nothing
/// unless it is behind by more than this many seconds.
pub const RECENT_WINDOWS: usize = 15;
/// Alerts a new `/ws/alerts` client is sent first.
pub const ALERT_BACKLOG: usize = 50;
/// Alert messages each WebSocket client may fall behind before it loses the oldest.
pub const ALERT_QUEUE: usize = 256;

/// One flow as the web shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowRow {
    pub src: Addr,
    pub sport: u16,
    pub dst: Addr,
    pub dport: u16,
    pub proto: u8,
    pub packets: u64,
    pub bytes: u64,
    /// Wall-clock start, µs.
    pub first_ts: i64,
    /// Seconds since the flow's last packet (packet time).
    pub idle_s: u64,
}

/// One detector table's occupancy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableRow {
    pub name: &'static str,
    pub capacity: u64,
    pub entries: u64,
    pub evictions: u64,
}

/// Counters of one capture interface.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CaptureRow {
    pub iface: String,
    pub stats: CaptureStats,
    pub up: bool,
}

/// Counters of the outputs, as the daemon keeps them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SinkCounters {
    pub syslog_sent: u64,
    pub syslog_dropped: u64,
    pub syslog_errors: u64,
    pub eve_errors: u64,
    pub store: Option<StoreCounters>,
    /// LLM enrichment, when it is on.
    pub enrich: Option<crate::enrich::EnrichCounters>,
    /// Notifications, when targets are configured.
    pub notify: Option<crate::notify::NotifyCounters>,
    pub mqtt: Option<crate::notify::mqtt::MqttCounters>,
    pub respond: Option<crate::notify::respond::RespondCounters>,
}

/// What the pipeline publishes once a second.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Wall-clock time of the snapshot, µs.
    pub wall_us: i64,
    pub uptime_s: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Rates over the last closed second.
    pub pps: u64,
    pub bps: u64,
    pub decode_errors: [u64; DecodeError::COUNT],
    pub fragments: u64,
    pub dns_messages: u64,
    pub own_traffic: u64,
    pub flows_active: u64,
    pub flows_capacity: u64,
    pub flows_created: u64,
    pub flows_evicted: u64,
    pub flows_expired: u64,
    /// Detector tables: name, capacity, entries now, evictions so far.
    pub tables: Vec<TableRow>,
    pub alerts: [u64; RuleId::ALL.len()],
    pub alerts_suppressed: u64,
    pub capture: Vec<CaptureRow>,
    pub sinks: SinkCounters,
    pub rss_bytes: u64,
    pub heap_bytes: u64,
    pub top_by_bytes: Vec<FlowRow>,
    pub top_by_packets: Vec<FlowRow>,
    /// Newest closed windows: 1 s, 10 s, 60 s (oldest first).
    pub recent: [Vec<Summary>; 3],
    /// The device inventory (rebuilt with each snapshot: at most the table's capacity of
    /// rows).
    pub devices: Arc<Vec<(crate::state::devices::Mac, crate::state::devices::Device)>>,
    /// The blocks in force and the latest block events, newest first (`[respond]`).
    pub blocks: Arc<Vec<crate::notify::respond::Block>>,
    pub block_events: Arc<Vec<crate::notify::respond::Event>>,
    /// A replay has reached the end of its capture.
    pub finished: bool,
}

impl Snapshot {
    /// The pipeline's view: counters, rates, top flows and the newest windows. The caller adds
    /// capture, sink and process figures.
    pub fn of_pipeline(p: &Pipeline, cfg: &Config, wall_us: i64, uptime_s: u64) -> Snapshot {
        let c = &p.counters;
        let f = &p.flows().counters;
        let e = p.engine().counters();
        let ev = p.engine().evictions();
        let caps = &cfg.capacity;
        let mut s = Snapshot {
            wall_us,
            uptime_s,
            packets: c.packets,
            bytes: c.bytes,
            decode_errors: c.decode_errors,
            fragments: c.fragments,
            dns_messages: c.dns_messages,
            own_traffic: p.own_traffic,
            flows_active: p.flows().len() as u64,
            flows_capacity: p.flows().capacity() as u64,
            flows_created: f.created,
            flows_evicted: f.evicted,
            flows_expired: f.expired,
            tables: Vec::new(),
            alerts: e.alerts,
            alerts_suppressed: e.suppressed,
            ..Default::default()
        };
        let n = p.engine().entries();
        let caps = [
            (caps.scan_targets + caps.scan_sweeps) as u64,
            caps.syn_victims as u64,
            caps.login_pairs as u64,
            caps.dns_domains as u64,
            caps.beacon_pairs as u64,
            caps.suppression as u64,
        ];
        let evs = [
            ev.scan,
            ev.synflood,
            ev.bruteforce,
            ev.dns_tunnel,
            ev.beacon,
            e.suppression_evictions,
        ];
        let names = [
            "scan",
            "synflood",
            "bruteforce",
            "dns_tunnel",
            "beacon",
            "suppression",
        ];
        s.tables = (0..6)
            .map(|i| TableRow {
                name: names[i],
                capacity: caps[i],
                entries: n[i],
                evictions: evs[i],
            })
            .collect();
        let inc = &p.engine().gate.incidents;
        s.tables.push(TableRow {
            name: "incidents",
            capacity: cfg.capacity.suppression as u64,
            entries: inc.len() as u64,
            evictions: inc.evictions,
        });
        let hosts = &p.engine().hosts;
        s.tables.push(TableRow {
            name: "hosts",
            capacity: cfg.capacity.hosts as u64,
            entries: hosts.entries(),
            evictions: hosts.counters.evicted,
        });
        let devices = p.devices();
        s.tables.push(TableRow {
            name: "devices",
            capacity: devices.capacity() as u64,
            entries: devices.len() as u64,
            evictions: devices.counters.evicted,
        });
        for (i, span) in [1u32, 10, 60].into_iter().enumerate() {
            if let Some(r) = p.windows().history(span) {
                let skip = r.len().saturating_sub(RECENT_WINDOWS);
                s.recent[i] = r.iter().skip(skip).copied().collect();
            }
        }
        if let Some(last) = s.recent[0].last() {
            s.pps = last.packets;
            s.bps = last.bytes * 8;
        }
        s.devices = Arc::new(p.devices().iter().map(|(m, d)| (*m, d.clone())).collect());
        let now = p.clock().now();
        let (by_bytes, by_packets) = top_flows(p, now);
        s.top_by_bytes = by_bytes;
        s.top_by_packets = by_packets;
        s
    }
}

/// The `TOP_FLOWS` heaviest flows by bytes and by packets, heaviest first.
fn top_flows(p: &Pipeline, now: u64) -> (Vec<FlowRow>, Vec<FlowRow>) {
    let mut by_bytes: Vec<FlowRow> = Vec::with_capacity(TOP_FLOWS + 1);
    let mut by_packets: Vec<FlowRow> = Vec::with_capacity(TOP_FLOWS + 1);
    let keep = |v: &mut Vec<FlowRow>, r: FlowRow, w: fn(&FlowRow) -> u64| {
        if v.len() == TOP_FLOWS && v.last().is_some_and(|l| w(l) >= w(&r)) {
            return;
        }
        let at = v.partition_point(|x| w(x) >= w(&r));
        v.insert(at, r);
        v.truncate(TOP_FLOWS);
    };
    for (k, f) in p.flows().iter() {
        let (src, sport, dst, dport) = if f.init_is_a {
            (k.a, k.a_port, k.b, k.b_port)
        } else {
            (k.b, k.b_port, k.a, k.a_port)
        };
        let r = FlowRow {
            src,
            sport,
            dst,
            dport,
            proto: k.proto,
            packets: f.pkts[0] as u64 + f.pkts[1] as u64,
            bytes: f.bytes[0] + f.bytes[1],
            first_ts: f.first_ts,
            idle_s: now.saturating_sub(f.last) / 1_000_000,
        };
        keep(&mut by_bytes, r, |x| x.bytes);
        keep(&mut by_packets, r, |x| x.packets);
    }
    (by_bytes, by_packets)
}

/// The pipeline's end of the feed: never blocks, never fails.
#[derive(Clone)]
pub struct Publisher {
    snap: watch::Sender<Arc<Snapshot>>,
    alerts: broadcast::Sender<Arc<str>>,
    incidents: broadcast::Sender<Arc<IncidentRow>>,
    /// When each recent incident was last published (packet time, µs).
    repeats_sent: Arc<std::sync::Mutex<std::collections::VecDeque<(u64, i64)>>>,
}

/// The server's end.
#[derive(Clone)]
pub struct Feed {
    pub snap: watch::Receiver<Arc<Snapshot>>,
    pub alerts: broadcast::Sender<Arc<str>>,
    pub incidents: broadcast::Sender<Arc<IncidentRow>>,
}

/// A connected publisher and feed.
pub fn feed() -> (Publisher, Feed) {
    let (st, sr) = watch::channel(Arc::new(Snapshot::default()));
    let (at, _) = broadcast::channel(ALERT_QUEUE);
    let (it, _) = broadcast::channel(ALERT_QUEUE);
    (
        Publisher {
            snap: st,
            alerts: at.clone(),
            incidents: it.clone(),
            repeats_sent: Default::default(),
        },
        Feed {
            snap: sr,
            alerts: at,
            incidents: it,
        },
    )
}

/// Incidents whose held-back repeats are published at most once a second each.
const REPEAT_PUBLISH: usize = 64;

impl Publisher {
    /// Replace the published snapshot.
    pub fn snapshot(&self, s: Snapshot) {
        self.snap.send_replace(Arc::new(s));
    }

    /// A copy of the snapshot published last.
    pub fn latest(&self) -> Snapshot {
        (**self.snap.borrow()).clone()
    }

    /// Publish one alert as its JSON object (see `routes::alert_json`).
    pub fn alert(&self, json: String) {
        // No receiver is not an error: nobody is watching.
        let _ = self.alerts.send(Arc::from(json));
    }

    /// Publish the state of alert `a`'s incident: at every emitted alert, and for a held-back
    /// repeat at most once a second per incident (a fast scan repeats per probe).
    pub fn incident(&self, a: &crate::detect::Alert) {
        let id = a.incident.id;
        if id == 0 {
            return;
        }
        if let Ok(mut sent) = self.repeats_sent.lock() {
            match sent.iter_mut().find(|(i, _)| *i == id) {
                Some((_, t)) if a.suppressed && a.ts - *t < 1_000_000 => return,
                Some((_, t)) => *t = a.ts,
                None => {
                    if sent.len() == REPEAT_PUBLISH {
                        sent.pop_front();
                    }
                    sent.push_back((id, a.ts));
                }
            }
        }
        let mut summary = String::new();
        let _ = a.summary(&mut summary);
        let mut explanation = String::new();
        let _ = crate::detect::explain::explain(a, &mut explanation);
        let row = IncidentRow::from_alert(a, &summary, &explanation);
        let _ = self.incidents.send(Arc::new(row));
    }
}

/// A started web server with the pipeline's ends of its feed.
pub struct Web {
    pub publisher: Publisher,
    pub config: watch::Sender<Arc<Config>>,
    pub handle: WebHandle,
    /// Set when `PATCH /api/config` changed the overrides: reload (and clear it).
    pub reload: Arc<std::sync::atomic::AtomicBool>,
    /// Labels `PATCH /api/devices/{mac}` queued for the pipeline's owner to apply.
    pub labels: Labels,
    /// Set by `POST /api/notify/test`.
    pub notify_test: Arc<std::sync::atomic::AtomicBool>,
    /// Blocks and unblocks people asked for (`POST /api/blocks`, `DELETE /api/blocks/{addr}`).
    pub block_requests: BlockRequests,
}

/// A user's label for a device (`PATCH /api/devices/{mac}`): a name and/or a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLabel {
    pub mac: crate::state::devices::Mac,
    pub name: Option<String>,
    pub kind: Option<crate::state::devices::Kind>,
}

/// Labels waiting for the pipeline (at most `LABELS_QUEUED`).
pub type Labels = Arc<std::sync::Mutex<std::collections::VecDeque<DeviceLabel>>>;
pub const LABELS_QUEUED: usize = 64;

impl Web {
    /// The device labels queued since the last call, oldest first.
    pub fn take_labels(&self) -> Vec<DeviceLabel> {
        match self.labels.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The block requests queued since the last call, oldest first.
    pub fn take_block_requests(&self) -> Vec<crate::notify::respond::Request> {
        match self.block_requests.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// True once after `POST /api/notify/test` asked for a test message.
    pub fn notify_test_requested(&self) -> bool {
        self.notify_test
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// True once after `PATCH /api/config` wrote new settings.
    pub fn reload_requested(&self) -> bool {
        self.reload
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }
}

/// The token web clients must present, per `web.token`: generated into the state directory
/// on first use (announced once on stderr), fixed, or none.
pub fn resolve_token(cfg: &Config) -> Result<Option<String>, String> {
    match &cfg.web.token {
        config::WebToken::Off => Ok(None),
        config::WebToken::Fixed(t) => Ok(Some(t.clone())),
        config::WebToken::Generated => {
            let dir = cfg.state_dir();
            let (t, path, created) = load_or_create_token(&dir).map_err(|e| {
                format!(
                    "web token in {}: {e} (set web.token, or web.listen = [] to turn the web off)",
                    dir.display()
                )
            })?;
            if created {
                eprintln!(
                    "netwatch: web access token (new; kept in {}, `netwatch token` prints it): {t}",
                    path.display()
                );
            }
            Ok(Some(t))
        }
    }
}

/// Start the web server per `cfg.web` (None when `web.listen` is empty). `store` is the
/// database the API reads alerts and history from.
pub fn launch(
    cfg: &Config,
    source: crate::config::ConfigSource,
    token: Option<String>,
    store: Option<(std::path::PathBuf, u32)>,
) -> Result<Option<Web>, WebError> {
    if cfg.web.listen.is_empty() {
        return Ok(None);
    }
    let (publisher, feed) = feed();
    let (ctx, crx) = watch::channel(Arc::new(cfg.clone()));
    let reload = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let labels = Labels::default();
    let notify_test = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let block_requests = BlockRequests::default();
    let handle = start(
        WebOptions {
            web: cfg.web.clone(),
            token,
            store,
            config: crx,
            source,
            reload: reload.clone(),
            labels: labels.clone(),
            notify_test: notify_test.clone(),
            block_requests: block_requests.clone(),
        },
        feed,
    )?;
    let list: Vec<String> = handle
        .addrs
        .iter()
        .map(|a| format!("http://{a}/"))
        .collect();
    log::info!("web: listening on {}", list.join(", "));
    Ok(Some(Web {
        publisher,
        config: ctx,
        handle,
        reload,
        labels,
        notify_test,
        block_requests,
    }))
}
