//! Byte sizes: formatting as PyTorch prints them, and parsing as users write them.

/// Formats bytes as c10's `format_size` does in out-of-memory messages: bytes up to 1 KiB, then
/// KiB, MiB and GiB with two decimals ("20.00 MiB").
///
/// ```
/// assert_eq!(leakharness::base::format_size(512), "512 bytes");
/// assert_eq!(leakharness::base::format_size(20 << 20), "20.00 MiB");
/// ```
pub fn format_size(size: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    if size <= KIB {
        format!("{size} bytes")
    } else if size <= MIB {
        format!("{:.2} KiB", size as f64 / KIB as f64)
    } else if size <= GIB {
        format!("{:.2} MiB", size as f64 / MIB as f64)
    } else {
        format!("{:.2} GiB", size as f64 / GIB as f64)
    }
}

/// Why a size such as `24GiB` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing was given.
    #[error("expected a size such as `24GiB`, `512MiB`, `1.5GB` or `1000`")]
    Empty,
    /// The number part is malformed.
    #[error("`{0}` is not a number of bytes; write a size such as `24GiB` or `1.5GB`")]
    BadNumber(String),
    /// The unit is not one of the known ones.
    #[error("unknown size unit `{0}`; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)")]
    BadUnit(String),
    /// The size does not fit in 64 bits.
    #[error("size `{0}` is too large")]
    TooLarge(String),
    /// The size is (or rounds down to) zero bytes: no device has no memory.
    #[error("size `{0}` is zero bytes; give the device some memory, e.g. `8MiB`")]
    Zero(String),
}

const UNITS: [(&str, u64); 9] = [
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

/// Parses a byte size: a number, optionally with a fraction, and an optional unit.
///
/// Units are case-insensitive: `B`; `KB`, `MB`, `GB`, `TB` are powers of 1000; `KiB`, `MiB`,
/// `GiB`, `TiB` are powers of 1024. A bare number is bytes. Fractions are rounded down to whole
/// bytes. Used for `#@ device-memory:` and the CLI's `--device-memory`.
///
/// ```
/// use leakharness::base::parse_size;
///
/// assert_eq!(parse_size("24GiB"), Ok(24 << 30));
/// assert_eq!(parse_size("1.5GB"), Ok(1_500_000_000));
/// assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
/// assert_eq!(parse_size("1000"), Ok(1000));
/// assert!(parse_size("12 parsecs").is_err());
/// assert!(parse_size("0.5").is_err()); // rounds down to zero bytes
/// ```
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let unit = unit.trim();
    let multiplier = if unit.is_empty() {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|&(_, multiplier)| multiplier)
            .ok_or_else(|| SizeError::BadUnit(unit.to_string()))?
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    let bad_number = || SizeError::BadNumber(number.to_string());
    // 30 digits keep both the mantissa and the power of ten inside u128.
    if digits.is_empty() || digits.len() > 30 || fraction.contains('.') {
        return Err(bad_number());
    }
    let mantissa: u128 = digits.parse().map_err(|_| bad_number())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let bytes = mantissa
        .checked_mul(u128::from(multiplier))
        .map(|scaled| scaled / scale)
        .ok_or_else(|| SizeError::TooLarge(text.to_string()))?;
    match u64::try_from(bytes) {
        Ok(0) => Err(SizeError::Zero(text.to_string())),
        Ok(bytes) => Ok(bytes),
        Err(_) => Err(SizeError::TooLarge(text.to_string())),
    }
}

/// Writes a byte count in the largest binary unit that divides it exactly, e.g. `24GiB`, so that
/// [`parse_size`] reads back the same number.
///
/// ```
/// use leakharness::base::header_size;
///
/// assert_eq!(header_size(24 << 30), "24GiB");
/// assert_eq!(header_size(1000), "1000");
/// ```
pub fn header_size(bytes: u64) -> String {
    let binary = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    binary
        .iter()
        .find(|&&(_, unit)| bytes != 0 && bytes % unit == 0)
        .map(|&(name, unit)| format!("{}{name}", bytes / unit))
        .unwrap_or_else(|| bytes.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_case_insensitive_and_fractions_round_down() {
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("1GIB"), Ok(1 << 30));
        assert_eq!(parse_size("0.1KiB"), Ok(102));
        assert_eq!(parse_size(".5KB"), Ok(500));
        assert_eq!(parse_size("7."), Ok(7));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(parse_size("."), Err(SizeError::BadNumber(_))));
        assert!(matches!(
            parse_size("1".repeat(40).as_str()),
            Err(SizeError::BadNumber(_))
        ));
    }

    #[test]
    fn format_size_reads_back() {
        for bytes in [1, 1000, 1024, 1536, 24 << 30, u64::MAX, 5 << 40] {
            assert_eq!(parse_size(&header_size(bytes)), Ok(bytes), "{bytes}");
        }
        assert!(matches!(
            parse_size(&header_size(0)),
            Err(SizeError::Zero(_))
        ));
    }
}
