//! The generated table of operations (see `build.rs`): what each command is
//! called, its parameters and help, read from `openapi/avala.json`.

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A positional argument, in the path template's order.
    Path,
    /// A `--flag`.
    Query,
}

/// The JSON type a command-line value is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string, sent as typed.
    Str,
    /// An integer.
    Int,
    /// A number.
    Num,
    /// `true` or `false`.
    Bool,
}

/// A path or query parameter.
#[derive(Debug)]
pub struct Param {
    /// The API's name.
    pub name: &'static str,
    /// The argument's id and long flag (`_` becomes `-`).
    pub flag: &'static str,
    /// The placeholder in help: the name in capitals.
    pub value: &'static str,
    /// Path or query.
    pub location: Location,
    /// Whether the document requires it.
    pub required: bool,
    /// Its type, or its items' type when `list`.
    pub kind: Kind,
    /// An array (the flag may repeat).
    pub list: bool,
    /// The document's description.
    pub help: &'static str,
}

/// A scalar field of a JSON request body, settable with a flag.
#[derive(Debug)]
pub struct Field {
    /// The API's name.
    pub name: &'static str,
    /// The flag (`_` becomes `-`).
    pub flag: &'static str,
    /// The placeholder in help: the name in capitals.
    pub value: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether the body needs it.
    pub required: bool,
    /// The document's description.
    pub help: &'static str,
}

/// A JSON request body.
#[derive(Debug)]
pub struct Body {
    /// Whether the operation needs one.
    pub required: bool,
    /// Its scalar fields that have a flag.
    pub fields: &'static [Field],
}

/// One operation of the API.
#[derive(Debug)]
pub struct Operation {
    /// The `operationId`.
    pub id: &'static str,
    /// The HTTP method.
    pub method: &'static str,
    /// The path template below the API root.
    pub path: &'static str,
    /// The command path below `avala`, from the tag: `["fleet", "devices"]`.
    pub group: &'static [&'static str],
    /// The command name within the group: `list`, `get-item`.
    pub verb: &'static str,
    /// One line of help.
    pub summary: &'static str,
    /// The long help.
    pub description: &'static str,
    /// Whether it answers with a `{next, previous, results}` page.
    pub paginated: bool,
    /// Path and query parameters, in the document's order.
    pub params: &'static [Param],
    /// The JSON body, when it takes one.
    pub body: Option<Body>,
}

include!(concat!(env!("OUT_DIR"), "/catalog.rs"));

/// The operation with this id.
pub fn operation(id: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.id == id)
}
