//! The API's contract, completed once the routes' own annotations are in:
//! every operation documents every status it can answer with (the error
//! statuses every operation shares are added here), and every path
//! parameter the constraints the server enforces (an app or team name is a
//! DNS label that is not reserved, ids start at 1). The patterns live here
//! beside the server's own checks, so the document and the server agree.

use serde_json::{json, Value};

/// An app or team name: a DNS label of at most 30 characters, no double
/// hyphen, not one of `names::RESERVED`.
pub fn name_pattern() -> String {
    format!("^(?!({})$)(?!.*--)[a-z]([a-z0-9-]{{0,28}}[a-z0-9])?$", crate::names::RESERVED.join("|"))
}

/// An email address as the server takes it.
pub const EMAIL_PATTERN: &str = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$";
/// Text of one line: no control characters.
pub const LINE_PATTERN: &str = r"^[^\x00-\x1f\x7f]*$";
/// A config var's name (`PORT`, `DYNO` and `PAAS_*` are the platform's).
pub const CONFIG_KEY_PATTERN: &str = r"^(?!(PORT|DYNO|PAAS_.*)$)[A-Za-z_][A-Za-z0-9_]{0,254}$";
/// A config var's value: text, where tabs and line breaks are allowed.
pub const CONFIG_VALUE_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$";
/// A host name: labels of letters, digits and inner hyphens.
pub const HOSTNAME_PATTERN: &str =
    r"^(?=.{1,253}\.?$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$";
/// A process type, as a Procfile names it.
pub const PROCESS_TYPE_PATTERN: &str = "^[a-z][a-z0-9_-]{0,29}$";
/// A volume's mount path: absolute, plain parts, none of the system's
/// directories.
pub const MOUNT_PATTERN: &str =
    r"^(?!/(bin|dev|etc|lib|lib64|proc|sbin|sys|usr)(/|$))(/(?!\.\.?(/|$))[A-Za-z0-9._-]+)+/?$";
/// An add-on, by its name (`postgres-1a2b3c`) or its attachment's (`DATABASE`).
pub const ADDON_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_-]{0,63}$";
/// An attachment's name: a config var's stem (`DATABASE`), not the platform's.
pub const ATTACHMENT_PATTERN: &str = "^(?![Pp][Aa][Aa][Ss]_)[A-Za-z][A-Za-z0-9_]{0,59}$";
/// An add-on's memory: 100 to 99999 MB, or 1 to 64 GB.
pub const ADDON_MEMORY_PATTERN: &str = "^([1-9][0-9]{2,4}([Mm][Bb]?)?|([1-9]|[1-5][0-9]|6[0-4])[Gg][Bb]?)$";
/// A memory size from 6 MB to 1 TB, or `default`.
pub const MEMORY_PATTERN: &str =
    "^([Dd][Ee][Ff][Aa][Uu][Ll][Tt]|([6-9]|[1-9][0-9]{1,5}|10[0-3][0-9]{4}|104[0-7][0-9]{3}|1048[0-4][0-9]{2}|10485[0-6][0-9]|104857[0-6])([Mm][Bb]?)?|([1-9][0-9]{0,2}|10[01][0-9]|102[0-4])[Gg][Bb]?)$";

/// Complete a serialized OpenAPI document in place.
pub fn complete(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, op) in item.iter_mut() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            constrain_parameters(op);
            add_error_responses(path, method, op);
        }
    }
    constrain_bodies(doc);
    if let Some(op) = doc.pointer_mut("/paths/~1api~1v1~1apps~1{app}~1config/patch") {
        // A map of names to a value (set) or null (unset).
        op["requestBody"]["content"]["application/json"]["schema"] = json!({
            "type": "object",
            "minProperties": 1,
            "propertyNames": { "pattern": CONFIG_KEY_PATTERN },
            "additionalProperties": {
                "type": ["string", "null"],
                "maxLength": 8192,
                "pattern": CONFIG_VALUE_PATTERN
            }
        });
    }
}

/// The bounds and patterns of request bodies' fields, by schema and field.
fn constrain_bodies(doc: &mut Value) {
    let line = || json!({ "pattern": LINE_PATTERN });
    let name = || json!({ "pattern": name_pattern(), "maxLength": 30 });
    let email = || json!({ "pattern": EMAIL_PATTERN, "maxLength": 254 });
    let rules: Vec<(&str, &str, Value)> = vec![
        ("CreateApp", "name", name()),
        ("CreateApp", "team", name()),
        ("UpdateApp", "name", name()),
        ("CreateTeam", "name", name()),
        ("AddMember", "email", email()),
        ("CreateUser", "email", email()),
        // A password: 8 to 1,024 characters of one line.
        ("CreateUser", "password", json!({ "pattern": LINE_PATTERN, "minLength": 8, "maxLength": 1024 })),
        // 1 to 100 characters with at least one that is not a space.
        (
            "CreateToken",
            "name",
            json!({ "pattern": r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$", "maxLength": 100 }),
        ),
        ("AddDomain", "hostname", json!({ "pattern": HOSTNAME_PATTERN })),
        ("FormationUpdate", "type", json!({ "pattern": PROCESS_TYPE_PATTERN })),
        ("FormationUpdate", "quantity", json!({ "minimum": 0, "maximum": crate::deploy::formation::MAX_QUANTITY })),
        ("FormationUpdate", "memory", json!({ "pattern": MEMORY_PATTERN })),
        ("Restart", "type", line()),
        ("RunRequest", "command", json!({ "pattern": CONFIG_VALUE_PATTERN, "maxLength": 8192 })),
        ("RunRequest", "memory", json!({ "pattern": MEMORY_PATTERN })),
        ("CreateVolume", "name", name()),
        ("CreateVolume", "mount", json!({ "pattern": MOUNT_PATTERN, "maxLength": 200 })),
        ("CreateVolume", "process", json!({ "pattern": PROCESS_TYPE_PATTERN })),
        ("Rollback", "version", json!({ "minimum": 1 })),
        ("CreateAddon", "service", json!({ "enum": ["postgres", "postgresql", "heroku-postgresql", "pg"] })),
        ("CreateAddon", "version", json!({ "enum": ["17", "15", null] })),
        ("CreateAddon", "as", json!({ "pattern": ATTACHMENT_PATTERN })),
        ("CreateAddon", "memory", json!({ "pattern": ADDON_MEMORY_PATTERN })),
        ("AttachAddon", "addon", json!({ "pattern": ADDON_PATTERN })),
        ("BackupSchedule", "at", json!({ "pattern": "^([01]?[0-9]|2[0-3])(:[0-9]{2})?( [Uu][Tt][Cc])?$" })),
        ("BackupSchedule", "keep", json!({ "minimum": 1, "maximum": 90 })),
        ("AttachAddon", "as", json!({ "pattern": ATTACHMENT_PATTERN })),
    ];
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    for (schema, field, rule) in rules {
        if let Some(property) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{field}"))) {
            if let (Some(property), Some(rule)) = (property.as_object_mut(), rule.as_object()) {
                property.extend(rule.clone());
            }
        }
    }
    if let Some(updates) = schemas.get_mut("FormationUpdates").and_then(|s| s.pointer_mut("/properties/updates")) {
        updates["minItems"] = json!(1);
    }
    if let Some(env) = schemas.get_mut("RunRequest").and_then(|s| s.pointer_mut("/properties/env")) {
        env["propertyNames"] = json!({ "pattern": CONFIG_KEY_PATTERN });
        env["additionalProperties"] = json!({ "type": "string", "maxLength": 8192, "pattern": CONFIG_VALUE_PATTERN });
    }
    if let Some(cpus) = schemas.get_mut("CpuLimit") {
        *cpus = json!({ "oneOf": [
            { "type": "number", "minimum": 0.01, "maximum": 256 },
            { "type": "string", "enum": ["default"] }
        ] });
    }
}

fn constrain_parameters(op: &mut Value) {
    let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters {
        let schema = match parameter["name"].as_str() {
            Some("app" | "team") => json!({ "type": "string", "pattern": name_pattern(), "maxLength": 30 }),
            Some("email") => json!({ "type": "string", "pattern": EMAIL_PATTERN, "maxLength": 254 }),
            Some("id" | "version") => json!({ "type": "integer", "format": "int64", "minimum": 1 }),
            Some("hostname") => json!({ "type": "string", "pattern": HOSTNAME_PATTERN }),
            Some("name") => json!({ "type": "string", "pattern": name_pattern(), "maxLength": 30 }),
            Some("addon") => json!({ "type": "string", "pattern": ADDON_PATTERN }),
            // A node's id or host name.
            Some("node") => json!({ "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$" }),
            Some("backup") => json!({ "type": "string", "pattern": "^[bB]?[0-9]{1,18}$" }),
            _ => continue,
        };
        parameter["schema"] = schema;
    }
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

/// The statuses any operation may answer with, documented where missing.
fn add_error_responses(path: &str, method: &str, op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_string()).or_insert_with(|| error(description));
    };
    add("400", "The request is malformed (a body that is not the JSON the operation takes).");
    add("401", "No valid API token (or, for POST /tokens, wrong email or password).");
    add("403", "Your role does not allow it, or the request came from an app container.");
    add("404", "No such app, team, user, release, build or operation (or not yours to see).");
    add("422", "A value is out of its bounds or does not follow its rules; the message says which.");
    add("503", "The database is unavailable; try again in a moment.");
    if has_body {
        add("413", "The body is larger than 2 MiB.");
    }
    if path.ends_with("/tokens") && method == "post" {
        add("429", "Too many failed password checks for this account from this address; see Retry-After.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_shared_errors() {
        let mut doc = json!({ "paths": { "/api/v1/apps/{app}": { "get": {
            "parameters": [{ "name": "app", "in": "path", "schema": { "type": "string" } }],
            "responses": { "200": { "description": "ok" } }
        } } } });
        complete(&mut doc);
        let op = &doc["paths"]["/api/v1/apps/{app}"]["get"];
        for status in ["400", "401", "403", "404", "422", "503"] {
            assert!(op["responses"][status].is_object(), "{status}");
        }
        assert_eq!(op["parameters"][0]["schema"]["maxLength"], 30);
    }
}
