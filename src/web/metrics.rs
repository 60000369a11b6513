//! `GET /metrics`: the Prometheus text exposition format (version 0.0.4), one `# HELP` and
//! `# TYPE` line per family, label values escaped (`\\`, `"`, newline).

use std::fmt::Write;

use super::server::WebCounters;
use super::Snapshot;
use crate::capture::decode::DecodeError;
use crate::detect::RuleId;

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"");
                for c in val.chars() {
                    match c {
                        '\\' => self.0.push_str("\\\\"),
                        '"' => self.0.push_str("\\\""),
                        '\n' => self.0.push_str("\\n"),
                        c => self.0.push(c),
                    }
                }
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {v}");
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, v: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }
}

pub fn render(s: &Snapshot, w: &WebCounters) -> String {
    let mut o = Out(String::with_capacity(4096));
    o.one(
        "netwatch_packets_total",
        "counter",
        "Packets seen by the pipeline.",
        s.packets,
    );
    o.one(
        "netwatch_bytes_total",
        "counter",
        "Bytes on the wire seen by the pipeline.",
        s.bytes,
    );
    o.family(
        "netwatch_capture_received_total",
        "counter",
        "Packets the capture received, per interface (libpcap ps_recv).",
    );
    for c in &s.capture {
        o.sample(
            "netwatch_capture_received_total",
            &[("interface", &c.iface)],
            c.stats.received,
        );
    }
    o.family(
        "netwatch_capture_dropped_total",
        "counter",
        "Packets lost before the pipeline, per interface and where (kernel buffer or interface).",
    );
    for c in &s.capture {
        o.sample(
            "netwatch_capture_dropped_total",
            &[("interface", &c.iface), ("where", "kernel")],
            c.stats.dropped_kernel,
        );
        o.sample(
            "netwatch_capture_dropped_total",
            &[("interface", &c.iface), ("where", "interface")],
            c.stats.dropped_interface,
        );
    }
    o.family(
        "netwatch_decode_errors_total",
        "counter",
        "Frames or DNS messages that could not be decoded, by reason.",
    );
    for e in DecodeError::ALL {
        o.sample(
            "netwatch_decode_errors_total",
            &[("reason", e.name())],
            s.decode_errors[e as usize],
        );
    }
    o.one(
        "netwatch_flows_active",
        "gauge",
        "Flows in the flow table.",
        s.flows_active,
    );
    o.one(
        "netwatch_flows_capacity",
        "gauge",
        "Capacity of the flow table.",
        s.flows_capacity,
    );
    o.one(
        "netwatch_flows_created_total",
        "counter",
        "Flows created.",
        s.flows_created,
    );
    o.one(
        "netwatch_flows_evicted_total",
        "counter",
        "Flows evicted because the table was full.",
        s.flows_evicted,
    );
    o.one(
        "netwatch_flows_expired_total",
        "counter",
        "Flows that ended or timed out.",
        s.flows_expired,
    );
    o.family(
        "netwatch_table_capacity",
        "gauge",
        "Capacity of each detector table.",
    );
    for t in &s.tables {
        o.sample("netwatch_table_capacity", &[("table", t.name)], t.capacity);
    }
    o.family(
        "netwatch_table_entries",
        "gauge",
        "Entries in each detector table now.",
    );
    for t in &s.tables {
        o.sample("netwatch_table_entries", &[("table", t.name)], t.entries);
    }
    o.family(
        "netwatch_table_evictions_total",
        "counter",
        "Entries evicted from each detector table because it was full.",
    );
    for t in &s.tables {
        o.sample(
            "netwatch_table_evictions_total",
            &[("table", t.name)],
            t.evictions,
        );
    }
    o.family(
        "netwatch_alerts_total",
        "counter",
        "Alerts raised, per rule.",
    );
    for r in RuleId::ALL {
        o.sample(
            "netwatch_alerts_total",
            &[("rule", r.name())],
            s.alerts[r as usize],
        );
    }
    o.one(
        "netwatch_alerts_suppressed_total",
        "counter",
        "Repeats of an alert held back by suppression.",
        s.alerts_suppressed,
    );
    let k = &s.sinks;
    o.family(
        "netwatch_sink_dropped_total",
        "counter",
        "Alerts or messages an output had to drop (its queue was full).",
    );
    o.sample(
        "netwatch_sink_dropped_total",
        &[("sink", "syslog")],
        k.syslog_dropped,
    );
    o.sample(
        "netwatch_sink_dropped_total",
        &[("sink", "store")],
        k.store.map(|c| c.dropped).unwrap_or(0),
    );
    o.sample(
        "netwatch_sink_dropped_total",
        &[("sink", "websocket")],
        w.ws_messages_dropped,
    );
    o.sample(
        "netwatch_sink_dropped_total",
        &[("sink", "enrich")],
        k.enrich.as_ref().map(|c| c.dropped).unwrap_or(0),
    );
    o.sample(
        "netwatch_sink_dropped_total",
        &[("sink", "notify")],
        k.notify.as_ref().map(|c| c.dropped).unwrap_or(0),
    );
    o.sample(
        "netwatch_sink_dropped_total",
        &[("sink", "mqtt")],
        k.mqtt.as_ref().map(|c| c.dropped).unwrap_or(0),
    );
    if let Some(r) = &k.respond {
        o.one(
            "netwatch_blocks",
            "gauge",
            "Addresses blocked now (respond).",
            s.blocks.len() as u64,
        );
        o.family(
            "netwatch_block_events_total",
            "counter",
            "Blocks made, lifted by hand, expired, refused by the guard rails; nft failures.",
        );
        for (action, v) in [
            ("block", r.blocked),
            ("unblock", r.unblocked),
            ("expire", r.expired),
            ("refuse", r.refused),
            ("nft_error", r.nft_errors),
        ] {
            o.sample("netwatch_block_events_total", &[("action", action)], v);
        }
    }
    if let Some(m) = &k.mqtt {
        o.one(
            "netwatch_mqtt_connected",
            "gauge",
            "1 while the MQTT broker has accepted the session.",
            u64::from(m.connected),
        );
        o.one(
            "netwatch_mqtt_published_total",
            "counter",
            "MQTT messages the broker acknowledged.",
            m.published,
        );
        o.one(
            "netwatch_mqtt_errors_total",
            "counter",
            "MQTT connection attempts and sessions that failed, and messages the broker refused.",
            m.errors,
        );
        o.one(
            "netwatch_mqtt_waiting",
            "gauge",
            "MQTT messages waiting to be sent.",
            m.waiting,
        );
    }
    if let Some(n) = &k.notify {
        o.family(
            "netwatch_notify_messages_total",
            "counter",
            "Notification messages, by outcome (one per target).",
        );
        for (outcome, v) in [
            ("delivered", n.delivered),
            ("failed", n.failed),
            ("retried", n.retried),
        ] {
            o.sample("netwatch_notify_messages_total", &[("outcome", outcome)], v);
        }
        o.family(
            "netwatch_notify_alerts_not_sent_total",
            "counter",
            "Alerts not sent on their own: their episode was announced, or the hour's budget was spent (then in a digest).",
        );
        o.sample(
            "netwatch_notify_alerts_not_sent_total",
            &[("why", "same_episode")],
            n.same_episode,
        );
        o.sample(
            "netwatch_notify_alerts_not_sent_total",
            &[("why", "digest")],
            n.held,
        );
        o.one(
            "netwatch_notify_waiting",
            "gauge",
            "Notification messages waiting for delivery.",
            n.waiting,
        );
    }
    if let Some(e) = &k.enrich {
        o.family(
            "netwatch_enrich_requests_total",
            "counter",
            "Requests to the language model, by outcome.",
        );
        o.sample("netwatch_enrich_requests_total", &[("outcome", "ok")], e.ok);
        o.sample(
            "netwatch_enrich_requests_total",
            &[("outcome", "failed")],
            e.failed,
        );
        o.one(
            "netwatch_enrich_timeouts_total",
            "counter",
            "Requests to the language model that timed out (also counted as failed).",
            e.timeouts,
        );
        o.one(
            "netwatch_enrich_waiting",
            "gauge",
            "Alerts waiting for the language model.",
            e.waiting,
        );
    }
    o.family(
        "netwatch_sink_errors_total",
        "counter",
        "Write errors of an output.",
    );
    o.sample(
        "netwatch_sink_errors_total",
        &[("sink", "syslog")],
        k.syslog_errors,
    );
    o.sample(
        "netwatch_sink_errors_total",
        &[("sink", "eve_file")],
        k.eve_errors,
    );
    o.one(
        "netwatch_store_errors_total",
        "counter",
        "Failed SQLite store operations.",
        k.store.map(|c| c.errors).unwrap_or(0),
    );
    o.one(
        "netwatch_store_alerts_written_total",
        "counter",
        "Alerts written to the SQLite store.",
        k.store.map(|c| c.alerts_written).unwrap_or(0),
    );
    o.one(
        "netwatch_uptime_seconds",
        "gauge",
        "Seconds since the sensor started.",
        s.uptime_s,
    );
    o.one(
        "netwatch_resident_memory_bytes",
        "gauge",
        "Resident set size of the process.",
        s.rss_bytes,
    );
    o.one(
        "netwatch_web_requests_total",
        "counter",
        "HTTP requests served.",
        w.requests,
    );
    o.one(
        "netwatch_web_rejected_total",
        "counter",
        "HTTP requests or connections refused for breaking a limit.",
        w.rejected_limits + w.connections_refused,
    );
    o.one(
        "netwatch_web_unauthorized_total",
        "counter",
        "Requests without the right token.",
        w.unauthorized,
    );
    o.one(
        "netwatch_websocket_clients",
        "gauge",
        "WebSocket clients connected.",
        w.ws_clients,
    );
    o.one(
        "netwatch_websocket_cut_off_total",
        "counter",
        "WebSocket clients disconnected for falling too far behind.",
        w.ws_cut_off,
    );
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::CaptureRow;

    #[test]
    fn families_have_help_and_type_and_labels_are_escaped() {
        let mut s = Snapshot {
            packets: 42,
            ..Default::default()
        };
        s.capture.push(CaptureRow {
            iface: "we\"ird\\if\n".into(),
            ..Default::default()
        });
        let t = render(&s, &WebCounters::default());
        assert!(t.contains("netwatch_packets_total 42\n"));
        assert!(t.contains("interface=\"we\\\"ird\\\\if\\n\""));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(t.contains(&format!("# TYPE {name} ")), "{name} has no TYPE");
            assert!(t.contains(&format!("# HELP {name} ")), "{name} has no HELP");
        }
    }
}
