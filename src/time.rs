//! Packet time.
//!
//! Every time in spanlens is a [`Timestamp`]: nanoseconds since the Unix
//! epoch, taken from the capture (never from the wall clock), so that a
//! replay is deterministic. This module also formats timestamps as RFC 3339
//! UTC strings with microsecond precision, without a date library, and
//! holds [`HumanDuration`], the `"10s"` / `"500ms"` durations of settings.

pub mod duration;

pub use duration::HumanDuration;

/// Nanoseconds since 1970-01-01T00:00:00Z, from the packet's capture time.
pub type Timestamp = u64;

/// One second in [`Timestamp`] units.
pub const SECOND: Timestamp = 1_000_000_000;
/// One millisecond in [`Timestamp`] units.
pub const MILLISECOND: Timestamp = 1_000_000;
/// One microsecond in [`Timestamp`] units.
pub const MICROSECOND: Timestamp = 1_000;

/// Converts a `std::time::Duration` to [`Timestamp`] units, saturating.
pub fn from_duration(d: std::time::Duration) -> Timestamp {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Days since the epoch to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Calendar parts of a timestamp (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1..=12.
    pub month: u32,
    /// Day of month 1..=31.
    pub day: u32,
    /// Hour 0..=23.
    pub hour: u32,
    /// Minute 0..=59.
    pub minute: u32,
    /// Second 0..=59.
    pub second: u32,
    /// Microseconds within the second.
    pub micros: u32,
}

/// Splits a timestamp into UTC calendar parts.
pub fn civil(ts: Timestamp) -> Civil {
    let secs = (ts / SECOND) as i64;
    let micros = ((ts % SECOND) / MICROSECOND) as u32;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        minute: (sod / 60) % 60,
        second: sod % 60,
        micros,
    }
}

/// Decimal digits of `v`, zero-padded to at least `width` (at most 20),
/// for timestamps and every number of the JSON writer. They are written
/// into a fixed 20-byte window that is then cut to length: a constant-size
/// copy the compiler inlines, where copying just the digits would be a call
/// to `memcpy` for every number.
#[inline]
pub(crate) fn push_digits(out: &mut Vec<u8>, v: u64, width: usize) {
    let n = v
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1)
        .max(width.min(20));
    let mut tmp = [0u8; 20];
    let mut x = v;
    for slot in tmp[..n].iter_mut().rev() {
        *slot = b'0' + (x % 10) as u8;
        x /= 10;
    }
    let start = out.len();
    out.extend_from_slice(&tmp);
    out.truncate(start + n);
}

thread_local! {
    /// The last second formatted by this thread and its `YYYY-MM-DDTHH:MM:SS.`
    /// prefix: events of one second share it, so the calendar arithmetic
    /// runs once per second of packet time per thread.
    static LAST_SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
}

/// Appends `2024-01-02T03:04:05.678901Z` to `out`.
pub fn write_rfc3339(out: &mut Vec<u8>, ts: Timestamp) {
    let secs = ts / SECOND;
    let (cached, prefix) = LAST_SECOND.with(|c| c.get());
    if cached == secs {
        out.extend_from_slice(&prefix);
        push_digits(out, (ts % SECOND) / MICROSECOND, 6);
        out.push(b'Z');
        return;
    }
    let start = out.len();
    write_rfc3339_slow(out, ts);
    if out.len() - start == 27 {
        let mut p = [0u8; 20];
        p.copy_from_slice(&out[start..start + 20]);
        LAST_SECOND.with(|c| c.set((secs, p)));
    }
}

fn write_rfc3339_slow(out: &mut Vec<u8>, ts: Timestamp) {
    let c = civil(ts);
    push_digits(out, c.year.max(0) as u64, 4);
    out.push(b'-');
    push_digits(out, c.month.into(), 2);
    out.push(b'-');
    push_digits(out, c.day.into(), 2);
    out.push(b'T');
    push_digits(out, c.hour.into(), 2);
    out.push(b':');
    push_digits(out, c.minute.into(), 2);
    out.push(b':');
    push_digits(out, c.second.into(), 2);
    out.push(b'.');
    push_digits(out, c.micros.into(), 6);
    out.push(b'Z');
}

/// Formats a timestamp as RFC 3339 UTC with microseconds.
pub fn rfc3339(ts: Timestamp) -> String {
    let mut v = Vec::with_capacity(27);
    write_rfc3339(&mut v, ts);
    String::from_utf8(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        // 2015-08-27T08:00:55.638957Z, the dns_google_com.pcap request.
        assert_eq!(
            rfc3339(1_440_662_455_638_957_000),
            "2015-08-27T08:00:55.638957Z"
        );
        // A leap day.
        assert_eq!(
            rfc3339(1_709_164_800 * SECOND),
            "2024-02-29T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(4_102_444_799 * SECOND + 999_999_999),
            "2099-12-31T23:59:59.999999Z"
        );
        // The per-second cache: same second, then the next one.
        assert_eq!(
            rfc3339(4_102_444_799 * SECOND + 5_000),
            "2099-12-31T23:59:59.000005Z"
        );
        assert_eq!(
            rfc3339(4_102_444_800 * SECOND),
            "2100-01-01T00:00:00.000000Z"
        );
    }
}
