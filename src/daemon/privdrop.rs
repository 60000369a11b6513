//! Shedding root once the captures are open: switch to the configured user and group and keep
//! only `CAP_NET_RAW` and `CAP_NET_ADMIN` (permitted and effective), so a capture that went
//! away can still be reopened. Without root (a binary given the two capabilities with
//! `setcap cap_net_raw,cap_net_admin=eip`), there is nothing to drop.

use serde::Deserialize;
use std::ffi::CString;

use crate::settings::{invalid, ConfigError};

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The user and group to run as, looked up before anything changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub uid: u32,
    pub gid: u32,
}

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// A numeric id, or the id `by_name` finds for the name (`None`: no such entry).
fn id_of(
    key: &str,
    what: &str,
    v: &str,
    by_name: impl FnOnce(&CString) -> Option<u32>,
) -> Result<u32, String> {
    if let Ok(n) = v.parse::<u32>() {
        return Ok(n);
    }
    let name = CString::new(v).map_err(|_| format!("{key}: bad name"))?;
    by_name(&name).ok_or_else(|| format!("{key}: no {what} `{v}` on this system"))
}

/// Look up `daemon.user` / `daemon.group` (names or numbers).
pub fn lookup(cfg: &DaemonConfig) -> Result<Target, String> {
    let uid = id_of("daemon.user", "user", &cfg.user, |n| {
        // SAFETY: getpwnam returns a pointer into static storage or null; read at once.
        let pw = unsafe { libc::getpwnam(n.as_ptr()) };
        // SAFETY: dereferenced only when non-null.
        (!pw.is_null()).then(|| unsafe { (*pw).pw_uid })
    })?;
    let gid = id_of("daemon.group", "group", &cfg.group, |n| {
        // SAFETY: as above, for getgrnam.
        let gr = unsafe { libc::getgrnam(n.as_ptr()) };
        // SAFETY: dereferenced only when non-null.
        (!gr.is_null()).then(|| unsafe { (*gr).gr_gid })
    })?;
    if uid == 0 && !cfg.allow_root {
        return Err(
            "daemon.user: resolves to root; set daemon.allow_root = true to run as root on purpose"
                .into(),
        );
    }
    Ok(Target { uid, gid })
}

/// The capability sets of this process: (effective, permitted), low 32 bits.
pub fn current_caps() -> Option<(u32, u32)> {
    let mut h = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: capget with a v3 header and room for two data structs, as the ABI requires.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr()) };
    (r == 0).then_some((d[0].effective, d[0].permitted))
}

/// True when the process can open captures (root or CAP_NET_RAW effective).
pub fn can_capture() -> bool {
    current_caps().is_some_and(|(e, _)| e & (1 << CAP_NET_RAW) != 0)
}

/// Switch to `t`, keeping CAP_NET_RAW and CAP_NET_ADMIN. No-op unless running as root.
/// With `allow_root` and a root target, nothing changes. With `nft_children`, CAP_NET_ADMIN
/// is also made ambient, so the `nft` the responder runs can change its table (other
/// children get it too: only asked for when blocking is on).
pub fn drop_to(t: Target, nft_children: bool) -> Result<bool, String> {
    // SAFETY: plain libc calls on this process; each result is checked.
    unsafe {
        if libc::geteuid() != 0 || t.uid == 0 {
            return Ok(false);
        }
        if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 {
            return Err(format!("prctl(PR_SET_KEEPCAPS): {}", errno()));
        }
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(format!("setgroups: {}", errno()));
        }
        if libc::setresgid(t.gid, t.gid, t.gid) != 0 {
            return Err(format!("setresgid({}): {}", t.gid, errno()));
        }
        if libc::setresuid(t.uid, t.uid, t.uid) != 0 {
            return Err(format!("setresuid({}): {}", t.uid, errno()));
        }
    }
    let keep = (1 << CAP_NET_RAW) | (1 << CAP_NET_ADMIN);
    let mut h = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let d = [
        CapData {
            effective: keep,
            permitted: keep,
            inheritable: if nft_children { 1 << CAP_NET_ADMIN } else { 0 },
        },
        CapData::default(),
    ];
    // SAFETY: capset with a v3 header and two data structs.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) };
    if r != 0 {
        return Err(format!("capset: {}", errno()));
    }
    if nft_children {
        // SAFETY: a plain prctl; the capability is permitted and inheritable (set above).
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                CAP_NET_ADMIN as libc::c_ulong,
                0,
                0,
            )
        };
        if r != 0 {
            return Err(format!(
                "prctl(PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN): {}",
                errno()
            ));
        }
    }
    // SAFETY: a plain syscall; succeeding would mean the drop did not take.
    if unsafe { libc::setuid(0) } == 0 {
        return Err("still able to become root after dropping privileges".into());
    }
    Ok(true)
}

/// Prepare the directory of `file` (the store or EVE file) for user `t`: a missing directory
/// is created and given to `t`; in an existing one only the files netwatch owns (`file`,
/// `file-wal`, `file-shm`, `file.N`) are handed over, never the directory itself (it may be
/// `/tmp` or `/var/log`). Returns a warning when `t` will not be able to create files there.
pub fn prepare_dir(file: &std::path::Path, t: Target) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(None);
    };
    let Some(name) = file.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(None);
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        std::os::unix::fs::chown(dir, Some(t.uid), Some(t.gid))?;
        return Ok(None);
    }
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_file() && e.file_name().to_string_lossy().starts_with(&name) {
            std::os::unix::fs::chown(e.path(), Some(t.uid), Some(t.gid))?;
        }
    }
    let m = std::fs::metadata(dir)?;
    let writable = m.uid() == t.uid && m.mode() & 0o200 != 0
        || m.gid() == t.gid && m.mode() & 0o020 != 0
        || m.mode() & 0o002 != 0;
    Ok((!writable).then(|| {
        format!(
            "{} is not writable by uid {}: new files (rotation, WAL) cannot be created there",
            dir.display(),
            t.uid
        )
    }))
}

// ---------------------------------------------------------------------------------------------
// Configuration: `[daemon]`.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDaemon {
    pub user: Option<String>,
    pub group: Option<String>,
    pub allow_root: Option<bool>,
    pub exclude_own_traffic: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DaemonConfig {
    pub user: String,
    pub group: String,
    pub allow_root: bool,
    pub exclude_own_traffic: bool,
}

impl FileDaemon {
    pub fn validate(&self) -> Result<DaemonConfig, ConfigError> {
        let user = self.user.clone().unwrap_or_else(|| "nobody".into());
        let group = self.group.clone().unwrap_or_else(|| "nogroup".into());
        let allow_root = self.allow_root.unwrap_or(false);
        for (k, v) in [("daemon.user", &user), ("daemon.group", &group)] {
            if v.is_empty() || v.len() > 32 || v.contains(|c: char| c == ':' || c.is_whitespace()) {
                return Err(invalid(k, format!("`{v}` is not a user or group name")));
            }
        }
        if (user == "root" || user == "0") && !allow_root {
            return Err(invalid(
                "daemon.user",
                "is root: set daemon.allow_root = true to run as root on purpose",
            ));
        }
        Ok(DaemonConfig {
            user,
            group,
            allow_root,
            exclude_own_traffic: self.exclude_own_traffic.unwrap_or(true),
        })
    }
}
