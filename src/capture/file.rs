//! Capture files read directly: classic pcap (both byte orders, microsecond and nanosecond
//! timestamps) and pcapng (both byte orders, any number of sections, interfaces with their own
//! link type, timestamp resolution and offset; enhanced, simple and obsolete packet blocks),
//! parsed in place over read-only memory maps. No packet is copied: each frame handed on is a
//! slice of a map. The file is mapped 512 KiB at a time (`Windowed`), so a multi-gigabyte
//! capture costs that much resident memory, not its size; a record that runs past a window's
//! end is read from the next window, which starts at it.
//!
//! The parser (`Records`) is a pure function of the bytes: every length is checked against
//! what is left before it is used, and damage ends the read with its byte offset. What it
//! mirrors from libpcap (so that the same file gives the same frames): link types are the
//! low 26 bits of the header's field; a record longer than the file's snapshot length is cut
//! to it; the snapshot length of 0 or above 262,144 means 262,144; nanosecond stamps are
//! floored to microseconds. What it does that libpcap 1.10 does not: a pcapng file whose
//! interfaces have different link types is read (libpcap stops at the second type).

use std::fs::File;

use super::Frame;

/// The snapshot length libpcap assumes when a file's is 0 or larger (`max_snaplen_for_dlt`).
const MAX_SNAPLEN: u32 = 262_144;
/// Interfaces one pcapng section may describe (each costs 24 bytes).
const MAX_INTERFACES: usize = 65_536;

/// What is wrong with a capture file, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the record or block that could not be read.
    pub offset: usize,
    pub what: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte offset {}: {}", self.offset, self.what)
    }
}

fn damage(offset: usize, what: impl Into<String>) -> Damage {
    Damage {
        offset,
        what: what.into(),
    }
}

/// The formats this reader knows, from the first four bytes; `None` for anything else (which
/// then goes to libpcap).
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let m: [u8; 4] = head.get(..4)?.try_into().ok()?;
    match (u32::from_le_bytes(m), u32::from_be_bytes(m)) {
        (0xa1b2_c3d4, _) | (_, 0xa1b2_c3d4) | (0xa1b2_3c4d, _) | (_, 0xa1b2_3c4d) => {
            Some(Kind::Pcap)
        }
        (0x0a0d_0d0a, _) => Some(Kind::Pcapng),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pcap,
    Pcapng,
}

#[derive(Clone, Copy, Debug)]
struct Iface {
    linktype: i32,
    snaplen: u32,
    /// Timestamp units per second (10^n or 2^n).
    units: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_s: i64,
    /// `snaplen + 1` when timestamps are plain microseconds (no offset), else 0: a record
    /// with fewer captured bytes than this takes the enhanced-packet fast loop.
    fast_below: u32,
}

#[derive(Debug)]
enum Format {
    Pcap {
        big: bool,
        nanos: bool,
        linktype: i32,
        snaplen: u32,
    },
    Pcapng {
        big: bool,
        ifaces: Vec<Iface>,
    },
}

/// The records of one capture file held in memory, in order.
#[derive(Debug)]
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    format: Format,
    /// File offset of `buf[0]` (a window of a larger file: see [`Records::window`]).
    base: usize,
    /// `buf` reaches the end of the file: a record cut short at its end is damage, not the
    /// end of a window.
    eof: bool,
}

/// Where a window's reading stopped, to go on in the next window.
pub struct Resume {
    /// File offset of the next record or block.
    pub offset: usize,
    format: Format,
}

/// `N` bytes at `at`, if the buffer holds them.
#[inline(always)]
fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[inline(always)]
fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    bytes_at(b, at).map(|v| {
        if big {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    })
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    bytes_at(b, at).map(|v| {
        if big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    })
}

/// The 32-bit word at `i` of a record or block header already in hand (`i + 4 <= N`).
#[inline(always)]
fn word<const BIG: bool, const N: usize>(h: &[u8; N], i: usize) -> u32 {
    // One load: the range is constant once inlined, so the fallback never exists.
    let v = <[u8; 4]>::try_from(&h[i..i + 4]).unwrap_or([0; 4]);
    if BIG {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

fn snapshot(snaplen: u32) -> u32 {
    if snaplen == 0 || snaplen > MAX_SNAPLEN {
        MAX_SNAPLEN
    } else {
        snaplen
    }
}

/// libpcap's `LT_LINKTYPE`: the upper bits of a pcap header's link type carry FCS details.
fn linktype_of(field: u32) -> i32 {
    (field & 0x03ff_ffff) as i32
}

/// Seconds and a fraction in `units` per second as microseconds, wrapping as libpcap's
/// `time_t` arithmetic does for absurd values.
#[inline]
fn micros(t: u64, units: u64, offset_s: i64) -> i64 {
    let us = if units == 1_000_000 {
        t as i64
    } else {
        let (sec, frac) = (t / units, t % units);
        let frac_us = (frac as u128 * 1_000_000 / units as u128) as i64;
        (sec as i64).wrapping_mul(1_000_000).wrapping_add(frac_us)
    };
    us.wrapping_add(offset_s.wrapping_mul(1_000_000))
}

impl<'a> Records<'a> {
    /// Parse the file header (pcap) or the first section header (pcapng).
    pub fn new(buf: &'a [u8]) -> Result<Records<'a>, Damage> {
        match sniff(buf) {
            Some(Kind::Pcap) => {
                let big = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) >> 16 == 0xa1b2;
                let magic = u32_at(buf, 0, big).unwrap_or(0);
                let hdr = |at| {
                    u32_at(buf, at, big).ok_or_else(|| damage(0, "truncated pcap file header"))
                };
                let major =
                    u16_at(buf, 4, big).ok_or_else(|| damage(0, "truncated pcap file header"))?;
                if major < 2 {
                    return Err(damage(4, format!("pcap format version {major} is too old")));
                }
                let snaplen = hdr(16)?;
                let linktype = linktype_of(hdr(20)?);
                Ok(Records {
                    buf,
                    pos: 24,
                    base: 0,
                    eof: true,
                    format: Format::Pcap {
                        big,
                        nanos: magic == 0xa1b2_3c4d,
                        linktype,
                        snaplen: snapshot(snaplen),
                    },
                })
            }
            Some(Kind::Pcapng) => {
                let mut r = Records {
                    buf,
                    pos: 0,
                    base: 0,
                    eof: true,
                    format: Format::Pcapng {
                        big: false,
                        ifaces: Vec::new(),
                    },
                };
                // Read up to the first packet so the first interface's link type is known.
                r.section_header(0)?;
                Ok(r)
            }
            None => Err(damage(0, "not a pcap or pcapng file")),
        }
    }

    /// The first interface's link type (pcapng: once its description is read).
    pub fn first_linktype(&mut self) -> Option<i32> {
        match &self.format {
            Format::Pcap { linktype, .. } => Some(*linktype),
            Format::Pcapng { .. } => {
                // Interface descriptions come before the packets that use them.
                let mut at = self.pos;
                let save = self.pos;
                let mut found = None;
                while let Ok(Some((ty, len, big))) = self.block_at(at) {
                    if ty == 1 {
                        found = u16_at(self.buf, at + 8, big).map(|l| l as i32);
                        break;
                    }
                    if matches!(ty, 2 | 3 | 6) {
                        break;
                    }
                    at += len;
                }
                self.pos = save;
                found
            }
        }
    }

    /// Bytes read so far (everything before it has been handed out), as a file offset.
    pub fn position(&self) -> usize {
        self.base + self.pos
    }

    /// The file header of a file whose first bytes are `head` (`eof`: `head` is the whole
    /// file), for reading the file in windows.
    pub fn start(head: &'a [u8], eof: bool) -> Result<Records<'a>, Damage> {
        let mut r = Records::new(head)?;
        r.eof = eof;
        Ok(r)
    }

    /// Where to go on in the next window.
    pub fn resume(self) -> Resume {
        Resume {
            offset: self.base + self.pos,
            format: self.format,
        }
    }

    /// Go on reading in `buf`, the file's bytes from offset `base` (at or before
    /// `from.offset`); `eof`: `buf` reaches the end of the file. Records that run past the end
    /// of a window that is not the file's last are left for the next window.
    pub fn window(buf: &'a [u8], base: usize, from: Resume, eof: bool) -> Records<'a> {
        Records {
            buf,
            pos: from.offset.saturating_sub(base),
            format: from.format,
            base,
            eof,
        }
    }

    /// The block at `at`: type, total length and the byte order it is in.
    fn block_at(&self, at: usize) -> Result<Option<(u32, usize, bool)>, Damage> {
        if at >= self.buf.len() {
            return Ok(None);
        }
        // Not all of a block header and its length in this window: the next window has it.
        if !self.eof && self.buf.len() - at < 12 {
            return Ok(None);
        }
        let big = match &self.format {
            Format::Pcapng { big, .. } => *big,
            Format::Pcap { .. } => false,
        };
        let ty =
            u32_at(self.buf, at, big).ok_or_else(|| damage(at, "truncated pcapng block header"))?;
        // A section header carries its own byte order.
        let big = if ty == 0x0a0d_0d0a {
            match u32_at(self.buf, at + 8, false) {
                Some(0x1a2b_3c4d) => false,
                Some(0x4d3c_2b1a) => true,
                Some(_) => {
                    return Err(damage(
                        at,
                        "pcapng section header with an unknown byte-order magic",
                    ))
                }
                None => return Err(damage(at, "truncated pcapng section header")),
            }
        } else {
            big
        };
        let len = u32_at(self.buf, at + 4, big)
            .ok_or_else(|| damage(at, "truncated pcapng block header"))? as usize;
        if len < 12 || len % 4 != 0 {
            return Err(damage(
                at,
                format!("pcapng block of length {len} (not a multiple of 4 of at least 12)"),
            ));
        }
        if len > self.buf.len() - at {
            if !self.eof {
                return Ok(None);
            }
            return Err(damage(
                at,
                format!(
                    "truncated pcapng block: {len} bytes long, {} left in the file",
                    self.buf.len() - at
                ),
            ));
        }
        Ok(Some((ty, len, big)))
    }

    /// A section header block at `at`: a new byte order, no interfaces yet.
    fn section_header(&mut self, at: usize) -> Result<(), Damage> {
        let Some((_, len, big)) = self.block_at(at)? else {
            return Err(damage(at, "empty pcapng file"));
        };
        let major = u16_at(self.buf, at + 12, big)
            .ok_or_else(|| damage(at, "truncated pcapng section header"))?;
        if major != 1 {
            return Err(damage(
                at,
                format!("pcapng major version {major} (only 1 is defined)"),
            ));
        }
        self.format = Format::Pcapng {
            big,
            ifaces: Vec::new(),
        };
        self.pos = at + len;
        Ok(())
    }

    /// An interface description block (body `b`, at file offset `at`).
    fn interface(&mut self, at: usize, b: &[u8], big: bool) -> Result<(), Damage> {
        let short = || damage(at, "truncated pcapng interface description");
        let linktype = u16_at(b, 0, big).ok_or_else(short)? as i32;
        let snaplen = u32_at(b, 4, big).ok_or_else(short)?;
        let mut iface = Iface {
            linktype,
            snaplen: snapshot(snaplen),
            units: 1_000_000,
            offset_s: 0,
            fast_below: 0,
        };
        // Options: code, length, value padded to 4 bytes; code 0 ends them.
        let mut o = 8;
        while let (Some(code), Some(olen)) = (u16_at(b, o, big), u16_at(b, o + 2, big)) {
            let olen = olen as usize;
            let Some(v) = b.get(o + 4..o + 4 + olen) else {
                return Err(damage(at, "pcapng interface option runs past its block"));
            };
            match (code, v) {
                (0, _) => break,
                (9, [r]) => {
                    let n = (r & 0x7f) as u32;
                    let units = if r & 0x80 == 0 {
                        10u64.checked_pow(n)
                    } else {
                        2u64.checked_pow(n)
                    };
                    iface.units = units.filter(|u| *u > 0).ok_or_else(|| {
                        damage(
                            at,
                            format!("pcapng timestamp resolution {r:#04x} is out of range"),
                        )
                    })?;
                }
                (14, v) if v.len() == 8 => {
                    let raw: [u8; 8] = v.try_into().unwrap_or([0; 8]);
                    iface.offset_s = if big {
                        i64::from_be_bytes(raw)
                    } else {
                        i64::from_le_bytes(raw)
                    };
                }
                _ => {}
            }
            o += 4 + olen.div_ceil(4) * 4;
        }
        let Format::Pcapng { ifaces, .. } = &mut self.format else {
            return Ok(());
        };
        if ifaces.len() >= MAX_INTERFACES {
            return Err(damage(
                at,
                format!("more than {MAX_INTERFACES} interfaces in one pcapng section"),
            ));
        }
        if iface.units == 1_000_000 && iface.offset_s == 0 {
            iface.fast_below = iface.snaplen + 1;
        }
        ifaces.push(iface);
        Ok(())
    }

    /// The next frame, `Ok(None)` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'a>>, Damage> {
        let mut got = None;
        self.for_each_until(|f, _| {
            got = Some(f);
            false
        })?;
        Ok(got)
    }

    /// Hand each frame in turn to `f` with the byte offset just after it, until `f` returns
    /// false (then the next call goes on after that frame) or the file ends.
    #[inline]
    pub fn for_each_until(
        &mut self,
        f: impl FnMut(Frame<'a>, usize) -> bool,
    ) -> Result<(), Damage> {
        let base = self.base;
        self.each(f).map_err(|mut d| {
            d.offset += base;
            d
        })
    }

    #[inline(always)]
    fn each(&mut self, mut f: impl FnMut(Frame<'a>, usize) -> bool) -> Result<(), Damage> {
        match self.format {
            Format::Pcap {
                big,
                nanos,
                linktype,
                snaplen,
            } => match (big, nanos) {
                (false, false) => self.pcap_loop::<false, false>(linktype, snaplen, &mut f),
                (false, true) => self.pcap_loop::<false, true>(linktype, snaplen, &mut f),
                (true, false) => self.pcap_loop::<true, false>(linktype, snaplen, &mut f),
                (true, true) => self.pcap_loop::<true, true>(linktype, snaplen, &mut f),
            },
            Format::Pcapng { .. } => loop {
                // Runs of enhanced packet blocks in the section's byte order; whatever else
                // comes (and any damage) is for the general block reader, one block at a time.
                let more = match &self.format {
                    Format::Pcapng { big: false, .. } => self.epb_run::<false>(&mut f),
                    _ => self.epb_run::<true>(&mut f),
                };
                if !more {
                    return Ok(());
                }
                match self.next_pcapng()? {
                    Some(fr) => {
                        if !f(fr, self.base + self.pos) {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                }
            },
        }
    }

    /// Enhanced packet blocks from the read position while each is whole, well formed and on a
    /// known interface with the default microsecond resolution (what capture tools write);
    /// false when `f` asked to stop. The general reader takes the first block that is not.
    #[inline(always)]
    fn epb_run<const BIG: bool>(&mut self, f: &mut impl FnMut(Frame<'a>, usize) -> bool) -> bool {
        let buf = self.buf;
        let Format::Pcapng { ifaces, .. } = &self.format else {
            return true;
        };
        let mut at = self.pos;
        while let Some(rest) = buf.get(at..) {
            let Some(h) = rest.first_chunk::<28>() else {
                break;
            };
            let (ty, len, iface, caplen) = (
                word::<BIG, _>(h, 0),
                word::<BIG, _>(h, 4) as usize,
                word::<BIG, _>(h, 8),
                word::<BIG, _>(h, 20),
            );
            let Some(i) = ifaces.get(iface as usize) else {
                break;
            };
            if ty != 6
                || len % 4 != 0
                || len > rest.len()
                || caplen as usize + 32 > len
                || caplen >= i.fast_below
            {
                break;
            }
            let t = (word::<BIG, _>(h, 12) as u64) << 32 | word::<BIG, _>(h, 16) as u64;
            let frame = Frame {
                ts_us: t as i64,
                wire_len: word::<BIG, _>(h, 24),
                data: &rest[28..28 + caplen as usize],
                linktype: i.linktype,
            };
            at += len;
            if !f(frame, self.base + at) {
                self.pos = at;
                return false;
            }
        }
        self.pos = at;
        true
    }

    /// Classic pcap records: a 16-byte header and the bytes, back to back. The loop that
    /// every replayed packet goes through, so it is one bounds check per record.
    #[inline(always)]
    fn pcap_loop<const BIG: bool, const NANOS: bool>(
        &mut self,
        linktype: i32,
        snaplen: u32,
        f: &mut impl FnMut(Frame<'a>, usize) -> bool,
    ) -> Result<(), Damage> {
        let buf = self.buf;
        loop {
            let at = self.pos;
            let Some(h) = buf.get(at..).and_then(|r| r.first_chunk::<16>()) else {
                return if at >= buf.len() || !self.eof {
                    Ok(())
                } else {
                    Err(damage(
                        at,
                        format!("truncated record header ({} of 16 bytes)", buf.len() - at),
                    ))
                };
            };
            let (sec, frac, caplen, len) = (
                word::<BIG, _>(h, 0),
                word::<BIG, _>(h, 4),
                word::<BIG, _>(h, 8),
                word::<BIG, _>(h, 12),
            );
            let start = at + 16;
            let end = start + caplen as usize;
            if caplen > MAX_SNAPLEN {
                return Err(self.bad_record(at, caplen));
            }
            let Some(data) = buf.get(start..end) else {
                if !self.eof {
                    return Ok(());
                }
                return Err(self.bad_record(at, caplen));
            };
            self.pos = end;
            let frame = Frame {
                ts_us: (sec as i64) * 1_000_000 + if NANOS { frac / 1000 } else { frac } as i64,
                wire_len: len,
                data: if caplen > snaplen {
                    &data[..snaplen as usize]
                } else {
                    data
                },
                linktype,
            };
            if !f(frame, self.base + end) {
                return Ok(());
            }
        }
    }

    #[cold]
    fn bad_record(&self, at: usize, caplen: u32) -> Damage {
        if caplen > MAX_SNAPLEN {
            return damage(
                at,
                format!(
                    "record of {caplen} captured bytes (more than the maximum of {MAX_SNAPLEN})"
                ),
            );
        }
        damage(
            at,
            format!(
                "truncated record: {caplen} captured bytes, {} left in the file",
                self.buf.len() - at - 16
            ),
        )
    }

    fn next_pcapng(&mut self) -> Result<Option<Frame<'a>>, Damage> {
        loop {
            let at = self.pos;
            let Some((ty, len, big)) = self.block_at(at)? else {
                return Ok(None);
            };
            let body = &self.buf[at + 8..at + len - 4];
            let short = || damage(at, "truncated pcapng packet block");
            match ty {
                0x0a0d_0d0a => {
                    self.section_header(at)?;
                    continue;
                }
                1 => self.interface(at, body, big)?,
                // Enhanced (6) and obsolete (2) packet blocks: interface, timestamp, lengths.
                6 | 2 => {
                    let (iface, ts_hi, ts_lo, caplen, wire) = if ty == 6 {
                        (
                            u32_at(body, 0, big).ok_or_else(short)? as usize,
                            u32_at(body, 4, big).ok_or_else(short)?,
                            u32_at(body, 8, big).ok_or_else(short)?,
                            u32_at(body, 12, big).ok_or_else(short)?,
                            u32_at(body, 16, big).ok_or_else(short)?,
                        )
                    } else {
                        (
                            u16_at(body, 0, big).ok_or_else(short)? as usize,
                            u32_at(body, 4, big).ok_or_else(short)?,
                            u32_at(body, 8, big).ok_or_else(short)?,
                            u32_at(body, 12, big).ok_or_else(short)?,
                            u32_at(body, 16, big).ok_or_else(short)?,
                        )
                    };
                    let Some(data) = body.get(20..20 + caplen as usize) else {
                        return Err(damage(
                            at,
                            format!("pcapng packet of {caplen} captured bytes in a block of {len}"),
                        ));
                    };
                    let i = self.iface(at, iface)?;
                    // libpcap refuses such a record rather than cutting it.
                    if caplen > i.snaplen {
                        return Err(damage(
                            at,
                            format!("pcapng packet of {caplen} captured bytes, more than the interface's snapshot length {}", i.snaplen),
                        ));
                    }
                    self.pos = at + len;
                    let t = ((ts_hi as u64) << 32) | ts_lo as u64;
                    return Ok(Some(Frame {
                        ts_us: micros(t, i.units, i.offset_s),
                        wire_len: wire,
                        data,
                        linktype: i.linktype,
                    }));
                }
                // Simple packet block: the original length, then as much as the block holds.
                3 => {
                    let wire = u32_at(body, 0, big).ok_or_else(short)?;
                    let i = self.iface(at, 0)?;
                    let data = &body[4..];
                    let n = data.len().min(wire as usize).min(i.snaplen as usize);
                    self.pos = at + len;
                    return Ok(Some(Frame {
                        ts_us: micros(0, i.units, i.offset_s),
                        wire_len: wire,
                        data: &data[..n],
                        linktype: i.linktype,
                    }));
                }
                // Statistics, name resolution, decryption secrets, custom blocks: not packets.
                _ => {}
            }
            self.pos = at + len;
        }
    }

    fn iface(&self, at: usize, i: usize) -> Result<Iface, Damage> {
        let Format::Pcapng { ifaces, .. } = &self.format else {
            return Err(damage(at, "packet block outside a pcapng section"));
        };
        ifaces.get(i).copied().ok_or_else(|| {
            damage(
                at,
                format!("packet on interface {i}, which no interface description block defines"),
            )
        })
    }
}

/// A read-only private memory map of part of a file.
pub struct Map {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Map {
    /// Map `len` bytes of `file` from `offset` (a multiple of the page size); `None` when
    /// that cannot be done (a pipe, a device, an empty range, no address space left), for the
    /// caller to read another way.
    pub fn window(file: &File, offset: usize, len: usize) -> Option<Map> {
        use std::os::fd::AsRawFd;
        if len == 0 || offset % page_size() != 0 {
            return None;
        }
        let off = libc::off_t::try_from(offset).ok()?;
        // SAFETY: a fresh read-only private mapping of a descriptor we own; the pointer is
        // checked below and unmapped exactly once, in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: advice on our own mapping; failure is harmless.
        unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
        Some(Map { ptr, len })
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes for the life of `self`. (A file truncated by
        // another process while mapped raises SIGBUS on access; replay reads finished files.)
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `window`, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// The bytes a window maps: enough for many records, little enough that the resident set
/// stays small (a kernel may map a whole large folio of the page cache on one fault, so the
/// window, not the read position, bounds what a replay keeps resident).
pub const WINDOW: usize = 512 * 1024;

/// A capture file read window by window.
pub struct Windowed {
    file: File,
    len: usize,
}

impl Windowed {
    /// `file` if it is a regular, non-empty file that maps and holds pcap or pcapng.
    pub fn open(file: File) -> Option<Windowed> {
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() < 4 {
            return None;
        }
        let w = Windowed {
            len: usize::try_from(meta.len()).ok()?,
            file,
        };
        let m = Map::window(&w.file, 0, w.len.min(page_size()))?;
        sniff(m.bytes())?;
        Some(w)
    }

    /// Check the file header (and with `f`, look at the first records).
    pub fn header<T>(&self, f: impl FnOnce(&mut Records<'_>) -> T) -> Result<T, Damage> {
        let mut size = WINDOW;
        loop {
            let n = size.min(self.len);
            let m =
                Map::window(&self.file, 0, n).ok_or_else(|| damage(0, "cannot map the file"))?;
            match Records::start(m.bytes(), n == self.len) {
                Ok(mut r) => return Ok(f(&mut r)),
                // A header larger than the window (pcapng options can be long): a larger one.
                Err(_) if n < self.len => size = size.saturating_mul(4),
                Err(d) => return Err(d),
            }
        }
    }

    /// Every frame in order to `f` (with the file offset after it) until `f` returns false.
    pub fn for_each_until(&self, f: impl FnMut(Frame<'_>, usize) -> bool) -> Result<(), Damage> {
        let map = |base, n| {
            Map::window(&self.file, base, n).ok_or_else(|| damage(base, "cannot map the file"))
        };
        read_windows(self.len, WINDOW, page_size(), map, f)
    }
}

impl AsRef<[u8]> for Map {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

/// Read a file of `len` bytes through windows of `window` bytes that `get(base, n)` makes
/// (`base` a multiple of `align`), handing every frame to `f` until it returns false. A
/// window starts at the first record the previous one did not hold whole; one that holds no
/// whole record grows fourfold for it.
pub fn read_windows<W: AsRef<[u8]>>(
    len: usize,
    window: usize,
    align: usize,
    mut get: impl FnMut(usize, usize) -> Result<W, Damage>,
    mut f: impl FnMut(Frame<'_>, usize) -> bool,
) -> Result<(), Damage> {
    let mut size = window;
    let mut stopped = false;
    let mut from: Option<Resume> = None;
    let mut grown_header = size;
    loop {
        let offset = from.as_ref().map_or(0, |r| r.offset);
        let base = offset - offset % align.max(1);
        let n = (len - base).min(size);
        let w = get(base, n)?;
        let eof = base + n == len;
        let mut r = match from.take() {
            Some(resume) => Records::window(w.as_ref(), base, resume, eof),
            None => match Records::start(w.as_ref(), eof) {
                Ok(r) => r,
                // A header longer than the window (long pcapng options): a larger window.
                Err(_) if !eof => {
                    grown_header = grown_header.saturating_mul(4);
                    size = grown_header;
                    continue;
                }
                Err(d) => return Err(d),
            },
        };
        r.for_each_until(|fr, end| {
            stopped = !f(fr, end);
            !stopped
        })?;
        let resume = r.resume();
        if stopped || resume.offset >= len || (eof && resume.offset == offset) {
            return Ok(());
        }
        // No whole record in this window: a larger one; else back to the usual size.
        size = if resume.offset == offset && base + n < len {
            size.saturating_mul(4)
        } else {
            window
        };
        from = Some(resume);
    }
}
