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
    // Read only by the mock's test that its own routes agree with these.
    #[cfg_attr(not(all(test, feature = "mock")), allow(dead_code))]
    pub(crate) method: &'static str,
    pub(crate) template: &'static str,
    /// `security: []` in the document: sent without the API key.
    pub(crate) anonymous: bool,
    /// The number of `/` in `template`.
    pub(crate) slashes: usize,
    /// Whether a segment mixes a parameter with text (`{dataset}@{selector}`).
    pub(crate) mixed: bool,
}

impl Route {
    /// Whether `path` (below the base path) still has this route's shape.
    ///
    /// The fast form of [`matches`]: the URL parser only ever drops `.` and
    /// `..` segments, which changes the number of `/`, and an empty
    /// parameter leaves `//`; parameters cannot contain `/` (it is encoded).
    /// Mixed segments need the full comparison.
    pub(crate) fn intact(&self, path: &str) -> bool {
        let slashes = path.bytes().filter(|&b| b == b'/').count();
        slashes == self.slashes
            && !path.contains("//")
            && (!self.mixed || matches(self.template, path))
    }
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
    fn the_fast_check_agrees_with_the_full_one() {
        for route in crate::generated::ROUTES {
            let filled = route.template.replace("{", "x{").replace('}', "");
            // `x{name` is a non-empty stand-in for every parameter.
            assert!(route.intact(&filled), "{}: {filled}", route.operation_id);
            assert!(matches(route.template, &filled), "{filled}");
            for hostile in ["", ".", ".."] {
                for (i, _) in route.template.match_indices('{') {
                    let end = i + route.template[i..].find('}').unwrap() + 1;
                    let bad = format!(
                        "{}{hostile}{}",
                        &route.template[..i],
                        &route.template[end..]
                    );
                    // What the URL parser makes of it.
                    let url = url::Url::parse(&format!("https://h{bad}")).unwrap();
                    let seen = url.path();
                    assert_eq!(
                        route.intact(seen),
                        matches(route.template, seen),
                        "{}: {seen}",
                        route.operation_id
                    );
                }
            }
        }
        let resolve = find("resolve_dataset_reference").unwrap();
        assert!(resolve.mixed && !resolve.intact("/resolve/o/@/"));
        assert!(!find("get_dataset").unwrap().mixed);
    }

    #[test]
    fn every_operation_is_in_the_table() {
        assert!(find("list_datasets").is_some());
        assert!(find("signup_user").is_some_and(|r| r.anonymous));
        assert!(find("get_dataset").is_some_and(|r| !r.anonymous));
        assert!(find("no_such_operation").is_none());
    }
}
