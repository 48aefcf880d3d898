//! A strict JSON reader: `serde_json`'s grammar, plus two refusals that
//! matter for a body signed by one party and read by several programs.
//!
//! - **Duplicate keys** (`{"job_id": A, "job_id": B}`): `serde_json` keeps
//!   the last, other parsers the first; a body that means different things
//!   to different readers is refused.
//! - **Nesting deeper than [`MAX_DEPTH`]**: a webhook is four levels deep
//!   (body → results → result → pga_flags); `serde_json`'s own guard is at
//!   128. The explicit, lower bound gives its own error and keeps the
//!   recursion (here and in every later walk of the tree) shallow.
//!
//! Errors carry the path of the offending key or container, built only
//! when an error unwinds.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Containers (objects and arrays) nested deeper than this are refused.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON (serde_json's message, with line and column).
    Syntax(String),
    /// A container at `path` is nested deeper than [`MAX_DEPTH`].
    TooDeep { path: String },
    /// An object at `path` repeats a key (`path` ends with that key).
    DuplicateKey { path: String },
}

/// Parses `bytes` as one JSON value, strictly (see the module doc).
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let violation = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Node {
        depth: 0,
        violation: &violation,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, violation.into_inner()) {
        (Ok(value), _) => Ok(value),
        (Err(_), Some(violation)) => Err(violation.into_error()),
        (Err(error), None) => Err(JsonError::Syntax(error.to_string())),
    }
}

#[derive(Debug)]
enum Kind {
    TooDeep,
    DuplicateKey,
}

/// What stopped the parse, and the path to it, innermost segment first.
#[derive(Debug)]
struct Violation {
    kind: Kind,
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    Index(usize),
    Key(String),
}

impl Violation {
    fn into_error(self) -> JsonError {
        let mut path = String::new();
        for segment in self.segments.iter().rev() {
            match segment {
                Segment::Index(i) => path.push_str(&format!("[{i}]")),
                Segment::Key(k) if path.is_empty() => path.push_str(k),
                Segment::Key(k) => path.push_str(&format!(".{k}")),
            }
        }
        if path.is_empty() {
            path.push_str("body");
        }
        match self.kind {
            Kind::TooDeep => JsonError::TooDeep { path },
            Kind::DuplicateKey => JsonError::DuplicateKey { path },
        }
    }
}

/// One value of the tree, `depth` containers down.
#[derive(Clone, Copy)]
struct Node<'a> {
    depth: usize,
    violation: &'a RefCell<Option<Violation>>,
}

impl<'a> Node<'a> {
    fn refuse<E: de::Error>(&self, kind: Kind, segments: Vec<Segment>) -> E {
        *self.violation.borrow_mut() = Some(Violation { kind, segments });
        E::custom("strict JSON refused")
    }

    /// Adds `segment` to the path of a violation a child reported.
    fn locate<E>(&self, error: E, segment: impl FnOnce() -> Segment) -> E {
        if let Some(violation) = self.violation.borrow_mut().as_mut() {
            violation.segments.push(segment());
        }
        error
    }

    fn child<E: de::Error>(&self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.refuse(Kind::TooDeep, Vec::new()));
        }
        Ok(Self {
            depth: self.depth + 1,
            violation: self.violation,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float from JSON text.
        Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let index = items.len();
            match seq.next_element_seed(child) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return Ok(Value::Array(items)),
                Err(error) => return Err(self.locate(error, || Segment::Index(index))),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(self.refuse(Kind::DuplicateKey, vec![Segment::Key(key)]));
            }
            match map.next_value_seed(child) {
                Ok(value) => {
                    object.insert(key, value);
                }
                Err(error) => return Err(self.locate(error, || Segment::Key(key))),
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}}"#,
            "[]",
            "null",
            r#""\u00e9\ud83d\ude00""#,
            "18446744073709551615",
            "-9223372036854775808",
            " \n\t{} ",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text.as_bytes()), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_duplicate_keys_with_their_path() {
        assert_eq!(
            parse(br#"{"job_id": 1, "job_id": 2}"#),
            Err(JsonError::DuplicateKey {
                path: "job_id".into()
            })
        );
        assert_eq!(
            parse(br#"{"results": [{"a": 1}, {"product_id": "x", "product_id": "y"}]}"#),
            Err(JsonError::DuplicateKey {
                path: "results[1].product_id".into()
            })
        );
        // The same key in different objects is fine.
        assert!(parse(br#"{"a": {"k": 1}, "b": {"k": 1}}"#).is_ok());
    }

    #[test]
    fn refuses_nesting_past_the_limit_with_its_path() {
        let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(at_limit.as_bytes()).is_ok());
        let over = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let path = "[0]".repeat(MAX_DEPTH);
        assert_eq!(
            parse(over.as_bytes()),
            Err(JsonError::TooDeep { path: path.clone() })
        );
        let objects = format!(
            "{{\"results\": {}{}}}",
            "{\"a\": ".repeat(MAX_DEPTH),
            "}".repeat(MAX_DEPTH)
        );
        match parse(objects.as_bytes()) {
            Err(JsonError::TooDeep { path }) => assert!(path.starts_with("results.a.a"), "{path}"),
            other => panic!("{other:?}"),
        }
        // Far past serde_json's own limit of 128: still our error, no overflow.
        let huge = "[".repeat(1_000_000);
        assert!(matches!(
            parse(huge.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
    }

    #[test]
    fn syntax_errors_are_serde_jsons() {
        for text in [
            "",
            "{",
            "[1,]",
            "NaN",
            "1e400",
            "\"\\ud800\"",
            "{} {}",
            "\u{feff}{}",
        ] {
            assert!(
                matches!(parse(text.as_bytes()), Err(JsonError::Syntax(_))),
                "{text:?}"
            );
        }
        assert!(matches!(parse(b"\"\xff\""), Err(JsonError::Syntax(_))));
        assert_eq!(parse(b"[1.0]"), Ok(json!([1.0])));
    }
}
