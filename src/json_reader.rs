//! Reading JSON that a client sent (a `PATCH /api/config` body; later an LLM's reply): a
//! recursive-descent parser over bytes with hard limits — nesting depth `MAX_DEPTH`, input
//! size by the caller — that never panics and names the byte offset of what it rejects.
//! RFC 8259 as written: no comments, no trailing commas, strings must be valid UTF-8 with
//! `\uXXXX` surrogate pairs matched, numbers in JSON's grammar.

use std::fmt;

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    /// A number without fraction or exponent that fits an i64.
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<JsonValue>),
    /// Members in document order (a repeated name is an error).
    Object(Vec<(String, JsonValue)>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub msg: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.msg)
    }
}

impl std::error::Error for JsonError {}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn err<T>(&self, msg: &'static str) -> Result<T, JsonError> {
        Err(JsonError {
            offset: self.i,
            msg,
        })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        self.ws();
        match self.b.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(JsonValue::Str),
            Some(b't') => self.word(b"true", JsonValue::Bool(true)),
            Some(b'f') => self.word(b"false", JsonValue::Bool(false)),
            Some(b'n') => self.word(b"null", JsonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("expected a value"),
        }
    }

    fn word(&mut self, w: &[u8], v: JsonValue) -> Result<JsonValue, JsonError> {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(v)
        } else {
            self.err("expected true, false or null")
        }
    }

    fn object(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        self.i += 1;
        let mut members: Vec<(String, JsonValue)> = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.ws();
            if self.b.get(self.i) != Some(&b'"') {
                return self.err("expected a member name");
            }
            let at = self.i;
            let k = self.string()?;
            if members.iter().any(|(n, _)| *n == k) {
                return Err(JsonError {
                    offset: at,
                    msg: "repeated member name",
                });
            }
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return self.err("expected `:`");
            }
            self.i += 1;
            let v = self.value(depth)?;
            members.push((k, v));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(JsonValue::Object(members));
                }
                _ => return self.err("expected `,` or `}`"),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(JsonValue::Array(items));
                }
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(h) = self.b.get(self.i..self.i + 4) else {
            return self.err("short \\u escape");
        };
        let mut v = 0;
        for &c in h {
            let d = (c as char).to_digit(16);
            match d {
                Some(d) => v = v * 16 + d,
                None => return self.err("bad \\u escape"),
            }
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return self.err("unterminated string");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| JsonError {
                        offset: self.i,
                        msg: "string is not UTF-8",
                    });
                }
                b'\\' => {
                    self.i += 1;
                    let Some(&e) = self.b.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return self.err("unpaired surrogate");
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return self.err("unpaired surrogate");
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(c) => c,
                                None => return self.err("unpaired surrogate"),
                            }
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return self.err("control character in string"),
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<JsonValue, JsonError> {
        let start = self.i;
        let digits = |r: &mut Self| {
            let s = r.i;
            while let Some(b'0'..=b'9') = r.b.get(r.i) {
                r.i += 1;
            }
            r.i - s
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_at = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.b[int_at] == b'0') {
            return self.err("bad number");
        }
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            float = true;
            if digits(self) == 0 {
                return self.err("bad number");
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            float = true;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return self.err("bad number");
            }
        }
        // Only ASCII digits, signs, '.', 'e' were consumed.
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        if !float {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(JsonValue::Int(v));
            }
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(JsonValue::Float(v)),
            _ => Err(JsonError {
                offset: start,
                msg: "number out of range",
            }),
        }
    }
}

/// Parse one JSON text (surrounding white space allowed, nothing else after it).
pub fn parse(text: &[u8]) -> Result<JsonValue, JsonError> {
    let mut r = Reader { b: text, i: 0 };
    let v = r.value(0)?;
    r.ws();
    if r.i != text.len() {
        return r.err("text after the value");
    }
    Ok(v)
}

impl JsonValue {
    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&JsonValue> {
        match self {
            JsonValue::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// As a TOML value (for the config layers); JSON's null has no TOML form, and its path is
    /// the error.
    pub fn to_toml(&self, path: &str) -> Result<toml::Value, String> {
        Ok(match self {
            JsonValue::Null => return Err(format!("`{path}`: null is not a value here")),
            JsonValue::Bool(b) => toml::Value::Boolean(*b),
            JsonValue::Int(i) => toml::Value::Integer(*i),
            JsonValue::Float(f) => toml::Value::Float(*f),
            JsonValue::Str(s) => toml::Value::String(s.clone()),
            JsonValue::Array(a) => toml::Value::Array(
                a.iter()
                    .map(|v| v.to_toml(path))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            JsonValue::Object(m) => {
                let mut t = toml::Table::new();
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    t.insert(k.clone(), v.to_toml(&p)?);
                }
                toml::Value::Table(t)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let v = parse(br#" {"a": [1, -2.5e1, true, null, "x\u00e9\ud83d\ude00\n"], "b": {}} "#)
            .unwrap();
        assert_eq!(
            v.get("a"),
            Some(&JsonValue::Array(vec![
                JsonValue::Int(1),
                JsonValue::Float(-25.0),
                JsonValue::Bool(true),
                JsonValue::Null,
                JsonValue::Str("xé😀\n".into()),
            ]))
        );
        assert_eq!(v.get("b"), Some(&JsonValue::Object(vec![])));
        assert_eq!(
            parse(b"12345678901234567890").unwrap(),
            JsonValue::Float(1.2345678901234567e19)
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\":1,}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\x01\"",
            b"\"\xff\"",
            b"{\"a\":1,\"a\":2}",
            b"tru",
            b"[1] x",
            b"1e999",
            b"'a'",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(17) + &"]".repeat(17);
        assert_eq!(parse(deep.as_bytes()).unwrap_err().msg, "nested too deeply");
        let ok = "[".repeat(16) + &"]".repeat(16);
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn to_toml_names_the_null() {
        let v = parse(br#"{"rules":{"portscan":{"vertical_ports":null}}}"#).unwrap();
        assert!(v
            .to_toml("")
            .unwrap_err()
            .contains("rules.portscan.vertical_ports"));
    }
}
