//! `--bpf` for capture files read by our own reader: libpcap compiles the expression once per
//! link type (on a "dead" handle) and its offline filter judges each record, with the record's
//! true wire length (so `len > N` and `greater N` see what libpcap's own reader gives them).

use super::{CaptureError, Frame};

#[repr(C)]
struct BpfProgram {
    bf_len: libc::c_uint,
    bf_insns: *const libc::c_void,
}

#[repr(C)]
struct PktHdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

extern "C" {
    fn pcap_offline_filter(
        prog: *const BpfProgram,
        h: *const PktHdr,
        pkt: *const u8,
    ) -> libc::c_int;
}

/// The pcap-file link type as libpcap's DLT_* number (they differ for raw IP only, of the
/// types NetWatch decodes).
fn dlt_of(linktype: i32) -> i32 {
    match linktype {
        101 => 12,
        l => l,
    }
}

pub struct Filter {
    expr: String,
    /// Programs compiled so far, by link type (a pcapng file may mix them).
    programs: Vec<(i32, pcap::BpfProgram)>,
}

impl Filter {
    pub fn new(expr: &str) -> Filter {
        Filter {
            expr: expr.to_string(),
            programs: Vec::new(),
        }
    }

    /// The program for `linktype`, compiled on first use.
    pub fn program(&mut self, linktype: i32) -> Result<&pcap::BpfProgram, CaptureError> {
        let i = match self.programs.iter().position(|(l, _)| *l == linktype) {
            Some(i) => i,
            None => {
                let err = |msg: String| CaptureError::Filter {
                    expr: self.expr.clone(),
                    msg,
                };
                let dead = pcap::Capture::dead(pcap::Linktype(dlt_of(linktype)))
                    .map_err(|e| err(e.to_string()))?;
                let p = dead
                    .compile(&self.expr, true)
                    .map_err(|e| err(format!("{e} (link type {linktype})")))?;
                self.programs.push((linktype, p));
                self.programs.len() - 1
            }
        };
        Ok(&self.programs[i].1)
    }

    /// Does the frame pass the filter?
    #[inline]
    pub fn matches(&mut self, f: &Frame<'_>) -> Result<bool, CaptureError> {
        let p = self.program(f.linktype)?;
        let insns = p.get_instructions();
        let prog = BpfProgram {
            bf_len: insns.len() as libc::c_uint,
            bf_insns: insns.as_ptr() as *const libc::c_void,
        };
        let h = PktHdr {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: f.data.len() as u32,
            len: f.wire_len,
        };
        // SAFETY: `prog` points at the instructions `p` owns (alive for this call), `h` and
        // the frame are valid for the call, and caplen is the frame's length: the filter
        // reads only within it.
        Ok(unsafe { pcap_offline_filter(&prog, &h, f.data.as_ptr()) } > 0)
    }
}
