//! OpenAPI 3.0 schemas as JSON Schema, for validation. STUB: being written.
