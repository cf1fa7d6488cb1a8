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

/// `"00" "01" ... "99"`: two digits per table lookup.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Number of decimal digits of `v` (1 for 0).
#[inline(always)]
fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The two decimal digits of 0..=99 as values 0..=9 (not ASCII), most
/// significant first.
const RAW_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = (i / 10) as u8;
        t[2 * i + 1] = (i % 10) as u8;
        i += 1;
    }
    t
};

/// Decimal digits of `v`, zero-padded to at least `width` (at most 20),
/// for timestamps and every number of the JSON writer. Numbers below 10^8
/// (nearly all: ports, byte counts, microseconds) are four table lookups
/// into one 8-byte word of digit values, whose leading zero bytes give the
/// length; the word is turned into ASCII, shifted so the digits lead,
/// copied whole and cut to length: no loop, no `ilog10`, no `memcpy` call.
#[inline(always)]
pub(crate) fn push_digits(out: &mut Vec<u8>, v: u64, width: usize) {
    if v < 10 && width <= 1 {
        // One digit (zero durations, small counts): one byte.
        out.push(b'0' + v as u8);
        return;
    }
    if v >= 100_000_000 || width > 8 {
        return push_digits_long(out, v, width);
    }
    let (hi, lo) = ((v / 10_000) as usize, (v % 10_000) as usize);
    let mut d = [0u8; 8];
    d[0..2].copy_from_slice(&RAW_PAIRS[(hi / 100) * 2..(hi / 100) * 2 + 2]);
    d[2..4].copy_from_slice(&RAW_PAIRS[(hi % 100) * 2..(hi % 100) * 2 + 2]);
    d[4..6].copy_from_slice(&RAW_PAIRS[(lo / 100) * 2..(lo / 100) * 2 + 2]);
    d[6..8].copy_from_slice(&RAW_PAIRS[(lo % 100) * 2..(lo % 100) * 2 + 2]);
    let raw = u64::from_be_bytes(d);
    // Leading zero digits are zero bytes (all eight for 0).
    let n = (8 - (raw.leading_zeros() / 8) as usize).max(width).max(1);
    // n is 1..=8: the shift is 0..=56 bits.
    let lead = (raw | 0x3030_3030_3030_3030) << ((8 - n) * 8);
    let start = out.len();
    out.extend_from_slice(&lead.to_be_bytes());
    out.truncate(start + n);
}

/// [`push_digits`] for numbers of nine digits and more, or a wider
/// padding: written two per table lookup into a 20-byte window.
#[inline(never)]
fn push_digits_long(out: &mut Vec<u8>, v: u64, width: usize) {
    let n = decimal_len(v).max(width.min(20));
    let mut tmp = [b'0'; 20];
    let mut x = v;
    let mut i = n;
    while x >= 100 && i >= 2 {
        let pair = (x % 100) as usize * 2;
        x /= 100;
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if x >= 10 && i >= 2 {
        let pair = x as usize * 2;
        tmp[i - 2..i].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else if i >= 1 {
        tmp[i - 1] = b'0' + x as u8;
    }
    let start = out.len();
    out.extend_from_slice(&tmp);
    out.truncate(start + n);
}

/// Six digits of `v` (below 1,000,000), zero-padded: the microseconds of a
/// timestamp, three table lookups.
#[inline(always)]
fn six_digits(v: u32) -> [u8; 6] {
    let v = v % 1_000_000;
    let (a, b, c) = (
        (v / 10_000) as usize,
        (v / 100 % 100) as usize,
        (v % 100) as usize,
    );
    let mut d = [0u8; 6];
    d[0..2].copy_from_slice(&DIGIT_PAIRS[a * 2..a * 2 + 2]);
    d[2..4].copy_from_slice(&DIGIT_PAIRS[b * 2..b * 2 + 2]);
    d[4..6].copy_from_slice(&DIGIT_PAIRS[c * 2..c * 2 + 2]);
    d
}

thread_local! {
    /// The last second formatted by this thread and its `YYYY-MM-DDTHH:MM:SS.`
    /// prefix: events of one second share it, so the calendar arithmetic
    /// runs once per second of packet time per thread.
    static LAST_SECOND: std::cell::Cell<(u64, [u8; 20])> = const { std::cell::Cell::new((u64::MAX, [0; 20])) };
}

/// Appends `2024-01-02T03:04:05.678901Z` to `out`.
#[inline]
pub fn write_rfc3339(out: &mut Vec<u8>, ts: Timestamp) {
    let secs = ts / SECOND;
    let (cached, prefix) = LAST_SECOND.with(|c| c.get());
    if cached == secs {
        // One constant-size copy: the cached date and time, then the
        // microseconds.
        let mut t = [b'Z'; 27];
        t[..20].copy_from_slice(&prefix);
        t[20..26].copy_from_slice(&six_digits(((ts % SECOND) / MICROSECOND) as u32));
        out.extend_from_slice(&t);
        return;
    }
    write_rfc3339_new_second(out, ts);
}

/// [`write_rfc3339`] for a second not in the cache: the calendar
/// arithmetic, and the cache refilled when the text has its usual length.
#[cold]
#[inline(never)]
fn write_rfc3339_new_second(out: &mut Vec<u8>, ts: Timestamp) {
    let start = out.len();
    write_rfc3339_slow(out, ts);
    if out.len() - start == 27 {
        let mut p = [0u8; 20];
        p.copy_from_slice(&out[start..start + 20]);
        LAST_SECOND.with(|c| c.set((ts / SECOND, p)));
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

    /// A small deterministic generator (xorshift64*), so the tests need no
    /// random crate and fail the same way every time.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn cached_and_uncached_timestamps_equal_the_calendar_parts() {
        let reference = |ts: Timestamp| {
            let c = civil(ts);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
            )
        };
        let mut state = 0x9e37_79b9_7f4a_7c15;
        let mut ts: Timestamp = 1_700_000_000 * SECOND;
        for i in 0..200_000u64 {
            // Mostly small steps (the cache hit, same second), sometimes a
            // jump anywhere up to the last u64 nanosecond, in 2554 (a
            // miss), sometimes back.
            let r = next(&mut state);
            ts = match i % 5 {
                0 => r,
                1 => ts.saturating_sub(r % (3 * SECOND)),
                _ => ts.saturating_add(r % (SECOND / 3)),
            };
            assert_eq!(rfc3339(ts), reference(ts), "{ts}");
        }
        for ts in [0, 999, 1_000, 999_999_999, SECOND, 86_400 * SECOND - 1] {
            assert_eq!(rfc3339(ts), reference(ts), "{ts}");
        }
    }

    #[test]
    fn digits_with_padding_at_every_length() {
        let mut state = 1;
        let mut vals = vec![0, 9, 10, 99, 100, 101, u64::MAX];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            vals.extend([p - 1, p, p + 1, next - 1]);
            p = next;
        }
        vals.extend((0..10_000).map(|_| next(&mut state) >> (next(&mut state) % 64)));
        let mut out = b"x".to_vec();
        for v in vals {
            for width in [1, 2, 4, 6, 20, 25] {
                out.truncate(1);
                push_digits(&mut out, v, width);
                assert_eq!(&out[1..], format!("{v:0w$}", w = width.min(20)).as_bytes());
            }
        }
        for v in (0..1_000_000).step_by(7).chain([999_999]) {
            assert_eq!(six_digits(v), *format!("{v:06}").as_bytes());
        }
    }
}
