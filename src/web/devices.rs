//! `GET /api/devices` and `GET /api/devices/{mac}`: the device inventory as the pipeline
//! published it last (names from the wire are written as JSON text, escaped).

use std::fmt::Write;

use super::http::Response;
use super::server::Ctx;
use crate::output::json;
use crate::state::devices::{locally_administered, mac_text, parse_mac, Device, Kind, Mac};

/// One device as a JSON object; with `day` (a UTC day number: wall time / 1 day), its
/// traffic and alerts of that day (`bytes_today`, `alerts_today`).
pub fn device_json(b: &mut String, mac: &Mac, d: &Device, day: Option<i64>) {
    b.push_str("{\"mac\":");
    json::string(b, &mac_text(mac));
    b.push_str(",\"name\":");
    json::string(b, &String::from_utf8_lossy(&d.name));
    b.push_str(",\"name_source\":");
    json::string(b, d.name_source.as_str());
    b.push_str(",\"vendor\":");
    json::string(b, d.vendor.as_str());
    b.push_str(",\"kind\":");
    json::string(b, d.kind.as_str());
    b.push_str(",\"kind_evidence\":");
    json::string(b, d.kind_evidence.as_str());
    let _ = write!(
        b,
        ",\"randomized_mac\":{},\"addresses\":[",
        locally_administered(mac)
    );
    for (i, a) in d.addrs().enumerate() {
        if i > 0 {
            b.push(',');
        }
        json::display(b, a);
    }
    b.push_str("],\"services\":[");
    let services = crate::capture::decode::mdns::SERVICES
        .iter()
        .enumerate()
        .filter(|(i, _)| d.services & 1 << i != 0);
    for (n, (_, s)) in services.enumerate() {
        if n > 0 {
            b.push(',');
        }
        json::string(b, s);
    }
    b.push_str("],\"upnp_server\":");
    json::string(b, &String::from_utf8_lossy(&d.upnp_server));
    b.push_str(",\"dhcp_vendor_class\":");
    json::string(b, &String::from_utf8_lossy(&d.vendor_class));
    if d.dhcp_options > 0 {
        let _ = write!(
            b,
            ",\"dhcp_fingerprint\":\"{:08x}/{}\"",
            d.dhcp_fingerprint, d.dhcp_options
        );
    }
    if let Some(day) = day {
        let (bytes, alerts) = d.counts_on(day);
        let _ = write!(b, ",\"bytes_today\":{bytes},\"alerts_today\":{alerts}");
    }
    let _ = write!(
        b,
        ",\"first_seen\":{},\"last_seen\":{}}}",
        d.first_seen, d.last_seen
    );
}

/// The UTC day number of the snapshot's time.
fn day_of(wall_us: i64) -> Option<i64> {
    Some(wall_us.div_euclid(86_400_000_000))
}

/// `GET /api/devices`: every device, most recently seen first.
pub fn list(ctx: &Ctx) -> Response {
    let snap = ctx.feed.snap.borrow().clone();
    let mut rows: Vec<&(Mac, Device)> = snap.devices.iter().collect();
    rows.sort_by(|a, b| b.1.last_seen.cmp(&a.1.last_seen).then(a.0.cmp(&b.0)));
    let mut b = String::with_capacity(64 + rows.len() * 320);
    let _ = write!(b, "{{\"ts\":{},\"devices\":[", snap.wall_us);
    for (i, (mac, d)) in rows.into_iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        device_json(&mut b, mac, d, day_of(snap.wall_us));
    }
    b.push_str("]}");
    Response::json(200, b)
}

/// `GET /api/devices/{mac}`.
pub fn by_mac(mac: &str, ctx: &Ctx) -> Response {
    let Some(mac) = parse_mac(mac) else {
        return Response::error(
            400,
            "a device is named by its MAC address, aa:bb:cc:dd:ee:ff",
        );
    };
    let snap = ctx.feed.snap.borrow().clone();
    match snap.devices.iter().find(|(m, _)| *m == mac) {
        Some((m, d)) => {
            let mut b = String::with_capacity(400);
            device_json(&mut b, m, d, day_of(snap.wall_us));
            Response::json(200, b)
        }
        None => Response::error(404, "no such device"),
    }
}

/// `PATCH /api/devices/{mac}` with `{"name": "...", "kind": "..."}` (either or both; an
/// empty name gives the learnt one back): the user's label, which wins over anything learnt
/// and is stored with the inventory. Queued for the pipeline, applied within a second; the
/// reply is the device as it will read.
pub fn patch(mac: &str, body: &[u8], ctx: &Ctx) -> Response {
    use crate::json_reader::{parse, JsonValue};
    let Some(mac) = parse_mac(mac) else {
        return Response::error(
            400,
            "a device is named by its MAC address, aa:bb:cc:dd:ee:ff",
        );
    };
    let members = match parse(body) {
        Ok(JsonValue::Object(m)) => m,
        Ok(_) => return Response::error(400, "the body must be a JSON object"),
        Err(e) => return Response::error(400, &e.to_string()),
    };
    let mut label = super::DeviceLabel {
        mac,
        name: None,
        kind: None,
    };
    for (k, v) in &members {
        match (k.as_str(), v) {
            ("name", JsonValue::Str(n)) => {
                if n.len() > crate::capture::decode::dhcp::NAME_MAX {
                    return Response::error(422, "`name` is at most 63 bytes");
                }
                if n.chars().any(char::is_control) {
                    return Response::error(422, "`name` has control characters");
                }
                label.name = Some(n.trim().to_string());
            }
            ("kind", JsonValue::Str(k)) => match Kind::parse(k) {
                Some(kind) => label.kind = Some(kind),
                None => {
                    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    return Response::error(422, &format!("`kind` is one of {}", kinds.join(", ")));
                }
            },
            ("name" | "kind", _) => return Response::error(422, "`name` and `kind` are strings"),
            _ => return Response::error(422, "unknown key (name, kind)"),
        }
    }
    if label.name.is_none() && label.kind.is_none() {
        return Response::error(422, "give a `name`, a `kind` or both");
    }
    let snap = ctx.feed.snap.borrow().clone();
    let Some((_, d)) = snap.devices.iter().find(|(m, _)| *m == mac) else {
        return Response::error(404, "no such device");
    };
    let mut d = d.clone();
    d.label(label.name.as_deref(), label.kind);
    {
        let Ok(mut q) = ctx.opts.labels.lock() else {
            return Response::error(503, "labels cannot be queued now");
        };
        if q.len() >= super::LABELS_QUEUED {
            return Response::error(503, "too many labels waiting; try again in a second");
        }
        q.push_back(label);
    }
    let mut b = String::with_capacity(400);
    device_json(&mut b, &mac, &d, day_of(snap.wall_us));
    Response::json(200, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_in_either_separator_and_case_and_nothing_else() {
        assert_eq!(
            parse_mac("3C:22:fb:01:02:0a"),
            Some([0x3c, 0x22, 0xfb, 1, 2, 0x0a])
        );
        assert_eq!(
            parse_mac("3c-22-fb-01-02-0a"),
            parse_mac("3c:22:fb:01:02:0a")
        );
        for bad in [
            "",
            "3c:22:fb:01:02",
            "3c:22:fb:01:02:0a:00",
            "3c:22:fb:1:02:0a",
            "zz:22:fb:01:02:0a",
            "+1:22:fb:01:02:0a",
        ] {
            assert_eq!(crate::state::devices::parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_from_the_wire_are_json_text() {
        let mut d = Device::default();
        let _ = d
            .name
            .extend_from_slice(b"<img src=x onerror=alert(1)>\"\n\xff");
        let mut b = String::new();
        device_json(&mut b, &[0x3c, 0x22, 0xfb, 1, 2, 3], &d, None);
        let v: serde_json::Value = serde_json::from_str(&b).expect("valid JSON");
        assert_eq!(v["name"], "<img src=x onerror=alert(1)>\"\n\u{fffd}");
        assert!(!b.contains('<'), "markup escaped: {b}");
        assert_eq!(v["randomized_mac"], false);
    }
}
