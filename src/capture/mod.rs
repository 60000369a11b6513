//! Capture: capture files — pcap and pcapng — read in place from a memory map (`file`), with
//! libpcap (through the `pcap` crate) for live interfaces, for `--bpf` filters and for files
//! the reader does not take. Frames are borrowed for the duration of one call, never copied
//! or kept. Live handles are opened with the configured BPF filter, snaplen,
//! promiscuous flag, kernel buffer size and immediate mode; their statistics (received,
//! dropped by the kernel, dropped by the interface) are read by the daemon every second.
//! `decode` turns a frame into a `PacketMeta`; `reasm` reassembles IP fragments first.

pub mod decode;
pub mod file;
mod filter;
pub mod reasm;

use serde::Deserialize;
use std::path::Path;

use crate::settings::{invalid, ranged, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture file {path}: {msg}")]
    OpenFile { path: String, msg: String },
    #[error("BPF filter `{expr}` does not compile: {msg}")]
    Filter { expr: String, msg: String },
    #[error("cannot open interface {iface}: {msg}")]
    OpenLive { iface: String, msg: String },
    #[error("capture read failed after {packets} packets: {msg}")]
    Read { packets: u64, msg: String },
}

/// One captured frame, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture timestamp, µs since the epoch.
    pub ts_us: i64,
    /// Length on the wire.
    pub wire_len: u32,
    pub data: &'a [u8],
    /// Link type of the frame (LINKTYPE_* of the file's interface, or libpcap's DLT_*).
    pub linktype: i32,
}

#[allow(clippy::unnecessary_cast)] // time_t / suseconds_t are 32-bit on some targets
fn frame<'a>(p: &pcap::Packet<'a>, linktype: i32) -> Frame<'a> {
    // Wrapping, not saturating: only an absurd pcapng timestamp (beyond year 294,000) can
    // overflow, and the clock counts whatever jump that makes.
    let ts_us = (p.header.ts.tv_sec as i64)
        .wrapping_mul(1_000_000)
        .wrapping_add(p.header.ts.tv_usec as i64);
    Frame {
        ts_us,
        wire_len: p.header.len,
        data: p.data,
        linktype,
    }
}

/// A capture file being read: pcap and pcapng from a memory map by our own reader (`file`);
/// anything else it cannot map or does not know (standard input as `-`, a pipe, other
/// formats libpcap reads) through libpcap.
pub struct FileCapture {
    src: FileSource,
    /// Frames handed out so far.
    pub read: u64,
}

enum FileSource {
    Mapped {
        file: file::Windowed,
        /// `--bpf`: the expression and its program per link type, compiled by libpcap.
        bpf: Option<filter::Filter>,
    },
    Libpcap(Box<pcap::Capture<pcap::Offline>>),
}

impl FileCapture {
    pub fn open(path: &Path, bpf: Option<&str>) -> Result<FileCapture, CaptureError> {
        let bpf = bpf.filter(|e| !e.trim().is_empty());
        let open_err = |msg: String| CaptureError::OpenFile {
            path: path.display().to_string(),
            msg,
        };
        let mapped = match path.to_str() {
            Some("-") => None,
            _ => {
                let f = std::fs::File::open(path).map_err(|e| open_err(e.to_string()))?;
                file::Windowed::open(f)
            }
        };
        if let Some(file) = mapped {
            let first = file
                .header(|r| r.first_linktype())
                .map_err(|d| open_err(d.to_string()))?;
            let bpf = match bpf {
                Some(expr) => {
                    let mut f = filter::Filter::new(expr);
                    // The first link type's program now, so a bad expression fails at once.
                    f.program(first.unwrap_or(decode::linktype::ETHERNET))?;
                    Some(f)
                }
                None => None,
            };
            return Ok(FileCapture {
                src: FileSource::Mapped { file, bpf },
                read: 0,
            });
        }
        let mut cap = pcap::Capture::from_file(path).map_err(|e| open_err(e.to_string()))?;
        if let Some(expr) = bpf {
            cap.filter(expr, true).map_err(|e| CaptureError::Filter {
                expr: expr.to_string(),
                msg: e.to_string(),
            })?;
        }
        Ok(FileCapture {
            src: FileSource::Libpcap(Box::new(cap)),
            read: 0,
        })
    }

    /// Hand every frame to `f` in order. A truncated or corrupt file gives an error after the
    /// frames that could be read, saying where the damage is.
    pub fn for_each(&mut self, mut f: impl FnMut(Frame<'_>)) -> Result<(), CaptureError> {
        let read = &mut self.read;
        match &mut self.src {
            FileSource::Mapped { file, bpf } => {
                let mut filter_failed = None;
                let res = match bpf.as_mut() {
                    // The replay's own loop: nothing but the count and the frame.
                    None => file.for_each_until(
                        #[inline(always)]
                        |fr, _| {
                            *read += 1;
                            f(fr);
                            true
                        },
                    ),
                    Some(b) => file.for_each_until(|fr, _| {
                        match b.matches(&fr) {
                            Ok(true) => {}
                            Ok(false) => return true,
                            Err(e) => {
                                filter_failed = Some(e);
                                return false;
                            }
                        }
                        *read += 1;
                        f(fr);
                        true
                    }),
                };
                if let Some(e) = filter_failed {
                    return Err(e);
                }
                res.map_err(|d| CaptureError::Read {
                    packets: *read,
                    msg: d.to_string(),
                })
            }
            FileSource::Libpcap(cap) => {
                let linktype = cap.get_datalink().0;
                let res = cap.for_each(None, |p| {
                    *read += 1;
                    f(frame(&p, linktype));
                });
                match res {
                    Ok(()) | Err(pcap::Error::NoMorePackets) => Ok(()),
                    Err(e) => Err(CaptureError::Read {
                        packets: *read,
                        msg: e.to_string(),
                    }),
                }
            }
        }
    }
}

/// Kernel/interface statistics of a live handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    pub received: u64,
    pub dropped_kernel: u64,
    pub dropped_interface: u64,
}

/// A live interface, non-blocking, for the daemon's readiness loop.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    pub iface: String,
    pub linktype: i32,
}

impl LiveCapture {
    pub fn open(iface: &str, c: &CaptureConfig) -> Result<LiveCapture, CaptureError> {
        let err = |e: pcap::Error| CaptureError::OpenLive {
            iface: iface.to_string(),
            msg: e.to_string(),
        };
        let cap = pcap::Capture::from_device(iface)
            .map_err(err)?
            .promisc(c.promiscuous)
            .snaplen(c.snaplen)
            .buffer_size(c.buffer_kib.saturating_mul(1024))
            .immediate_mode(c.immediate)
            .timeout(c.timeout_ms)
            .open()
            .map_err(err)?;
        let mut cap = cap.setnonblock().map_err(err)?;
        if !c.bpf.trim().is_empty() {
            cap.filter(&c.bpf, true).map_err(|e| CaptureError::Filter {
                expr: c.bpf.clone(),
                msg: e.to_string(),
            })?;
        }
        let linktype = cap.get_datalink().0;
        Ok(LiveCapture {
            cap,
            iface: iface.to_string(),
            linktype,
        })
    }

    /// Next frame if one is ready; `Ok(None)` when the buffer is empty.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => Ok(Some(frame(&p, self.linktype))),
            Err(pcap::Error::TimeoutExpired) | Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(CaptureError::Read {
                packets: 0,
                msg: e.to_string(),
            }),
        }
    }

    pub fn stats(&mut self) -> Option<CaptureStats> {
        self.cap.stats().ok().map(|s| CaptureStats {
            received: s.received as u64,
            dropped_kernel: s.dropped as u64,
            dropped_interface: s.if_dropped as u64,
        })
    }

    /// File descriptor for readiness polling.
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.cap.as_raw_fd()
    }
}

/// The interface of the IPv4 default route (`/proc/net/route`), or else the first interface
/// that is up and not loopback; what `netwatch run` captures when nothing is configured.
pub fn default_interface() -> Option<String> {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let from_route = routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[1] == "00000000").then(|| f[0].to_string())
    });
    from_route.or_else(|| {
        let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lo")
            .filter(|n| {
                std::fs::read_to_string(format!("/sys/class/net/{n}/operstate"))
                    .is_ok_and(|s| s.trim() == "up")
            })
            .collect();
        names.sort();
        names.into_iter().next()
    })
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[capture]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCaptureConfig {
    pub interfaces: Option<Vec<String>>,
    pub bpf: Option<String>,
    pub snaplen: Option<i32>,
    pub promiscuous: Option<bool>,
    pub buffer_kib: Option<i32>,
    pub immediate: Option<bool>,
    pub timeout_ms: Option<i32>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaptureConfig {
    pub interfaces: Vec<String>,
    pub bpf: String,
    pub snaplen: i32,
    pub promiscuous: bool,
    pub buffer_kib: i32,
    pub immediate: bool,
    pub timeout_ms: i32,
}

impl FileCaptureConfig {
    pub fn validate(&self) -> Result<CaptureConfig, ConfigError> {
        let cap = self;
        let capture = CaptureConfig {
            interfaces: cap.interfaces.clone().unwrap_or_default(),
            bpf: cap.bpf.clone().unwrap_or_default(),
            snaplen: ranged("capture.snaplen", cap.snaplen, 512, 96, 262_144)?,
            promiscuous: cap.promiscuous.unwrap_or(true),
            buffer_kib: ranged("capture.buffer_kib", cap.buffer_kib, 2048, 64, 1_048_576)?,
            immediate: cap.immediate.unwrap_or(true),
            timeout_ms: ranged("capture.timeout_ms", cap.timeout_ms, 100, 1, 10_000)?,
        };
        for i in &capture.interfaces {
            if i.is_empty() || i.len() > 15 || i.contains('/') || i.contains(char::is_whitespace) {
                return Err(invalid(
                    "capture.interfaces",
                    format!("`{i}` is not an interface name"),
                ));
            }
        }
        Ok(capture)
    }
}
