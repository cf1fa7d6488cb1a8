//! GeoIP: `[geoip] database = "PATH"` reads a MaxMind-format database
//! (GeoLite2 or DB-IP Lite, City or Country; the `maxminddb` crate) and
//! adds ECS `client.geo.*` to events: `country_iso_code`, `country_name`,
//! `city_name`, `location` (`lat`, `lon`). An address the database does not
//! know gets `client.geo.name` `private` (non-routable) or `unknown`.
//! Looked up once per flow, when the flow is created.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `[geoip]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoipConfig {
    /// A MaxMind DB file (`.mmdb`), e.g. GeoLite2-City.mmdb.
    pub database: Option<PathBuf>,
}

/// Where a client is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code.
    pub country_iso_code: Option<String>,
    /// English country name.
    pub country_name: Option<String>,
    /// English city name.
    pub city_name: Option<String>,
    /// Latitude and longitude.
    pub location: Option<(f64, f64)>,
    /// `private` or `unknown` when the database has no entry.
    pub label: Option<&'static str>,
    /// The report's map point for `location` (`lat,lon` to 0.1 degree).
    pub place: Option<String>,
}

/// Opening the database failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot open [geoip] database {path}: {message} (give a MaxMind-format .mmdb file, e.g. GeoLite2-City.mmdb or dbip-city-lite.mmdb)")]
pub struct GeoError {
    path: String,
    message: String,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    names: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(borrow, default)]
    city: Option<Named<'a>>,
    #[serde(default)]
    location: Option<Location>,
}

/// An open database, shared read-only by the workers.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.reader.metadata().database_type)
            .finish()
    }
}

impl GeoIp {
    /// Reads the database file.
    pub fn open(path: &std::path::Path) -> Result<Arc<GeoIp>, GeoError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| GeoError {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Arc::new(GeoIp { reader }))
    }

    /// Where `ip` is; `private` / `unknown` when the database has no entry.
    pub fn lookup(&self, ip: IpAddr) -> Geo {
        let rec: Option<Record<'_>> = self
            .reader
            .lookup(ip)
            .ok()
            .and_then(|r| r.decode::<Record<'_>>().ok().flatten());
        let Some(rec) = rec else {
            return Geo {
                label: Some(geo_label(ip)),
                ..Geo::default()
            };
        };
        let en = |m: &BTreeMap<&str, &str>| m.get("en").map(|s| (*s).to_owned());
        let loc = rec.location.and_then(|l| Some((l.latitude?, l.longitude?)));
        let g = Geo {
            country_iso_code: rec
                .country
                .as_ref()
                .and_then(|c| c.iso_code.map(str::to_owned)),
            country_name: rec.country.as_ref().and_then(|c| en(&c.names)),
            city_name: rec.city.as_ref().and_then(|c| en(&c.names)),
            location: loc,
            label: None,
            place: loc.map(|(lat, lon)| place_label(lat, lon)),
        };
        if g.country_iso_code.is_none() && g.location.is_none() {
            return Geo {
                label: Some(geo_label(ip)),
                ..Geo::default()
            };
        }
        g
    }
}

/// `private` for non-routable client addresses, else `unknown`.
pub fn geo_label(ip: IpAddr) -> &'static str {
    let private = match ip {
        IpAddr::V4(v) => {
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.octets()[0] == 100 && (v.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || v.is_unspecified()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    if private {
        "private"
    } else {
        "unknown"
    }
}

/// `lat,lon` rounded to 0.1 degree: the key of a map point.
pub fn place_label(lat: f64, lon: f64) -> String {
    format!("{:.1},{:.1}", lat, lon)
}

#[cfg(test)]
#[path = "../../tests/common/mmdb.rs"]
pub(crate) mod mmdb;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::JsonWriter;

    #[test]
    fn looks_up_a_database_the_test_builds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.mmdb");
        std::fs::write(&path, mmdb::test_database()).unwrap();
        let g = GeoIp::open(&path).unwrap();
        let paris = g.lookup("10.99.0.2".parse().unwrap());
        assert_eq!(paris.country_iso_code.as_deref(), Some("FR"));
        assert_eq!(paris.country_name.as_deref(), Some("France"));
        assert_eq!(paris.city_name.as_deref(), Some("Paris"));
        assert_eq!(paris.location, Some((48.86, 2.35)));
        let jp = g.lookup("203.0.113.7".parse().unwrap());
        assert_eq!(jp.country_iso_code.as_deref(), Some("JP"));
        assert_eq!(jp.location, None);
        assert_eq!(
            g.lookup("127.0.0.1".parse().unwrap()).label,
            Some("private")
        );
        assert_eq!(g.lookup("8.8.8.8".parse().unwrap()).label, Some("unknown"));
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.begin();
        paris.write_json(&mut w);
        w.end();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["geo"]["location"]["lon"], 2.35);
        assert_eq!(v["geo"]["city_name"], "Paris");
    }

    #[test]
    fn a_bad_file_is_a_one_line_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.mmdb");
        std::fs::write(&path, b"not a database").unwrap();
        let e = GeoIp::open(&path).unwrap_err().to_string();
        assert!(e.contains("bad.mmdb") && e.contains("MaxMind"), "{e}");
        assert!(!e.contains('\n'));
    }
}
