//! The syslog transport: a bounded queue drained by a task of its own on the daemon's runtime,
//! to a local socket (`/dev/log`, `unix:PATH`), UDP or TCP (RFC 6587 octet counting for RFC
//! 5424, LF-terminated for RFC 3164). An unreachable collector costs counted drops and a
//! reconnect with back-off (up to 60 s), never a stalled pipeline. `syslog` formats the
//! messages; this room only carries them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::syslog::{SyslogConfig, SyslogFormat, SyslogTarget};

/// Counters of the syslog task, shared with the daemon. (A mutex, not atomics: 32-bit MIPS
/// has no 64-bit atomics; both sides run on the one runtime thread anyway.)
#[derive(Default)]
pub struct SyslogCounts {
    pub sent: u64,
    pub dropped: u64,
    pub errors: u64,
    /// The collector's address once connected (UDP/TCP), for own-traffic exclusion.
    pub peer: Option<SocketAddr>,
}

#[derive(Default)]
pub struct SyslogStats(Mutex<SyslogCounts>);

impl SyslogStats {
    pub fn update(&self, f: impl FnOnce(&mut SyslogCounts)) {
        if let Ok(mut c) = self.0.lock() {
            f(&mut c);
        }
    }
    pub fn get<T>(&self, f: impl FnOnce(&SyslogCounts) -> T) -> Option<T> {
        self.0.lock().ok().map(|c| f(&c))
    }
}

pub struct SyslogOut {
    pub tx: mpsc::Sender<Vec<u8>>,
    pub stats: Arc<SyslogStats>,
    pub task: tokio::task::JoinHandle<()>,
    pub cfg: SyslogConfig,
}

enum Conn {
    Unix(tokio::net::UnixDatagram),
    Udp(tokio::net::UdpSocket),
    Tcp(tokio::net::TcpStream),
}

async fn connect(t: &SyslogTarget) -> std::io::Result<(Conn, Option<SocketAddr>)> {
    let resolve = |h: &str, p: u16| {
        let h = h.to_string();
        async move {
            tokio::net::lookup_host((h.as_str(), p))
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot resolve `{h}`: {e}")))?
                .next()
                .ok_or_else(|| std::io::Error::other(format!("`{h}` has no address")))
        }
    };
    match t {
        SyslogTarget::Off => Err(std::io::Error::other("off")),
        SyslogTarget::Unix(p) => {
            let s = tokio::net::UnixDatagram::unbound()?;
            s.connect(p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{p}: {e}")))?;
            Ok((Conn::Unix(s), None))
        }
        SyslogTarget::Udp(h, p) => {
            let a = resolve(h, *p).await?;
            let bind: SocketAddr = if a.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let s = tokio::net::UdpSocket::bind(bind).await?;
            s.connect(a).await?;
            Ok((Conn::Udp(s), Some(a)))
        }
        SyslogTarget::Tcp(h, p) => {
            let a = resolve(h, *p).await?;
            let s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(a))
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connect to {a} timed out"),
                    )
                })??;
            Ok((Conn::Tcp(s), Some(a)))
        }
    }
}

pub fn target_name(t: &SyslogTarget) -> String {
    match t {
        SyslogTarget::Off => "off".into(),
        SyslogTarget::Unix(p) => p.clone(),
        SyslogTarget::Udp(h, p) => format!("udp:{h}:{p}"),
        SyslogTarget::Tcp(h, p) => format!("tcp:{h}:{p}"),
    }
}

/// Drain the queue into the collector; reconnect with back-off on failure. While it is
/// unreachable the queue fills and the daemon counts drops.
async fn syslog_task(cfg: SyslogConfig, mut rx: mpsc::Receiver<Vec<u8>>, st: Arc<SyslogStats>) {
    use tokio::io::AsyncWriteExt;
    let name = target_name(&cfg.target);
    let mut backoff = Duration::from_secs(1);
    let mut warned = false;
    let mut pending: Option<Vec<u8>> = None;
    loop {
        let conn = match connect(&cfg.target).await {
            Ok((c, peer)) => {
                if warned {
                    log::info!("syslog: connected to {name}");
                }
                st.update(|c| c.peer = peer);
                warned = false;
                backoff = Duration::from_secs(1);
                c
            }
            Err(e) => {
                if !warned {
                    log::warn!("syslog.target `{name}`: {e}; retrying with back-off, alerts meanwhile are counted as dropped");
                    warned = true;
                }
                st.update(|c| c.errors += 1);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        let mut conn = conn;
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => match rx.recv().await {
                    Some(m) => m,
                    None => return,
                },
            };
            let res = match &mut conn {
                Conn::Unix(s) => s.send(&msg).await.map(|_| ()),
                Conn::Udp(s) => s.send(&msg).await.map(|_| ()),
                Conn::Tcp(s) => {
                    // RFC 6587 octet counting for RFC 5424; LF-terminated for RFC 3164.
                    let mut framed = Vec::with_capacity(msg.len() + 8);
                    if cfg.format == SyslogFormat::Rfc5424 {
                        framed.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                        framed.extend_from_slice(&msg);
                    } else {
                        framed.extend_from_slice(&msg);
                        framed.push(b'\n');
                    }
                    s.write_all(&framed).await
                }
            };
            match res {
                Ok(()) => {
                    st.update(|c| c.sent += 1);
                }
                Err(e) => {
                    st.update(|c| c.errors += 1);
                    log::warn!("syslog: sending to {name} failed ({e}); reconnecting");
                    if matches!(conn, Conn::Tcp(_) | Conn::Unix(_)) {
                        pending = Some(msg);
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

pub fn start_syslog(cfg: &SyslogConfig) -> Option<SyslogOut> {
    if cfg.target == SyslogTarget::Off {
        return None;
    }
    let (tx, rx) = mpsc::channel(cfg.queue);
    let stats = Arc::new(SyslogStats::default());
    let task = tokio::spawn(syslog_task(cfg.clone(), rx, stats.clone()));
    Some(SyslogOut {
        tx,
        stats,
        task,
        cfg: cfg.clone(),
    })
}
