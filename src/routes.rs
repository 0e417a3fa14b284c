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
                if ps.is_empty() || ps == "." || ps == ".." {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
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
        assert!(matches("/resolve/{owner}/{dataset}@{selector}/", "/resolve/o/d@main/"));
        assert!(!matches("/slices/{owner}/list/", "/slices/o/items/"));
    }

    #[test]
    fn every_operation_is_in_the_table() {
        assert!(find("list_datasets").is_some());
        assert!(find("signup_user").is_some_and(|r| r.anonymous));
        assert!(find("get_dataset").is_some_and(|r| !r.anonymous));
        assert!(find("no_such_operation").is_none());
    }
}
