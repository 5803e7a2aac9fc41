//! Schemas of string fields that take one of a fixed set of names or follow the store's naming
//! rule: the handler still reads a string (and answers 400 naming the choices for anything
//! else), but the OpenAPI document says which names it takes, from the same constants the
//! handler checks against, so a client generator or a fuzzer offers the right ones. Used as
//! `#[schemars(schema_with = "crate::field_schema::...")]`.
//!
//! A leaf: it reads only other crates' constants, so every body type can use it without a
//! circle through `openapi`, which reads the body types.

use schemars::{Schema, SchemaGenerator};

pub(crate) fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Schema {
    let names: Vec<&str> = names.into_iter().collect();
    schemars::json_schema!({ "type": "string", "enum": names })
}

/// A user's, target's, rule's or token's name.
pub(crate) fn name(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": vigil_store::NAME_PATTERN,
        "minLength": 1,
        "maxLength": 64,
    })
}

pub(crate) fn role(_: &mut SchemaGenerator) -> Schema {
    one_of(vigil_core::Role::ALL.map(vigil_core::Role::as_str))
}

pub(crate) fn rule_kind(_: &mut SchemaGenerator) -> Schema {
    one_of(vigil_audit::rules::Pattern::KINDS)
}

pub(crate) fn rule_action(_: &mut SchemaGenerator) -> Schema {
    one_of(vigil_audit::rules::Action::ALL.map(vigil_audit::rules::Action::as_str))
}

pub(crate) fn sudo_inject(_: &mut SchemaGenerator) -> Schema {
    one_of(vigil_core::SudoInject::ALL.map(vigil_core::SudoInject::as_str))
}
