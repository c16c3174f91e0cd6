//! Reading API responses. Every failure is a `bad-response` naming the action and RequestId.

use crate::{ApiError, Error};
use serde_json::Value;

/// A parsed response body, remembering which action produced it.
pub struct Json {
    action: String,
    request_id: String,
    value: Value,
}

/// A JSON object within a response.
#[derive(Clone, Copy)]
pub struct Object<'a> {
    json: &'a Json,
    value: &'a serde_json::Map<String, Value>,
}

impl Json {
    /// Parses a response body; it must be a JSON object. `header_request_id` is the
    /// `x-acs-request-id` header, used when the body has no RequestId.
    pub fn parse(action: &str, body: &[u8], header_request_id: &str) -> Result<Json, Error> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Error::BadResponse(ApiError {
                action: action.into(),
                code: String::new(),
                message: format!("the response is not valid JSON: {e}"),
                request_id: header_request_id.to_string(),
            })
        })?;
        let request_id = value
            .get("RequestId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let json = Json {
            action: action.into(),
            request_id,
            value,
        };
        if !json.value.is_object() {
            return Err(json.bad("the response is not a JSON object"));
        }
        Ok(json)
    }

    /// The top-level object.
    pub fn root(&self) -> Object<'_> {
        Object {
            json: self,
            value: self.value.as_object().expect("checked in parse"),
        }
    }

    /// A `bad-response` error for this response.
    pub fn bad(&self, message: impl Into<String>) -> Error {
        Error::BadResponse(ApiError {
            action: self.action.clone(),
            code: String::new(),
            message: message.into(),
            request_id: self.request_id.clone(),
        })
    }
}

impl<'a> Object<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    /// The object as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self.value).unwrap_or_default()
    }

    /// A required string field.
    pub fn str(&self, key: &str) -> Result<&'a str, Error> {
        self.opt_str(key)?
            .ok_or_else(|| self.json.bad(format!("missing field {key}")))
    }

    /// An optional string field; absent and null are None.
    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.json.bad(format!(
                "field {key} should be a string, got {}",
                kind(other)
            ))),
        }
    }

    /// An optional boolean field.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.json.bad(format!(
                "field {key} should be a boolean, got {}",
                kind(other)
            ))),
        }
    }

    /// An optional integer field.
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(other) => Err(self.json.bad(format!(
                "field {key} should be an integer, got {}",
                kind(other)
            ))),
        }
    }

    /// A required object field.
    pub fn object(&self, key: &str) -> Result<Object<'a>, Error> {
        match self.get(key) {
            Some(Value::Object(o)) => Ok(Object {
                json: self.json,
                value: o,
            }),
            None => Err(self.json.bad(format!("missing field {key}"))),
            Some(other) => Err(self.json.bad(format!(
                "field {key} should be an object, got {}",
                kind(other)
            ))),
        }
    }

    /// An optional object field; absent and null are None.
    pub fn opt_object(&self, key: &str) -> Result<Option<Object<'a>>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.object(key).map(Some),
        }
    }

    /// A wrapped list such as `{"Users":{"User":[...]}}`: `list("Users", "User")`.
    /// A missing wrapper or inner key is an empty list, as the API omits empty lists.
    pub fn list(&self, outer: &str, inner: &str) -> Result<Vec<Object<'a>>, Error> {
        let Some(wrapper) = self.get(outer) else {
            return Ok(Vec::new());
        };
        let Value::Object(wrapper) = wrapper else {
            return Err(self.json.bad(format!(
                "field {outer} should be an object, got {}",
                kind(wrapper)
            )));
        };
        let items = match wrapper.get(inner) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.json.bad(format!(
                    "field {outer}.{inner} should be a list, got {}",
                    kind(other)
                )));
            }
        };
        items
            .iter()
            .map(|item| match item {
                Value::Object(o) => Ok(Object {
                    json: self.json,
                    value: o,
                }),
                other => Err(self.json.bad(format!(
                    "an item of {outer}.{inner} should be an object, got {}",
                    kind(other)
                ))),
            })
            .collect()
    }

    /// Copies the named string, number and boolean fields that are present into attributes,
    /// under the given attribute names.
    pub fn attributes(&self, fields: &[(&str, &str)]) -> Result<Vec<(String, String)>, Error> {
        let mut out = Vec::new();
        for (key, name) in fields {
            let value = match self.get(key) {
                None => continue,
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => {
                    return Err(self.json.bad(format!(
                        "field {key} should be a scalar, got {}",
                        kind(other)
                    )));
                }
            };
            out.push((name.to_string(), value));
        }
        Ok(out)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
