//! The operation table and the check that a request still has its route.
//!
//! progenitor percent-encodes `/ ? #` in path parameters but not `.`, and the
//! URL parser then removes `.` and `..` segments, so a parameter of `..` would
//! silently send the request (and the key) to another endpoint. Comparing the
//! final path with the operation's template catches that, and an empty
//! parameter, before any byte is sent.

/// One operation of the API document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub(crate) operation_id: &'static str,
    #[allow(dead_code)] // read by the mock server and the tests
    pub(crate) method: &'static str,
    pub(crate) template: &'static str,
    /// `security: []` in the document: sent without the API key.
    pub(crate) anonymous: bool,
}

/// The route of `operation_id`.
pub(crate) fn find(operation_id: &str) -> Option<&'static Route> {
    crate::generated::ROUTES
        .iter()
        .find(|r| r.operation_id == operation_id)
}

/// Checks that `path` (already below the base path) matches `template`
/// segment for segment, with every parameter segment non-empty.
pub(crate) fn matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.contains('{') => {
                if ps == "." || ps == ".." || !segment_matches(ts, ps) {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

/// One templated segment such as `{uid}` or `{dataset}@{selector}`: its
/// literal parts appear in order, and every parameter between them is
/// non-empty.
fn segment_matches(template: &str, segment: &str) -> bool {
    let mut rest = segment;
    let mut parts = template.split('{');
    // Text before the first parameter must match exactly.
    let Some(prefix) = parts.next().and_then(|p| rest.strip_prefix(p)) else {
        return false;
    };
    rest = prefix;
    for part in parts {
        // `part` is `name}literal`: the parameter takes at least one byte,
        // then the literal (if any) must follow.
        let literal = part.split_once('}').map_or("", |(_, lit)| lit);
        let Some(first) = rest.chars().next() else {
            return false;
        };
        let after = &rest[first.len_utf8()..];
        rest = if literal.is_empty() {
            ""
        } else {
            match after.find(literal) {
                Some(i) => &after[i + literal.len()..],
                None => return false,
            }
        };
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_only_whole_routes() {
        assert!(matches("/datasets/{uid}/", "/datasets/abc/"));
        assert!(!matches("/datasets/{uid}/", "/datasets//"));
        assert!(!matches("/datasets/{uid}/", "/datasets/"));
        assert!(!matches("/agents/{uid}/test/", "/test/"));
        assert!(matches(
            "/resolve/{owner}/{dataset}@{selector}/",
            "/resolve/o/d@main/"
        ));
        assert!(!matches("/slices/{owner}/list/", "/slices/o/items/"));
        // Both sides of a two-parameter segment must be non-empty.
        assert!(!matches(
            "/resolve/{owner}/{dataset}@{selector}/",
            "/resolve/o/@/"
        ));
        assert!(!matches(
            "/resolve/{owner}/{dataset}@{selector}/",
            "/resolve/o/d@/"
        ));
        assert!(!matches(
            "/resolve/{owner}/{dataset}@{selector}/",
            "/resolve/o/@main/"
        ));
        assert!(!matches(
            "/resolve/{owner}/{dataset}@{selector}/",
            "/resolve/o/dmain/"
        ));
        assert!(matches(
            "/resolve/{owner}/{dataset}@{selector}/",
            "/resolve/o/d@a@b/"
        ));
    }

    #[test]
    fn every_operation_is_in_the_table() {
        assert!(find("list_datasets").is_some());
        assert!(find("signup_user").is_some_and(|r| r.anonymous));
        assert!(find("get_dataset").is_some_and(|r| !r.anonymous));
        assert!(find("no_such_operation").is_none());
    }
}
