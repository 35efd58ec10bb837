//! A small JSON Schema (draft 2020-12) validator for the subset
//! schema/summary.schema.json uses. Hand-written rather than the `jsonschema`
//! crate: that crate brings regex engines, URL and HTTP-resolution machinery
//! (tens of crates to compile on a 2-core CI box) for keywords this schema
//! does not use. The subset is: type (one or a list), enum, const, required,
//! properties, additionalProperties (bool or schema), items, minimum,
//! maximum, exclusiveMinimum, minLength, maxLength and local `$ref`s to
//! `#/$defs/...`. Any other keyword is an error, so the schema can never
//! state a rule this validator silently skips.

use serde_json::Value;

/// Keywords that only annotate.
const ANNOTATIONS: [&str; 6] = [
    "$schema",
    "$id",
    "title",
    "description",
    "$comment",
    "$defs",
];

/// Validates `value` against `schema` (whose `$defs` resolve `$ref`s);
/// returns every violation as "path: problem".
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, schema, value, "$", &mut errors);
    errors
}

fn check(root: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(rules) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: not allowed"));
        }
        return;
    };
    for (key, rule) in rules {
        match key.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "$ref" => match resolve(root, rule) {
                Some(target) => check(root, target, value, path, errors),
                None => errors.push(format!("{path}: unresolvable $ref {rule}")),
            },
            "type" => {
                let allowed: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                if !allowed.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{path}: expected type {allowed:?}, found {value}"));
                }
            }
            "enum" => {
                let options = rule.as_array().map(Vec::as_slice).unwrap_or_default();
                if !options.iter().any(|o| json_eq(o, value)) {
                    errors.push(format!("{path}: {value} is not one of {rule}"));
                }
            }
            "const" => {
                if !json_eq(rule, value) {
                    errors.push(format!("{path}: expected {rule}, found {value}"));
                }
            }
            "required" => {
                if let Some(obj) = value.as_object() {
                    for name in rule.as_array().into_iter().flatten() {
                        let name = name.as_str().unwrap_or_default();
                        if !obj.contains_key(name) {
                            errors.push(format!("{path}: missing required field `{name}`"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(obj), Some(props)) = (value.as_object(), rule.as_object()) {
                    for (name, sub) in props {
                        if let Some(v) = obj.get(name) {
                            check(root, sub, v, &format!("{path}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(obj) = value.as_object() {
                    let known = rules.get("properties").and_then(Value::as_object);
                    for (name, v) in obj {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        check(root, rule, v, &format!("{path}.{name}"), errors);
                    }
                }
            }
            "items" => {
                for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                    check(root, rule, v, &format!("{path}[{i}]"), errors);
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" => {
                if let (Some(x), Some(bound)) = (value.as_f64(), rule.as_f64()) {
                    let ok = match key.as_str() {
                        "minimum" => x >= bound,
                        "maximum" => x <= bound,
                        _ => x > bound,
                    };
                    if !ok {
                        errors.push(format!("{path}: {x} violates {key} {bound}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let (Some(s), Some(n)) = (value.as_str(), rule.as_u64()) {
                    let len = s.chars().count() as u64;
                    let ok = if key == "minLength" {
                        len >= n
                    } else {
                        len <= n
                    };
                    if !ok {
                        errors.push(format!("{path}: length {len} violates {key} {n}"));
                    }
                }
            }
            other => errors.push(format!(
                "{path}: schema keyword `{other}` is not supported by tests/common/schema.rs"
            )),
        }
    }
}

fn resolve<'s>(root: &'s Value, reference: &Value) -> Option<&'s Value> {
    let name = reference.as_str()?.strip_prefix("#/$defs/")?;
    root.get("$defs")?.get(name)
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        // JSON Schema: 1.0 is an integer too.
        "integer" => v.is_u64() || v.is_i64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
        _ => false,
    }
}

/// Equality with numbers compared by value (1 == 1.0), as JSON Schema does.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The shipped schema, parsed.
pub fn summary_schema() -> Value {
    let path = super::root().join("schema/summary.schema.json");
    let text = std::fs::read_to_string(&path).expect("schema/summary.schema.json exists");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// Validates every summary.json under `dir` (the run and its fixes/).
/// Panics listing the violations; returns how many files were checked.
pub fn validate_summaries_under(dir: &std::path::Path) -> usize {
    let schema = summary_schema();
    let mut checked = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "summary.json") {
                let text = std::fs::read_to_string(&p).expect("summary.json readable");
                let value: Value = serde_json::from_str(&text).expect("summary.json is JSON");
                let errors = validate(&schema, &value);
                assert!(
                    errors.is_empty(),
                    "{} does not match schema/summary.schema.json:\n{}",
                    p.display(),
                    errors.join("\n")
                );
                checked += 1;
            }
        }
    }
    checked
}
