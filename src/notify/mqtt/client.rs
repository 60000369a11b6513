//! The MQTT connection thread (`netwatch-mqtt`). It connects (plain TCP, or TLS through the
//! system's `openssl s_client` for `mqtts://`, so no TLS library is built in), sends CONNECT
//! with a retained last will "offline", publishes "online" and the discovery configs, then
//! sends what the daemon queues as QoS 1 (up to `WINDOW` unacknowledged; those are sent again
//! after a reconnect), pings when idle, and reconnects with back-off (1 s up to 30 s) when the
//! broker goes away. The queue is bounded: when full the oldest message is dropped and
//! counted; a stats or device message replaces a waiting one of the same topic.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::ha::{self, Summary, UNDER_ATTACK_S};
use super::packet::{self, Connect, Packet, Reader, Version};
use super::MqttConfig;
use crate::detect::Alert;
use crate::notify::format::Message;

/// QoS 1 messages sent and not yet acknowledged, at most.
const WINDOW: usize = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF: [u64; 5] = [1, 2, 5, 10, 30];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MqttCounters {
    /// Messages put on the queue.
    pub queued: u64,
    /// Messages the broker acknowledged.
    pub published: u64,
    /// Messages dropped: the queue was full (the oldest go).
    pub dropped: u64,
    /// Sessions the broker accepted, and connection attempts or sessions that failed.
    pub connects: u64,
    pub errors: u64,
    pub connected: bool,
    pub waiting: u64,
    pub last_error: String,
}

struct Msg {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    /// A newer message of the same topic replaces this one while it waits.
    latest_only: bool,
    dup: bool,
}

struct Shared {
    queue: Mutex<VecDeque<Msg>>,
    counters: Mutex<MqttCounters>,
    stop: AtomicBool,
    cap: usize,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut MqttCounters)) {
        if let Ok(mut c) = self.counters.lock() {
            f(&mut c);
        }
    }

    fn fail(&self, e: &str) {
        log::warn!("mqtt: {e}");
        self.count(|c| {
            c.errors += 1;
            c.connected = false;
            c.last_error = e.to_string();
        });
    }

    fn push(&self, m: Msg, front: bool) {
        let Ok(mut q) = self.queue.lock() else { return };
        if m.latest_only {
            if let Some(old) = q.iter_mut().find(|o| o.topic == m.topic) {
                *old = m;
                return;
            }
        }
        let mut dropped = 0;
        while q.len() >= self.cap {
            q.pop_front();
            dropped += 1;
        }
        if front {
            q.push_front(m);
        } else {
            q.push_back(m);
        }
        drop(q);
        self.count(|c| c.dropped += dropped);
    }
}

/// The daemon's handle on the MQTT thread.
pub struct Mqtt {
    pub cfg: MqttConfig,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Alerts per minute over the last hour (a ring), and the last severe alert (µs).
    minutes: [u32; 60],
    minute: i64,
    last_severe_us: i64,
}

impl Mqtt {
    /// Start the thread; `None` when `[mqtt]` has no broker or the thread cannot start.
    pub fn start(cfg: &MqttConfig) -> Option<Mqtt> {
        if !cfg.on() {
            return None;
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::with_capacity(cfg.queue as usize)),
            counters: Mutex::new(MqttCounters::default()),
            stop: AtomicBool::new(false),
            cap: cfg.queue as usize,
        });
        let (sh, c) = (shared.clone(), cfg.clone());
        match std::thread::Builder::new()
            .name("netwatch-mqtt".into())
            .spawn(move || worker(&c, &sh))
        {
            Ok(t) => {
                log::info!(
                    "mqtt: publishing to {} as sensor `{}` (MQTT {}{})",
                    cfg.broker(),
                    cfg.sensor,
                    if cfg.version == Version::V5 {
                        "5"
                    } else {
                        "3.1.1"
                    },
                    if cfg.discovery {
                        ", Home Assistant discovery"
                    } else {
                        ""
                    }
                );
                Some(Mqtt {
                    cfg: cfg.clone(),
                    shared,
                    thread: Some(t),
                    minutes: [0; 60],
                    minute: 0,
                    last_severe_us: i64::MIN,
                })
            }
            Err(e) => {
                log::error!("mqtt: cannot start its thread ({e}); MQTT is off");
                None
            }
        }
    }

    fn queue(&self, leaf: &str, payload: String, retain: bool, latest_only: bool) {
        self.shared.push(
            Msg {
                topic: ha::topic(&self.cfg, leaf),
                payload: payload.into_bytes(),
                retain,
                latest_only,
                dup: false,
            },
            false,
        );
        self.shared.count(|c| c.queued += 1);
    }

    fn roll(&mut self, wall_us: i64) {
        let m = wall_us.div_euclid(60_000_000);
        if m > self.minute {
            for i in 1..=(m - self.minute).min(60) {
                self.minutes[((self.minute + i).rem_euclid(60)) as usize] = 0;
            }
            self.minute = m;
        }
    }

    /// An emitted alert (`wall_us`: now).
    pub fn alert(&mut self, a: &Alert, eve: &str, wall_us: i64) {
        self.roll(wall_us);
        self.minutes[self.minute.rem_euclid(60) as usize] += 1;
        if a.rule.severity() <= 2 {
            self.last_severe_us = wall_us;
        }
        let m = Message::of_alert(a, eve);
        self.queue("alert", ha::alert_payload(a, &m), false, false);
    }

    /// The summary every 10 s; `s` has the daemon's figures, the alert counts are added here.
    pub fn stats(&mut self, mut s: Summary, wall_us: i64) {
        self.roll(wall_us);
        s.alerts_last_hour = self.minutes.iter().sum();
        s.under_attack = wall_us.saturating_sub(self.last_severe_us) <= UNDER_ATTACK_S * 1_000_000;
        self.queue("stats", ha::stats_payload(&s), true, true);
    }

    /// A device learnt or changed (`mac`: 12 hex digits; `json`: the device as the API has it).
    pub fn device(&self, mac: &str, json: String) {
        self.queue(&format!("device/{mac}"), json, true, true);
    }

    pub fn counters(&self) -> MqttCounters {
        let mut c = self
            .shared
            .counters
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        c.waiting = self
            .shared
            .queue
            .lock()
            .map(|q| q.len() as u64)
            .unwrap_or(0);
        c
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // The thread says "offline" and disconnects within a few hundred milliseconds; it is
        // not waited for beyond 3 s (a broker that does not answer).
        if let Some(t) = self.thread.take() {
            let end = Instant::now() + Duration::from_secs(3);
            while !t.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// A connection: TCP, or TLS through an `openssl s_client` child's pipes.
enum Conn {
    Tcp(TcpStream),
    Tls(Child),
}

impl Conn {
    fn read_fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Tls(c) => c.stdout.as_ref().map_or(-1, |o| o.as_raw_fd()),
        }
    }

    fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.write_all(b),
            Conn::Tls(c) => match c.stdin.as_mut() {
                Some(i) => i.write_all(b).and_then(|()| i.flush()),
                None => Err(std::io::ErrorKind::BrokenPipe.into()),
            },
        }
    }

    /// Wait up to `ms` for bytes; `Ok(0)` is the peer closing, `Err(WouldBlock)` nothing yet.
    fn recv(&mut self, buf: &mut [u8], ms: i32) -> std::io::Result<usize> {
        let mut p = libc::pollfd {
            fd: self.read_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if n == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Tls(c) => match c.stdout.as_mut() {
                Some(o) => o.read(buf),
                None => Ok(0),
            },
        }
    }

    /// Why a TLS helper ended (its last error line), or nothing.
    fn tls_error(&mut self) -> Option<String> {
        let Conn::Tls(c) = self else { return None };
        let _ = c.kill();
        let _ = c.wait();
        let mut e = String::new();
        c.stderr.as_mut()?.take(4096).read_to_string(&mut e).ok()?;
        e.lines()
            .rev()
            .find(|l| l.contains("error") || l.contains("verify"))
            .map(|l| l.chars().filter(|c| !c.is_control()).take(200).collect())
    }

    fn close(&mut self) {
        match self {
            Conn::Tcp(s) => {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            Conn::Tls(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn open(cfg: &MqttConfig) -> Result<Conn, String> {
    if cfg.tls {
        let ip = cfg.host.parse::<std::net::IpAddr>().is_ok();
        let target = if cfg.host.contains(':') {
            format!("[{}]:{}", cfg.host, cfg.port)
        } else {
            format!("{}:{}", cfg.host, cfg.port)
        };
        let mut c = Command::new("openssl");
        c.args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-connect",
            &target,
        ]);
        c.args([
            if ip { "-verify_ip" } else { "-verify_hostname" },
            &cfg.host,
        ]);
        if !ip {
            c.args(["-servername", &cfg.host]);
        }
        if !cfg.ca_file.is_empty() {
            c.args(["-CAfile", &cfg.ca_file]);
        }
        // The helper ends with this thread (or the daemon), never holding a session open.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            use std::os::unix::process::CommandExt;
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        return c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map(Conn::Tls)
            .map_err(|e| format!("cannot run openssl for mqtts:// ({e}; install openssl-util)"));
    }
    let addrs: Vec<_> = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", cfg.host))?
        .collect();
    let mut last = format!("{} has no address", cfg.host);
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let _ = s.set_write_timeout(Some(CONNECT_TIMEOUT));
                return Ok(Conn::Tcp(s));
            }
            Err(e) => last = format!("cannot connect to {}: {e}", cfg.broker()),
        }
    }
    Err(last)
}

/// Sleep `secs`, waking early to stop.
fn pause(sh: &Shared, secs: u64) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && !sh.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn worker(cfg: &MqttConfig, sh: &Shared) {
    let mut failures = 0usize;
    let mut warned = false;
    while !sh.stop.load(Ordering::Relaxed) {
        match session(cfg, sh) {
            Ok(()) => return,
            Err((e, accepted)) => {
                if accepted {
                    failures = 0;
                    warned = false;
                }
                // Said once per outage in the log; every failure is counted.
                if !warned {
                    sh.fail(&e);
                    warned = true;
                } else {
                    sh.count(|c| {
                        c.errors += 1;
                        c.connected = false;
                        c.last_error = e.clone();
                    });
                }
                pause(sh, BACKOFF[failures.min(BACKOFF.len() - 1)]);
                failures += 1;
            }
        }
    }
}

/// One connection from CONNECT to its end: `Ok` when asked to stop, else why it ended and
/// whether the broker had accepted the session.
fn session(cfg: &MqttConfig, sh: &Shared) -> Result<(), (String, bool)> {
    let v = cfg.version;
    let mut conn = open(cfg).map_err(|e| (e, false))?;
    let status = ha::topic(cfg, "status");
    let client_id = format!("netwatch-{}", cfg.sensor);
    let mut out = Vec::with_capacity(1024);
    packet::connect(
        &mut out,
        v,
        &Connect {
            client_id: &client_id,
            keepalive_s: cfg.keepalive_s,
            will_topic: &status,
            will_payload: b"offline",
            username: &cfg.username,
            password: &cfg.password,
        },
    );
    let mut reader = Reader::new();
    let mut buf = [0u8; 1024];
    let r = (|| {
        conn.send(&out)
            .map_err(|e| format!("cannot send CONNECT: {e}"))?;
        let end = Instant::now() + CONNECT_TIMEOUT;
        loop {
            if let Some(p) = reader.next(v).map_err(|e| format!("broker sent {e}"))? {
                return match p {
                    Packet::ConnAck { code: 0 } => Ok(()),
                    Packet::ConnAck { code } => Err(format!(
                        "{} refused the connection: {} (code {code})",
                        cfg.broker(),
                        packet::refusal(v, code)
                    )),
                    other => Err(format!("broker answered CONNECT with {other:?}")),
                };
            }
            if Instant::now() > end || sh.stop.load(Ordering::Relaxed) {
                return Err(format!("no CONNACK from {} in time", cfg.broker()));
            }
            match conn.recv(&mut buf, 100) {
                Ok(0) => return Err(format!("{} closed the connection", cfg.broker())),
                Ok(n) => reader.feed(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("reading from {}: {e}", cfg.broker())),
            }
        }
    })();
    if let Err(e) = r {
        let e = conn
            .tls_error()
            .map_or(e.clone(), |t| format!("{e} (TLS: {t})"));
        conn.close();
        return Err((e, false));
    }
    sh.count(|c| {
        c.connects += 1;
        c.connected = true;
    });
    log::info!("mqtt: connected to {}", cfg.broker());
    let mut first = vec![(status.clone(), b"online".to_vec())];
    if cfg.discovery {
        first.extend(
            ha::discovery(cfg)
                .into_iter()
                .map(|(t, p)| (t, p.into_bytes())),
        );
    }
    // Sent at QoS 0, retained: configs and "online" are restated at every connection.
    for (t, p) in &first {
        packet::publish(&mut out, v, t, p, true, 0, false);
        if let Err(e) = conn.send(&out) {
            conn.close();
            return Err((format!("cannot publish to {}: {e}", cfg.broker()), true));
        }
    }
    let r = publish_loop(cfg, sh, &mut conn, &mut reader, &mut out);
    if r.is_ok() {
        packet::publish(&mut out, v, &status, b"offline", true, 0, false);
        let _ = conn.send(&out);
        packet::disconnect(&mut out, v);
        let _ = conn.send(&out);
        std::thread::sleep(Duration::from_millis(50));
    }
    conn.close();
    sh.count(|c| c.connected = false);
    r.map_err(|e| (e, true))
}

fn publish_loop(
    cfg: &MqttConfig,
    sh: &Shared,
    conn: &mut Conn,
    reader: &mut Reader,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let v = cfg.version;
    let keepalive = Duration::from_secs(u64::from(cfg.keepalive_s));
    let mut inflight: VecDeque<(u16, Msg)> = VecDeque::with_capacity(WINDOW);
    let mut next_id: u16 = 1;
    let mut last_sent = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    let mut buf = [0u8; 1024];
    // Messages sent and not acknowledged go back to the queue's front when the session ends.
    let give_back = |inflight: &mut VecDeque<(u16, Msg)>| {
        while let Some((_, mut m)) = inflight.pop_back() {
            m.dup = true;
            sh.push(m, true);
        }
    };
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            give_back(&mut inflight);
            return Ok(());
        }
        while inflight.len() < WINDOW {
            let Some(m) = sh.queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                break;
            };
            let id = next_id;
            next_id = next_id.checked_add(1).unwrap_or(1);
            packet::publish(out, v, &m.topic, &m.payload, m.retain, id, m.dup);
            inflight.push_back((id, m));
            if let Err(e) = conn.send(out) {
                give_back(&mut inflight);
                return Err(format!("cannot publish to {}: {e}", cfg.broker()));
            }
            last_sent = Instant::now();
        }
        if ping_sent.is_none() && last_sent.elapsed() >= keepalive / 2 {
            packet::pingreq(out);
            if let Err(e) = conn.send(out) {
                give_back(&mut inflight);
                return Err(format!("cannot ping {}: {e}", cfg.broker()));
            }
            ping_sent = Some(Instant::now());
            last_sent = Instant::now();
        }
        if ping_sent.is_some_and(|t| t.elapsed() > keepalive) {
            give_back(&mut inflight);
            return Err(format!(
                "{} did not answer a ping in {} s",
                cfg.broker(),
                cfg.keepalive_s
            ));
        }
        match conn.recv(&mut buf, 100) {
            Ok(0) => {
                give_back(&mut inflight);
                return Err(format!("{} closed the connection", cfg.broker()));
            }
            Ok(n) => reader.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                give_back(&mut inflight);
                return Err(format!("reading from {}: {e}", cfg.broker()));
            }
        }
        loop {
            let p = match reader.next(v) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    give_back(&mut inflight);
                    return Err(format!("{} sent {e}", cfg.broker()));
                }
            };
            match p {
                Packet::PubAck { id, code } => {
                    if let Some(i) = inflight.iter().position(|(x, _)| *x == id) {
                        if let Some((_, m)) = inflight.remove(i) {
                            if code >= 0x80 {
                                sh.count(|c| {
                                    c.errors += 1;
                                    c.last_error = format!(
                                        "broker refused a message to {} (reason {code:#x})",
                                        m.topic
                                    )
                                });
                            } else {
                                sh.count(|c| c.published += 1);
                            }
                        }
                    }
                }
                Packet::PingResp => ping_sent = None,
                Packet::Disconnect { code } => {
                    give_back(&mut inflight);
                    return Err(format!(
                        "{} ended the session (reason {code:#x})",
                        cfg.broker()
                    ));
                }
                Packet::ConnAck { .. } | Packet::Other(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Whole client packets (first byte, body) cut from the front of `b`.
    fn frames(b: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            let (mut len, mut i) = (0usize, 1);
            while let Some(&x) = b.get(i) {
                len |= usize::from(x & 0x7F) << (7 * (i - 1));
                i += 1;
                if x & 0x80 == 0 {
                    break;
                }
            }
            if b.len() < 2 || b.len() < i + len || b[i - 1] & 0x80 != 0 {
                return out;
            }
            out.push((b[0], b[i..i + len].to_vec()));
            b.drain(..i + len);
        }
    }

    /// A broker of our own for the client's protocol: accepts, acknowledges each QoS 1
    /// publish, and records the topics it got; the first connection closes at publish number
    /// `drop_after + 1` (unacknowledged).
    fn broker(drop_after: usize) -> (u16, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for (n, s) in l.incoming().enumerate() {
                let Ok(mut s) = s else { return };
                let mut acc = Vec::new();
                let mut b = [0u8; 4096];
                let mut publishes = 0;
                'conn: while let Ok(k) = s.read(&mut b) {
                    if k == 0 {
                        break;
                    }
                    acc.extend_from_slice(&b[..k]);
                    for (first, body) in frames(&mut acc) {
                        match first >> 4 {
                            1 => {
                                let _ = s.write_all(&[0x20, 0x02, 0x00, 0x00]);
                            }
                            3 => {
                                let tl = usize::from(u16::from_be_bytes([body[0], body[1]]));
                                let topic = String::from_utf8_lossy(&body[2..2 + tl]).into_owned();
                                if first & 0x06 != 0 {
                                    publishes += 1;
                                    if n == 0 && publishes > drop_after {
                                        break 'conn;
                                    }
                                    let _ = s.write_all(&[0x40, 0x02, body[2 + tl], body[3 + tl]]);
                                }
                                g.lock().unwrap().push(topic);
                            }
                            12 => {
                                let _ = s.write_all(&[0xD0, 0x00]);
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        (port, got)
    }

    fn cfg(port: u16) -> MqttConfig {
        MqttConfig {
            host: "127.0.0.1".into(),
            port,
            sensor: "t1".into(),
            ..MqttConfig::default()
        }
    }

    fn wait(m: &Mqtt, f: impl Fn(&MqttCounters) -> bool) -> MqttCounters {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let c = m.counters();
            if f(&c) || Instant::now() > end {
                return c;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn publishes_discovery_then_alerts_and_resends_after_a_drop() {
        let (port, got) = broker(1);
        let mut m = Mqtt::start(&cfg(port)).unwrap();
        let mut a = Alert::new(crate::detect::RuleId::PortscanVertical, 0);
        a.src = "10.0.0.9".parse::<std::net::IpAddr>().unwrap().into();
        m.alert(&a, "{}", 0);
        m.alert(&a, "{}", 0);
        m.stats(Summary::default(), 0);
        // The first connection closes after one publish: the rest are sent again on the next.
        let c = wait(&m, |c| c.published >= 3);
        assert_eq!((c.published, c.dropped), (3, 0), "{c:?}");
        assert!(c.connects >= 2 && c.errors >= 1, "{c:?}");
        let topics = got.lock().unwrap().clone();
        assert_eq!(topics[0], "netwatch/t1/status");
        assert!(topics.contains(&"homeassistant/event/netwatch_t1/alert/config".to_string()));
        assert_eq!(
            topics.iter().filter(|t| *t == "netwatch/t1/alert").count(),
            2,
            "{topics:?}"
        );
        assert!(topics.contains(&"netwatch/t1/stats".to_string()));
    }

    #[test]
    fn a_missing_broker_is_counted_and_the_queue_stays_bounded() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = cfg(port);
        c.queue = 8;
        let mut m = Mqtt::start(&c).unwrap();
        for i in 0..20 {
            m.stats(Summary::default(), i);
        }
        assert_eq!(
            m.counters().waiting,
            1,
            "a newer summary replaces a waiting one"
        );
        for i in 0..20 {
            m.device(&format!("{i:012x}"), "{}".into());
        }
        let n = wait(&m, |c| c.errors >= 1);
        assert!(
            n.errors >= 1 && !n.connected && n.last_error.contains("cannot connect"),
            "{n:?}"
        );
        assert_eq!((n.waiting, n.dropped), (8, 13), "the oldest go: {n:?}");
    }
}
