//! The NumPy `.npy` format: enough to read the arrays of a Keras `mnist.npz` and to write the
//! exported weights.
//!
//! A `.npy` file is the magic `\x93NUMPY`, a version (1.0 with a `u16` header length, 2.0/3.0 with
//! a `u32`), and a Python-literal dict such as
//! `{'descr': '|u1', 'fortran_order': False, 'shape': (60000, 28, 28), }`, padded with spaces to a
//! multiple of 64 bytes and ended by `\n`, followed by the raw array data.

use std::io::Write;

const MAGIC: &[u8] = b"\x93NUMPY";

/// The parsed header of a `.npy` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The dtype string, e.g. `|u1` or `<i8`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

impl Header {
    /// Bytes per element implied by `descr`, if it is a plain numeric dtype.
    pub fn item_size(&self) -> Option<u64> {
        let digits = self.descr.get(2..)?;
        digits.parse().ok()
    }

    /// The number of elements.
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits a `.npy` file into its header and data. Errors are plain descriptions; callers add the
/// file name.
pub fn parse(bytes: &[u8]) -> Result<(Header, &[u8]), String> {
    if !bytes.starts_with(MAGIC) || bytes.len() < 10 {
        return Err("not a .npy file (bad magic)".into());
    }
    let major = bytes[6];
    let (len, start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy version {major}")),
    };
    let text = bytes
        .get(start..start + len)
        .ok_or("truncated .npy header")?;
    let text = std::str::from_utf8(text).map_err(|_| "the .npy header is not text")?;
    let header = parse_dict(text)?;
    Ok((header, &bytes[start + len..]))
}

fn parse_dict(text: &str) -> Result<Header, String> {
    let descr = value_after(text, "'descr'")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("bad 'descr' in .npy header")?
        .to_string();
    let fortran = value_after(text, "'fortran_order'")?;
    let fortran_order = if fortran.starts_with("True") {
        true
    } else if fortran.starts_with("False") {
        false
    } else {
        return Err("bad 'fortran_order' in .npy header".into());
    };
    let shape = value_after(text, "'shape'")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("bad 'shape' in .npy header")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "bad 'shape' in .npy header")?;
    Ok(Header {
        descr,
        fortran_order,
        shape,
    })
}

fn value_after<'a>(text: &'a str, key: &str) -> Result<&'a str, String> {
    let at = text
        .find(key)
        .ok_or_else(|| format!("{key} missing from .npy header"))?;
    let rest = text[at + key.len()..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("bad {key} in .npy header"))?;
    Ok(rest.trim_start())
}

/// Writes a C-order little-endian float64 array (`<f8`) of the given shape.
pub fn write_f64(out: &mut impl Write, shape: &[usize], data: &[f64]) -> std::io::Result<()> {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_raw(out, "<f8", shape, data.len(), &bytes)
}

/// Writes a C-order little-endian float32 array (`<f4`) of the given shape.
pub fn write_f32(out: &mut impl Write, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_raw(out, "<f4", shape, data.len(), &bytes)
}

fn write_raw(
    out: &mut impl Write,
    descr: &str,
    shape: &[usize],
    len: usize,
    data: &[u8],
) -> std::io::Result<()> {
    assert_eq!(shape.iter().product::<usize>(), len, "shape/data mismatch");
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Pad so that magic + version + length + header + '\n' is a multiple of 64.
    let total = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.extend(std::iter::repeat_n(' ', (64 - total % 64) % 64));
    header.push('\n');
    out.write_all(MAGIC)?;
    out.write_all(&[1, 0])?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    out.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_f64() {
        let mut out = Vec::new();
        write_f64(&mut out, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -0.5]).unwrap();
        let header_len = out.len() - 48;
        assert_eq!(header_len % 64, 0);
        let (h, data) = parse(&out).unwrap();
        assert_eq!(h.descr, "<f8");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![2, 3]);
        assert_eq!(h.item_size(), Some(8));
        assert_eq!(data.len(), 48);
        assert_eq!(f64::from_le_bytes(data[40..48].try_into().unwrap()), -0.5);
    }

    #[test]
    fn writes_f32() {
        let mut out = Vec::new();
        write_f32(&mut out, &[3], &[1.5, -2.0, 0.25]).unwrap();
        let (h, data) = parse(&out).unwrap();
        assert_eq!((h.descr.as_str(), h.shape.clone()), ("<f4", vec![3]));
        assert_eq!(data, [1.5f32, -2.0, 0.25].map(f32::to_le_bytes).concat());
    }

    #[test]
    fn parses_numpy_headers() {
        let text = "{'descr': '|u1', 'fortran_order': False, 'shape': (60000, 28, 28), }";
        let h = parse_dict(text).unwrap();
        assert_eq!(h.shape, vec![60000, 28, 28]);
        assert_eq!(h.len(), 60000 * 784);
        let h = parse_dict("{'descr': '<i8', 'fortran_order': True, 'shape': (5,), }").unwrap();
        assert!(h.fortran_order);
        assert_eq!(h.shape, vec![5]);
        assert!(parse_dict("{'descr': '<i8', 'shape': (5,), }").is_err());
        assert!(parse(b"\x93NUMPY\x09\x00").is_err());
        assert!(parse(b"garbage!!!!!").is_err());
    }
}
