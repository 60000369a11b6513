//! Where the daemon's alerts go: EVE lines on stdout and/or a rotated file, the SQLite store,
//! syslog through its bounded queue, the web server's feed and the optional enrichment client.

use std::io::Write;

use crate::config::Config;
use crate::detect::Alert;
use crate::output::eve_file::EveFile;
use crate::output::store::Store;
use crate::output::syslog::{SyslogFormat, SyslogTarget};
use crate::output::syslog_transport::{start_syslog, target_name, SyslogOut};
use crate::output::{eve, syslog};

/// Where alerts go.
pub(super) struct Outputs {
    pub(super) stdout: bool,
    pub(super) eve: Option<EveFile>,
    pub(super) syslog: Option<SyslogOut>,
    pub(super) store: Option<Store>,
    pub(super) line: String,
    pub(super) hostname: String,
    pub(super) pid: u32,
    pub(super) stdout_failed: bool,
    /// The web's feed, when the web server runs.
    pub(super) web: Option<crate::web::Publisher>,
    /// Alert ids for the web when there is no store to number them.
    pub(super) web_ids: i64,
    /// LLM enrichment, when `enrich.endpoint` is set.
    pub(super) enrich: Option<crate::enrich::Enricher>,
    /// Notifications, when `[notify]` has targets.
    pub(super) notify: Option<crate::notify::Notifier>,
    /// MQTT (and Home Assistant), when `mqtt.broker` is set.
    pub(super) mqtt: Option<crate::notify::mqtt::Mqtt>,
    mqtt_feed: MqttFeed,
    /// Blocking, unless `respond.mode = "off"`.
    pub(super) respond: Option<crate::notify::respond::Responder>,
    /// The latest block events, newest first (at most `BLOCK_EVENTS_KEPT`).
    pub(super) block_events: std::collections::VecDeque<crate::notify::respond::Event>,
}

/// Block events the dashboard shows.
const BLOCK_EVENTS_KEPT: usize = 50;

/// What the MQTT summary is worked out from: the last one's time and packet count, and each
/// device's fingerprint as last published (at most the inventory's capacity).
#[derive(Default)]
struct MqttFeed {
    at: Option<std::time::Instant>,
    packets: u64,
    devices: std::collections::HashMap<crate::state::devices::Mac, u64>,
}

/// What a device message says that can change (not its timestamps or counters).
fn device_print(d: &crate::state::devices::Device) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&d.name[..], d.kind.as_str(), d.vendor.as_str(), d.services).hash(&mut h);
    (&d.upnp_server[..], &d.vendor_class[..]).hash(&mut h);
    for a in d.addrs() {
        a.to_string().hash(&mut h);
    }
    h.finish()
}

impl Outputs {
    pub(super) fn new(cfg: &Config) -> Outputs {
        let mut o = Outputs {
            stdout: cfg.eve.stdout,
            eve: None,
            syslog: None,
            store: (!cfg.store.path.is_empty()).then(|| Store::new(cfg.store.clone())),
            line: String::with_capacity(4096),
            hostname: String::new(),
            pid: std::process::id(),
            stdout_failed: false,
            web: None,
            web_ids: 0,
            enrich: None,
            notify: None,
            mqtt: None,
            mqtt_feed: MqttFeed::default(),
            respond: None,
            block_events: Default::default(),
        };
        if !cfg.store.path.is_empty() {
            let p = std::path::Path::new(&cfg.store.path);
            o.block_events =
                crate::output::store::block_log(p, cfg.store.keep, BLOCK_EVENTS_KEPT).into();
            let stored = crate::output::store::load_blocks(p, cfg.store.keep);
            o.respond = crate::notify::respond::Responder::start(
                &cfg.respond,
                &cfg.home_net,
                stored,
                super::health::wall_us(),
            );
        }
        o.configure(cfg);
        o
    }

    /// (Re)apply output settings; used at start and on SIGHUP.
    pub(super) fn configure(&mut self, cfg: &Config) {
        if self.enrich.as_ref().map(|e| &e.cfg) != Some(&cfg.enrich) {
            // Dropped: its thread ends after the request in flight; queued jobs are lost.
            self.enrich = crate::enrich::Enricher::start(&cfg.enrich);
        }
        if self.notify.as_ref().map(|n| &n.cfg) != Some(&cfg.notify) {
            // Dropped: messages still queued are lost (a delivery in flight ends on its own).
            self.notify = crate::notify::Notifier::start(&cfg.notify);
        }
        if self.mqtt.as_ref().map(|m| &m.cfg) != Some(&cfg.mqtt) {
            // Dropped: it says "offline" and disconnects; queued messages are lost.
            self.mqtt = crate::notify::mqtt::Mqtt::start(&cfg.mqtt);
            self.mqtt_feed = MqttFeed::default();
        }
        if self.respond.as_ref().map(|r| &r.cfg) != Some(&cfg.respond) {
            let kept = self.respond.take().map(|r| r.blocks().to_vec());
            let kept = kept.unwrap_or_else(|| {
                let p = std::path::Path::new(&cfg.store.path);
                if cfg.store.path.is_empty() {
                    Vec::new()
                } else {
                    crate::output::store::load_blocks(p, cfg.store.keep)
                }
            });
            self.respond = crate::notify::respond::Responder::start(
                &cfg.respond,
                &cfg.home_net,
                kept,
                super::health::wall_us(),
            );
            self.block_events_out();
        }
        self.stdout = cfg.eve.stdout;
        self.eve = (!cfg.eve.path.is_empty())
            .then(|| EveFile::new(&cfg.eve.path, cfg.eve.max_bytes, cfg.eve.keep));
        if self.syslog.as_ref().map(|s| &s.cfg) != Some(&cfg.syslog) {
            if let Some(old) = self.syslog.take() {
                old.task.abort();
            }
            self.syslog = start_syslog(&cfg.syslog);
        }
        self.hostname = if !cfg.syslog.hostname.is_empty() {
            cfg.syslog.hostname.clone()
        } else if matches!(cfg.syslog.target, SyslogTarget::Unix(_)) {
            String::new()
        } else {
            crate::addr::hostname()
        };
        match &mut self.store {
            Some(s) if s.path().as_os_str() != cfg.store.path.as_str() => log::warn!(
                "store.path changed to `{}`: takes effect after a restart",
                cfg.store.path
            ),
            Some(s) => s.set_limits(&cfg.store),
            None if !cfg.store.path.is_empty() => {
                log::warn!("store.path set: takes effect after a restart")
            }
            None => {}
        }
    }

    pub(super) fn alert(&mut self, a: &Alert) {
        let id = self.store.as_mut().and_then(|s| s.add_alert(a));
        if let Some(w) = &self.web {
            w.incident(a);
        }
        if a.suppressed {
            return;
        }
        let id = id.unwrap_or_else(|| {
            self.web_ids += 1;
            self.web_ids
        });
        if let Some(w) = &self.web {
            w.alert(crate::web::alert_message(id, a));
        }
        if let Some(r) = self.respond.as_mut() {
            let mut summary = String::new();
            let _ = a.summary(&mut summary);
            r.alert(a, id, &summary, super::health::wall_us());
            self.block_events_out();
        }
        if let Some(e) = self.enrich.as_ref().filter(|e| e.wants(a)) {
            e.submit(id, a);
        }
        if self.stdout || self.eve.is_some() || self.notify.is_some() || self.mqtt.is_some() {
            self.line.clear();
            eve::write_alert(&mut self.line, a);
            if let Some(n) = self.notify.as_mut() {
                n.alert(a, &self.line);
            }
            if let Some(m) = self.mqtt.as_mut() {
                m.alert(a, &self.line, super::health::wall_us());
            }
            if self.stdout && !self.stdout_failed {
                let mut o = std::io::stdout().lock();
                if o.write_all(self.line.as_bytes())
                    .and_then(|()| o.flush())
                    .is_err()
                {
                    self.stdout_failed = true;
                    log::error!("stdout is closed; EVE lines go to the other outputs only");
                }
            }
            if let Some(f) = self.eve.as_mut() {
                f.write_line(&self.line);
            }
        }
        if let Some(s) = &self.syslog {
            self.line.clear();
            syslog::format(
                &mut self.line,
                s.cfg.format,
                s.cfg.facility,
                &self.hostname,
                self.pid,
                a,
            );
            if s.tx.try_send(self.line.as_bytes().to_vec()).is_err() {
                s.stats.update(|c| c.dropped += 1);
            }
        }
    }

    /// Once a second: an hourly notification digest that is due.
    pub(super) fn notify_tick(&mut self) {
        if let Some(n) = self.notify.as_mut() {
            n.tick(super::health::wall_us());
        }
    }

    /// Every 10 s: the MQTT summary (packets/s, capture drops, devices; the alert counts are
    /// the sink's own), and each device learnt or changed since the last one.
    pub(super) fn mqtt_tick(&mut self, p: &crate::pipeline::Pipeline, drops: u64, uptime_s: u64) {
        let Some(m) = self.mqtt.as_mut() else { return };
        let now = std::time::Instant::now();
        let f = &mut self.mqtt_feed;
        let packets = p.counters.packets;
        let pps = match f.at {
            Some(t) if now.duration_since(t) < std::time::Duration::from_secs(10) => return,
            Some(t) => {
                packets.saturating_sub(f.packets) as f64 / now.duration_since(t).as_secs_f64()
            }
            None => 0.0,
        };
        f.at = Some(now);
        f.packets = packets;
        let devices = p.devices();
        m.stats(
            crate::notify::mqtt::ha::Summary {
                packets_per_s: pps,
                capture_drops: drops,
                devices: devices.len() as u32,
                uptime_s,
                ..Default::default()
            },
            super::health::wall_us(),
        );
        f.devices
            .retain(|mac, _| devices.iter().any(|(m2, _)| m2 == mac));
        for (mac, d) in devices.iter() {
            let print = device_print(d);
            if f.devices.insert(*mac, print) != Some(print) {
                let mut j = String::with_capacity(512);
                crate::web::device_json(&mut j, mac, d, None);
                let hex: String = crate::state::devices::mac_text(mac).replace(':', "");
                m.device(&hex, j);
            }
        }
    }

    /// Once a second: people's block requests, expiries (and once a minute the system's own
    /// addresses read again, the blocks in force written whole).
    pub(super) fn respond_tick(
        &mut self,
        requests: Vec<crate::notify::respond::Request>,
        minute: bool,
    ) {
        let Some(r) = self.respond.as_mut() else {
            return;
        };
        let now = super::health::wall_us();
        for q in requests {
            let _ = r.request(q, now);
        }
        r.tick(now, minute);
        if minute {
            if let Some(st) = self.store.as_mut() {
                st.save_blocks(r.blocks().to_vec());
            }
        }
        self.block_events_out();
    }

    /// Store and keep the responder's new events; the blocks in force are written whole when
    /// they changed.
    fn block_events_out(&mut self) {
        let Some(r) = self.respond.as_mut() else {
            return;
        };
        let events = r.take_events();
        if events.is_empty() {
            return;
        }
        let changed = events.iter().any(|e| e.action != "refuse");
        if let Some(st) = self.store.as_mut() {
            for e in &events {
                st.add_block_event(e.clone());
            }
            if changed {
                st.save_blocks(r.blocks().to_vec());
            }
        }
        for e in events {
            self.block_events.push_front(e);
        }
        self.block_events.truncate(BLOCK_EVENTS_KEPT);
    }

    /// Store and publish the language model's replies that arrived.
    pub(super) fn enrichments(&mut self) {
        let Some(e) = &self.enrich else { return };
        for (id, text) in e.take_results() {
            if let Some(st) = self.store.as_mut() {
                st.set_enrichment(id, &text);
            }
            if let Some(w) = &self.web {
                w.alert(crate::web::enrichment_message(id, &text));
            }
        }
    }

    pub(super) fn describe(&self, cfg: &Config) -> String {
        let mut to = Vec::new();
        if self.stdout {
            to.push("EVE JSON on stdout".to_string());
        }
        if !cfg.eve.path.is_empty() {
            to.push(format!("EVE JSON in {}", cfg.eve.path));
        }
        if let Some(s) = &self.store {
            to.push(format!("SQLite {}", s.path().display()));
        }
        if let Some(s) = &self.syslog {
            to.push(format!(
                "syslog {} ({})",
                target_name(&s.cfg.target),
                match s.cfg.format {
                    SyslogFormat::Rfc5424 => "RFC 5424",
                    SyslogFormat::Rfc3164 => "RFC 3164",
                }
            ));
        }
        if to.is_empty() {
            "nowhere (every output is off)".into()
        } else {
            to.join(", ")
        }
    }
}
