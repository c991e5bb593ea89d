//! Locations from IP addresses, with a MaxMind-format database (GeoLite2/GeoIP2 City or Country, DB-IP …) that
//! the operator provides (`INTENTLAB_GEOIP_DB`). Ingestion derives country, region and city from `context.ip`
//! and then drops the address: it is never stored.

use maxminddb::{geoip2, Reader};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Clone)]
pub struct GeoIp(Arc<Reader<Vec<u8>>>);

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GeoIp")
    }
}

impl GeoIp {
    pub fn open(path: &str) -> Result<GeoIp, String> {
        Reader::open_readfile(path)
            .map(|reader| GeoIp(Arc::new(reader)))
            .map_err(|e| format!("cannot read the GeoIP database {path}: {e}"))
    }

    /// `{"country": "DE", "region": "BE", "city": "Berlin"}` (ISO codes; the English city name), for what the
    /// database knows about the address.
    pub fn locate(&self, ip: &str) -> Option<Map<String, Value>> {
        let address: IpAddr = ip.trim().parse().ok()?;
        let city: geoip2::City = self.0.lookup(address).ok()?.decode().ok()??;
        let mut location = Map::new();
        if let Some(country) = city.country.iso_code {
            location.insert("country".into(), json!(country));
        }
        if let Some(region) = city.subdivisions.first().and_then(|s| s.iso_code) {
            location.insert("region".into(), json!(region));
        }
        if let Some(name) = city.city.names.english {
            location.insert("city".into(), json!(name));
        }
        (!location.is_empty()).then_some(location)
    }

    /// Fills `context.location` of a raw event from `context.ip` where the sender gave no location.
    pub fn enrich(&self, raw: &Value) -> Option<Value> {
        let context = raw.get("context")?.as_object()?;
        let ip = context.get("ip")?.as_str()?;
        let given = context.get("location").and_then(Value::as_object);
        if given.is_some_and(|l| l.contains_key("country")) {
            return None;
        }
        let mut location = self.locate(ip)?;
        if let Some(given) = given {
            location.extend(given.clone());
        }
        let mut enriched = raw.clone();
        enriched["context"]["location"] = Value::Object(location);
        Some(enriched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_database() -> GeoIp {
        GeoIp::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/geoip-test.mmdb")).unwrap()
    }

    #[test]
    fn addresses_become_country_region_and_city() {
        let geo = test_database();
        let berlin = geo.locate("203.0.113.7").unwrap();
        assert_eq!(Value::Object(berlin), json!({"country": "DE", "region": "BE", "city": "Berlin"}));
        assert_eq!(geo.locate("2001:db8::1").unwrap()["country"], "FR");
        assert!(geo.locate("198.51.100.1").is_none());
        assert!(geo.locate("not an address").is_none());
    }

    #[test]
    fn a_location_the_sender_gave_wins() {
        let geo = test_database();
        let raw = json!({"context": {"ip": "203.0.113.7", "location": {"city": "Potsdam"}}});
        let enriched = geo.enrich(&raw).unwrap();
        assert_eq!(enriched["context"]["location"], json!({"country": "DE", "region": "BE", "city": "Potsdam"}));
        assert!(geo.enrich(&json!({"context": {"ip": "203.0.113.7", "location": {"country": "AT"}}})).is_none());
    }
}
