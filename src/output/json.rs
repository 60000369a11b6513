//! Minimal JSON writing into a reused `String`. Text from the wire (DNS names) is raw bytes:
//! `bytes` writes printable ASCII as is and every other byte as `\u00XX`, so the output is
//! always valid JSON and never carries control characters or markup-breaking bytes unescaped.

use std::fmt::Write;

/// Append `s` as a JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '<' || c == '>' || c == '&' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Append raw bytes as a JSON string literal (bytes outside printable ASCII as `\u00XX`).
pub fn bytes(out: &mut String, b: &[u8]) {
    out.push('"');
    for &c in b {
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'<' | b'>' | b'&' => {
                let _ = write!(out, "\\u{:04x}", c);
            }
            0x20..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\u{:04x}", c);
            }
        }
    }
    out.push('"');
}

/// Append `"key":`.
pub fn key(out: &mut String, k: &str) {
    string(out, k);
    out.push(':');
}

/// A finite float with up to 3 decimals (JSON has no NaN/inf: those become 0).
pub fn float(out: &mut String, x: f64) {
    let x = if x.is_finite() { x } else { 0.0 };
    if x == x.trunc() && x.abs() < 1e15 {
        let _ = write!(out, "{}", x as i64);
    } else if x.abs() < 0.001 {
        // Small chances (1e-9) keep three significant digits: `6.09e-10` is a JSON number.
        let _ = write!(out, "{:.2e}", x);
    } else {
        let _ = write!(out, "{:.3}", x);
        while out.ends_with('0') {
            out.pop();
        }
    }
}

/// Writer of a `Display` value as a JSON string, through a stack buffer.
pub fn display(out: &mut String, v: impl std::fmt::Display) {
    let mut buf: heapless::String<128> = heapless::String::new();
    if write!(buf, "{v}").is_ok() {
        string(out, &buf);
    } else {
        let start = out.len();
        let _ = write!(out, "{v}");
        let tail: heapless::String<512> = out[start..].chars().take(500).collect();
        out.truncate(start);
        string(out, &tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_hostile() {
        let mut s = String::new();
        bytes(&mut s, b"a\"b\\c\x00\xff<script>");
        assert_eq!(s, r#""a\"b\\c\u0000\u00ff\u003cscript\u003e""#);
        s.clear();
        string(&mut s, "x\ny\u{1}");
        assert_eq!(s, r#""x\ny\u0001""#);
        s.clear();
        float(&mut s, 0.25);
        assert_eq!(s, "0.25");
        s.clear();
        float(&mut s, f64::NAN);
        assert_eq!(s, "0");
        // Small chances keep their digits and stay JSON numbers.
        for (x, want) in [
            (6.087e-10, "6.09e-10"),
            (1e-9, "1.00e-9"),
            (-0.0004, "-4.00e-4"),
        ] {
            s.clear();
            float(&mut s, x);
            assert_eq!(s, want);
            assert_eq!(
                serde_json::from_str::<f64>(&s).unwrap(),
                want.parse::<f64>().unwrap()
            );
        }
    }
}
