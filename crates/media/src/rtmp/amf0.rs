//! The subset of AMF0 that RTMP command and data messages use.

use crate::util::Reader;

/// Nesting deeper than this is refused: real encoders nest two levels, and recursion on
/// hostile input must not exhaust the stack.
const MAX_DEPTH: usize = 16;

/// A decoded AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    String(String),
    /// Anonymous object or ECMA array: ordered key/value pairs.
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch (the time-zone field is ignored, as the spec asks).
    Date(f64),
}

impl Amf0Value {
    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Looks up a property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Self::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// AMF0 decoding failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Amf0Error {
    #[error("AMF0 data truncated")]
    Truncated,
    #[error("unsupported AMF0 marker {0:#04x}")]
    UnsupportedMarker(u8),
    #[error("AMF0 nesting too deep")]
    TooDeep,
    #[error("AMF0 string is not UTF-8")]
    BadString,
}

/// Decodes every value in `data` (a command or data message body).
pub fn decode_all(data: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        out.push(decode_value(&mut r, 0)?);
    }
    Ok(out)
}

/// Decodes one value from the front of `data`, returning it and the bytes consumed.
pub fn decode_one(data: &[u8]) -> Result<(Amf0Value, usize), Amf0Error> {
    let mut r = Reader::new(data);
    let v = decode_value(&mut r, 0)?;
    Ok((v, r.position()))
}

fn decode_value(r: &mut Reader<'_>, depth: usize) -> Result<Amf0Value, Amf0Error> {
    if depth > MAX_DEPTH {
        return Err(Amf0Error::TooDeep);
    }
    let marker = r.u8().ok_or(Amf0Error::Truncated)?;
    Ok(match marker {
        0x00 => Amf0Value::Number(f64::from_bits(r.u64().ok_or(Amf0Error::Truncated)?)),
        0x01 => Amf0Value::Boolean(r.u8().ok_or(Amf0Error::Truncated)? != 0),
        0x02 => Amf0Value::String(short_string(r)?),
        0x03 => Amf0Value::Object(properties(r, depth)?),
        0x05 => Amf0Value::Null,
        0x06 => Amf0Value::Undefined,
        0x08 => {
            // The count is only a hint (encoders get it wrong); the end marker is what counts.
            r.u32().ok_or(Amf0Error::Truncated)?;
            Amf0Value::Object(properties(r, depth)?)
        }
        0x0A => {
            let n = r.u32().ok_or(Amf0Error::Truncated)?;
            // Each element takes at least one byte, so a count above the remaining length is a lie.
            if n as usize > r.remaining() {
                return Err(Amf0Error::Truncated);
            }
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(decode_value(r, depth + 1)?);
            }
            Amf0Value::StrictArray(items)
        }
        0x0B => {
            let ms = f64::from_bits(r.u64().ok_or(Amf0Error::Truncated)?);
            r.u16().ok_or(Amf0Error::Truncated)?;
            Amf0Value::Date(ms)
        }
        0x0C => {
            let len = r.u32().ok_or(Amf0Error::Truncated)? as usize;
            let b = r.bytes(len).ok_or(Amf0Error::Truncated)?;
            Amf0Value::String(String::from_utf8(b.to_vec()).map_err(|_| Amf0Error::BadString)?)
        }
        m => return Err(Amf0Error::UnsupportedMarker(m)),
    })
}

fn short_string(r: &mut Reader<'_>) -> Result<String, Amf0Error> {
    let len = usize::from(r.u16().ok_or(Amf0Error::Truncated)?);
    let b = r.bytes(len).ok_or(Amf0Error::Truncated)?;
    String::from_utf8(b.to_vec()).map_err(|_| Amf0Error::BadString)
}

fn properties(r: &mut Reader<'_>, depth: usize) -> Result<Vec<(String, Amf0Value)>, Amf0Error> {
    let mut props = Vec::new();
    loop {
        let key = short_string(r)?;
        if key.is_empty() {
            // An empty key followed by the object-end marker closes the object.
            let end = r.u8().ok_or(Amf0Error::Truncated)?;
            if end == 0x09 {
                return Ok(props);
            }
            return Err(Amf0Error::UnsupportedMarker(end));
        }
        let v = decode_value(r, depth + 1)?;
        props.push((key, v));
    }
}

/// Appends the AMF0 encoding of `v` to `out`.
pub fn encode(out: &mut Vec<u8>, v: &Amf0Value) {
    match v {
        Amf0Value::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_bits().to_be_bytes());
        }
        Amf0Value::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
        Amf0Value::String(s) => {
            if let Ok(len) = u16::try_from(s.len()) {
                out.push(0x02);
                out.extend_from_slice(&len.to_be_bytes());
            } else {
                out.push(0x0C);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            }
            out.extend_from_slice(s.as_bytes());
        }
        Amf0Value::Object(props) => {
            out.push(0x03);
            for (k, v) in props {
                // Keys are ours (replies), always short; clamp rather than emit a corrupt length.
                let k = k
                    .as_bytes()
                    .get(..k.len().min(usize::from(u16::MAX)))
                    .unwrap_or_default();
                out.extend_from_slice(&(k.len() as u16).to_be_bytes());
                out.extend_from_slice(k);
                encode(out, v);
            }
            out.extend_from_slice(&[0, 0, 0x09]);
        }
        Amf0Value::Null => out.push(0x05),
        Amf0Value::Undefined => out.push(0x06),
        Amf0Value::StrictArray(items) => {
            out.push(0x0A);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            for i in items {
                encode(out, i);
            }
        }
        Amf0Value::Date(ms) => {
            out.push(0x0B);
            out.extend_from_slice(&ms.to_bits().to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

/// Shorthand for building reply objects.
pub(crate) fn object(props: &[(&str, Amf0Value)]) -> Amf0Value {
    Amf0Value::Object(
        props
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = vec![
            Amf0Value::String("connect".into()),
            Amf0Value::Number(1.0),
            object(&[
                ("app", Amf0Value::String("live".into())),
                ("n", Amf0Value::Null),
            ]),
            Amf0Value::StrictArray(vec![Amf0Value::Boolean(true)]),
        ];
        let mut out = Vec::new();
        for x in &v {
            encode(&mut out, x);
        }
        assert_eq!(decode_all(&out), Ok(v));
    }

    #[test]
    fn deep_nesting_refused() {
        let mut data = Vec::new();
        for _ in 0..100 {
            data.extend_from_slice(&[0x0A, 0, 0, 0, 1]);
        }
        assert_eq!(decode_all(&data), Err(Amf0Error::TooDeep));
    }
}
