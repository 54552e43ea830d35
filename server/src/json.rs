//! Reading JSON strictly, for every JSON the server takes in (HTTP bodies, websocket
//! messages): duplicate keys refused, and errors that name the failing field.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses JSON text strictly: as `serde_json::from_slice` does, except that an object
/// naming the same key twice is refused (`duplicate key `body.note``, with its path)
/// instead of silently keeping the last value. Every JSON the server takes in (HTTP
/// bodies, websocket messages) goes through here, so what it acts on can never differ
/// from what another parser (a proxy, a log reader, the client's own) reads in the text.
pub fn parse_json(text: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(text);
    UniqueKeys("").deserialize(&mut de)?;
    de.end()?;
    serde_json::from_slice(text)
}

/// Walks a JSON value (serde_json's depth limit applies), checking each object's keys are
/// distinct; the field is the value's path (`""` at the top).
struct UniqueKeys<'a>(&'a str);

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for i in 0.. {
            let path = format!("{}[{i}]", self.0);
            if seq.next_element_seed(UniqueKeys(&path))?.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.0.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.0)
            };
            if !seen.insert(key) {
                return Err(serde::de::Error::custom(format_args!("duplicate key `{path}`")));
            }
            map.next_value_seed(UniqueKeys(&path))?;
        }
        Ok(())
    }
}

/// Deserializes `value` as `T`, reporting the failing field as `prefix.path`.
pub fn from_value<T: DeserializeOwned>(prefix: &str, value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut inner = e.path().to_string();
        let message = e.inner().to_string();
        // serde reports a missing field at its parent: name the field itself.
        if let Some(name) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.strip_suffix('`'))
        {
            inner = if inner == "." {
                name.to_string()
            } else {
                format!("{inner}.{name}")
            };
        }
        let path = match (prefix.is_empty(), inner.as_str()) {
            (true, _) => inner.clone(),
            (false, ".") => prefix.to_string(),
            (false, _) => format!("{prefix}.{inner}"),
        };
        ApiError::invalid(&path, message)
    })
}
