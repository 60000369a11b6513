//! `GET /api/config` (the running configuration, the token redacted) and `PATCH /api/config`
//! (thresholds, allowlists and suppression changed through the web, kept as overrides).

use std::fmt::Write;

use super::config::WebToken;
use super::http::Response;
use super::server::Ctx;
use crate::config::Config;
use crate::output::json;
use crate::settings::Allow;

/// `PATCH /api/config`: a JSON object of thresholds, allowlists and suppression (the TOML
/// file's shape: `{"rules":{"portscan":{"vertical_ports":20}},"alerts":{"suppress_s":120}}`).
/// Validated exactly as the file is, over the file and the earlier changes; kept in the state
/// directory's overrides file (the daemon runs unprivileged and cannot rewrite its config);
/// applied at the pipeline's next tick as SIGHUP applies. An invalid value changes nothing.
pub fn patch_config(body: &[u8], ctx: &Ctx) -> Response {
    use crate::config::{merge_tables, write_toml, ConfigError, ConfigSource};
    let refuse = |e: ConfigError| {
        let mut b = String::from("{\"error\":");
        json::string(&mut b, &e.to_string());
        if let ConfigError::Invalid { key, .. } = &e {
            b.push_str(",\"key\":");
            json::string(&mut b, key);
        }
        b.push('}');
        Response::json(422, b)
    };
    let v = match crate::json_reader::parse(body) {
        Ok(v @ crate::json_reader::JsonValue::Object(_)) => v,
        Ok(_) => return Response::error(400, "the body must be a JSON object"),
        Err(e) => return Response::error(400, &e.to_string()),
    };
    let patch = match v.to_toml("") {
        Ok(toml::Value::Table(t)) => t,
        Ok(_) => return Response::error(400, "the body must be a JSON object"),
        Err(m) => return Response::error(422, &m),
    };
    if let Err(e) = crate::config::check_override_keys(&patch) {
        return refuse(e);
    }
    let (base, base_cfg) = match ctx.opts.source.base() {
        Ok(x) => x,
        Err(e) => return Response::error(409, &format!("the config file cannot be used now: {e}")),
    };
    let (path, current) = match ConfigSource::overrides(&base_cfg) {
        Ok(x) => x,
        Err(e) => return Response::error(409, &e.to_string()),
    };
    let mut over = current.unwrap_or_default();
    merge_tables(&mut over, &patch);
    let new = match ConfigSource::layered(&base, &over) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let write = || -> std::io::Result<()> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = path.with_extension("toml.tmp");
        let text = format!(
            "# Settings changed through the web API (PATCH /api/config), laid over the config file.\n\
             # Delete this file to go back to the config file's values.\n{}",
            write_toml(&over)
        );
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        log::warn!("web: cannot write {}: {e}", path.display());
        return Response::error(
            500,
            &format!("cannot keep the change in {}: {e}", path.display()),
        );
    }
    log::info!(
        "web: configuration changed through the API; kept in {}",
        path.display()
    );
    ctx.opts
        .reload
        .store(true, std::sync::atomic::Ordering::Relaxed);
    Response::json(200, config_json(&new))
}

/// A small JSON object writer for the config view.
struct Obj<'a> {
    b: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(b: &'a mut String) -> Obj<'a> {
        b.push('{');
        Obj { b, first: true }
    }
    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.b.push(',');
        }
        self.first = false;
        json::key(self.b, k);
        self.b
    }
    fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        let _ = write!(self.key(k), "{v}");
    }
    fn str(&mut self, k: &str, v: &str) {
        json::string(self.key(k), v);
    }
    fn strs<T: std::fmt::Display>(&mut self, k: &str, v: &[T]) {
        let b = self.key(k);
        b.push('[');
        for (i, x) in v.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            json::string(b, &x.to_string());
        }
        b.push(']');
    }
    fn allow(&mut self, a: &Allow) {
        self.strs("allow_src", &a.src);
        self.strs("allow_dst", &a.dst);
        self.strs("allow_ports", a.ports.as_slice());
    }
    fn close(self) {
        self.b.push('}');
    }
}

/// The effective configuration, token redacted.
pub fn config_json(c: &Config) -> String {
    let mut b = String::with_capacity(4096);
    let mut o = Obj::open(&mut b);
    o.str("profile", c.profile.name());
    o.strs("home_net", &c.home_net);
    o.num("suppress_s", c.suppress_s);
    o.num("incident_idle_s", c.incident_idle_s);
    {
        let cap = &c.capacity;
        let mut t = Obj::open(o.key("capacity"));
        t.num("flows", cap.flows);
        t.num("scan_targets", cap.scan_targets);
        t.num("scan_sweeps", cap.scan_sweeps);
        t.num("syn_victims", cap.syn_victims);
        t.num("login_pairs", cap.login_pairs);
        t.num("dns_domains", cap.dns_domains);
        t.num("beacon_pairs", cap.beacon_pairs);
        t.num("suppression", cap.suppression);
        t.num("devices", cap.devices);
        t.close();
    }
    {
        let r = &c.rules;
        let mut rules = Obj::open(o.key("rules"));
        {
            let p = &r.portscan;
            let mut t = Obj::open(rules.key("portscan"));
            t.num("enabled", p.enabled);
            t.num("vertical_ports", p.vertical_ports);
            t.num("horizontal_hosts", p.horizontal_hosts);
            t.num("window_s", p.window_s);
            t.allow(&p.allow);
            t.close();
        }
        {
            let p = &r.synflood;
            let mut t = Obj::open(rules.key("synflood"));
            t.num("enabled", p.enabled);
            t.num("syn_rate", p.syn_rate);
            t.num("max_completion", p.max_completion);
            t.allow(&p.allow);
            t.close();
        }
        {
            let p = &r.bruteforce;
            let mut t = Obj::open(rules.key("bruteforce"));
            t.num("enabled", p.enabled);
            t.num("attempts", p.attempts);
            t.num("window_s", p.window_s);
            t.strs("ports", p.ports.as_slice());
            t.strs("http_ports", p.http_ports.as_slice());
            t.num("web_logins", p.web_logins);
            t.strs("form_login_hosts", &p.form_login_hosts);
            t.strs("form_login_paths", &p.form_login_paths);
            t.num("slow_attempts", p.slow.0);
            t.num("slow_window_s", p.slow.1);
            t.num("long_attempts", p.long.0);
            t.num("long_window_s", p.long.1);
            t.num("max_attempt_duration_s", p.max_attempt_duration_s);
            t.num("max_reply_bytes", p.max_reply_bytes);
            t.allow(&p.allow);
            t.close();
        }
        {
            let p = &r.dns_tunnel;
            let mut t = Obj::open(rules.key("dns_tunnel"));
            t.num("enabled", p.enabled);
            t.num("window_s", p.window_s);
            t.num("min_queries", p.min_queries);
            t.num("min_unique", p.min_unique);
            t.num("name_bytes", p.name_bytes);
            t.num("long_label", p.long_label);
            t.num("entropy_milli", p.entropy_milli);
            t.strs("allow_domains", &p.allow_domains);
            t.allow(&p.allow);
            t.close();
        }
        {
            let p = &r.beacon;
            let mut t = Obj::open(rules.key("beacon"));
            t.num("enabled", p.enabled);
            t.num("min_connections", p.min_connections);
            t.num("max_chance", p.max_chance);
            t.num("max_jitter", p.max_jitter);
            t.num("min_interval_s", p.min_interval_us as f64 / 1e6);
            t.num("max_interval_s", p.max_interval_s);
            t.allow(&p.allow);
            t.close();
        }
        rules.close();
    }
    {
        let s = &c.store;
        let mut t = Obj::open(o.key("store"));
        t.str("path", &s.path);
        t.num("max_kib", s.max_bytes / 1024);
        t.num("keep", s.keep);
        t.close();
    }
    {
        let mut t = Obj::open(o.key("capture"));
        t.strs("interfaces", &c.capture.interfaces);
        t.str("bpf", &c.capture.bpf);
        t.close();
    }
    {
        let w = &c.web;
        let mut t = Obj::open(o.key("web"));
        t.strs("listen", &w.listen);
        t.num("max_clients", w.max_clients);
        t.str(
            "token",
            match w.token {
                WebToken::Off => "off",
                WebToken::Generated => "(generated; see `netwatch token`)",
                WebToken::Fixed(_) => "(set; redacted)",
            },
        );
        t.strs("allow_origins", &w.allow_origins);
        t.close();
    }
    {
        // Kinds only: a target's URL (a Slack webhook's, an ntfy topic's) and token are secrets.
        let n = &c.notify;
        let mut t = Obj::open(o.key("notify"));
        let kinds: Vec<&str> = n.targets.iter().map(|t| t.kind.as_str()).collect();
        t.strs("targets", &kinds);
        t.num("max_per_hour", n.max_per_hour);
        t.close();
    }
    {
        // The broker's address and the sensor's name; never the user name or password.
        let m = &c.mqtt;
        let mut t = Obj::open(o.key("mqtt"));
        t.str("broker", &if m.on() { m.broker() } else { String::new() });
        t.str("sensor", &m.sensor);
        t.num("discovery", m.discovery);
        t.close();
    }
    {
        let r = &c.respond;
        let mut t = Obj::open(o.key("respond"));
        t.str("mode", r.mode.as_str());
        t.num("duration_s", r.duration_s);
        t.num("max_blocks", r.max_blocks);
        t.num("block_lan", r.block_lan);
        t.close();
    }
    o.close();
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_view_is_json_and_redacts_a_fixed_token() {
        let mut f = crate::config::FileConfig::parse(
            "[web]\ntoken = \"abcdefghijklmnopqrstuvwxyz\"\n",
            "t",
        )
        .unwrap();
        f.home_net = Some(vec!["10.0.0.0/8".into()]);
        let c = f.validate().unwrap();
        let j = config_json(&c);
        assert!(!j.contains("abcdefghijklmnop"));
        assert!(j.contains("\"home_net\":[\"10.0.0.0/8\"]"));
    }
}
