//! `.stream()` on paginated builders: following `next` links by `cursor` and
//! by `page`, keeping the other query parameters, and refusing to loop.

mod common;

use std::{collections::BTreeMap, time::Duration};

use avala::Error;
use common::{assert_logs_clean, checked, client, hits, received};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, query_param, query_param_is_missing},
    Mock, MockServer, ResponseTemplate,
};

fn page(results: Vec<Value>, next: Option<String>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"next": next, "previous": null, "results": results}))
}

fn datasets(uids: &[&str]) -> Vec<Value> {
    uids.iter().map(|u| common::dataset(u)).collect()
}

fn organization(uid: &str) -> Value {
    json!({"uid": uid, "name": format!("Org {uid}"), "slug": format!("org-{uid}")})
}

/// The decoded query parameters of every request, in order.
async fn queries(server: &MockServer) -> Vec<BTreeMap<String, String>> {
    received(server)
        .await
        .iter()
        .map(|r| r.url.query_pairs().into_owned().collect())
        .collect()
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Collects a stream into its items and its error, giving up after 5 s.
async fn drain<T, S>(stream: S) -> (Vec<T>, Option<Error>)
where
    S: futures::Stream<Item = avala::Result<T>> + Unpin,
{
    let collect = async {
        let mut items = Vec::new();
        let mut stream = stream;
        while let Some(next) = stream.next().await {
            match next {
                Ok(item) => items.push(item),
                Err(e) => {
                    // Nothing after the error.
                    assert!(
                        stream.next().await.is_none(),
                        "the stream ends after an error"
                    );
                    return (items, Some(checked(e)));
                }
            }
        }
        (items, None)
    };
    tokio::time::timeout(Duration::from_secs(5), collect)
        .await
        .expect("the stream must end instead of looping")
}

#[tokio::test]
async fn cursor_links_are_followed_across_pages_keeping_other_parameters() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/datasets/", server.uri());
    // Cursors with characters that need encoding in a query string.
    Mock::given(method("GET"))
        .and(path("/api/v1/datasets/"))
        .and(query_param_is_missing("cursor"))
        .respond_with(page(
            datasets(&["d1", "d2"]),
            Some(format!("{list}?cursor=cD0y%2BYQ%3D%3D&limit=2&name=scan")),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/datasets/"))
        .and(query_param("cursor", "cD0y+YQ=="))
        .respond_with(page(
            datasets(&["d3", "d4"]),
            Some(format!(
                "{list}?limit=2&cursor=second%2Fcursor%20x&name=scan"
            )),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/datasets/"))
        .and(query_param("cursor", "second/cursor x"))
        .respond_with(page(
            datasets(&["d5"]),
            Some(format!("{list}?limit=2&cursor=tail&name=scan")),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/datasets/"))
        .and(query_param("cursor", "tail"))
        .respond_with(page(datasets(&["d6"]), None))
        .mount(&server)
        .await;

    let client = client(&server);
    let stream = client.list_datasets().limit(2).name("scan").stream();
    let (items, err) = drain(stream).await;
    assert!(err.is_none(), "{err:?}");
    let uids: Vec<&str> = items.iter().map(|d| d.uid.as_str()).collect();
    assert_eq!(uids, ["d1", "d2", "d3", "d4", "d5", "d6"]);
    assert_eq!(
        queries(&server).await,
        [
            params(&[("limit", "2"), ("name", "scan")]),
            params(&[("cursor", "cD0y+YQ=="), ("limit", "2"), ("name", "scan")]),
            params(&[
                ("cursor", "second/cursor x"),
                ("limit", "2"),
                ("name", "scan")
            ]),
            params(&[("cursor", "tail"), ("limit", "2"), ("name", "scan")]),
        ]
    );
    assert_logs_clean();
}

#[tokio::test]
async fn pages_are_fetched_lazily() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/datasets/", server.uri());
    Mock::given(query_param_is_missing("cursor"))
        .respond_with(page(
            datasets(&["d1", "d2"]),
            Some(format!("{list}?cursor=p2")),
        ))
        .mount(&server)
        .await;
    Mock::given(query_param("cursor", "p2"))
        .respond_with(page(datasets(&["d3"]), None))
        .mount(&server)
        .await;
    let client = client(&server);
    let mut stream = client.list_datasets().stream();
    assert_eq!(
        hits(&server).await,
        0,
        "nothing is sent before the first poll"
    );
    let first = stream.try_next().await.unwrap().unwrap();
    assert_eq!(first.uid, "d1");
    stream.try_next().await.unwrap().unwrap();
    assert_eq!(
        hits(&server).await,
        1,
        "the second page waits until it is needed"
    );
    assert_eq!(stream.try_next().await.unwrap().unwrap().uid, "d3");
    assert!(stream.try_next().await.unwrap().is_none());
    assert_eq!(hits(&server).await, 2);
}

#[tokio::test]
async fn organizations_follow_page_number_links() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/organizations/", server.uri());
    Mock::given(path("/api/v1/organizations/"))
        .and(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "next": format!("{list}?page=2"),
            "previous": null,
            "results": [organization("o1"), organization("o2")]
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/organizations/"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "next": format!("{list}?page=3"),
            "previous": format!("{list}"),
            "results": [organization("o3")]
        })))
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/organizations/"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "next": null,
            "previous": format!("{list}?page=2"),
            "results": [organization("o4")]
        })))
        .mount(&server)
        .await;
    let client = client(&server);
    let (items, err) = drain(client.list_organizations().stream()).await;
    assert!(err.is_none(), "{err:?}");
    let uids: Vec<&str> = items.iter().map(|o| o.uid.as_str()).collect();
    assert_eq!(uids, ["o1", "o2", "o3", "o4"]);
    // The page number goes back as `page`, never as `cursor` (which the
    // server would ignore, returning page 1 forever).
    assert_eq!(
        queries(&server).await,
        [
            params(&[]),
            params(&[("page", "2")]),
            params(&[("page", "3")])
        ]
    );
}

/// A page-number list as the server pages it: `page` picks the page, a
/// `cursor` is ignored (the first page again).
async fn page_number_list(server: &MockServer, list: &str, pages: [Vec<Value>; 2]) {
    let url = format!("{}{list}", server.uri());
    let [first, second] = pages;
    Mock::given(path(list))
        .and(query_param_is_missing("page"))
        .respond_with(page(first, Some(format!("{url}?page=2"))))
        .mount(server)
        .await;
    Mock::given(path(list))
        .and(query_param("page", "2"))
        .respond_with(page(second, None))
        .mount(server)
        .await;
}

#[tokio::test]
async fn invitations_and_members_follow_page_number_links() {
    let server = MockServer::start().await;
    let invitation = |uid: &str| json!({"uid": uid, "invited_email": format!("{uid}@example.com")});
    let member = |uid: &str| json!({"user_uid": uid});
    page_number_list(
        &server,
        "/api/v1/organizations/acme/invitations/",
        [vec![invitation("i1")], vec![invitation("i2")]],
    )
    .await;
    page_number_list(
        &server,
        "/api/v1/organizations/acme/members/",
        [vec![member("u1")], vec![member("u2")]],
    )
    .await;
    let client = client(&server);
    let (invitations, err) =
        drain(client.list_organization_invitations().slug("acme").stream()).await;
    assert!(err.is_none(), "{err:?}");
    let uids: Vec<&str> = invitations.iter().map(|i| i.uid.as_str()).collect();
    assert_eq!(uids, ["i1", "i2"]);
    let (members, err) = drain(client.list_organization_members().slug("acme").stream()).await;
    assert!(err.is_none(), "{err:?}");
    let uids: Vec<&str> = members.iter().map(|m| m.user_uid.as_str()).collect();
    assert_eq!(uids, ["u1", "u2"]);
    // The page number went back as `page`.
    let pages: Vec<Option<String>> = queries(&server)
        .await
        .into_iter()
        .map(|q| q.get("page").cloned())
        .collect();
    assert_eq!(pages, [None, Some("2".into()), None, Some("2".into())]);
}

#[tokio::test]
async fn a_repeated_cursor_ends_the_stream_with_an_error() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/datasets/", server.uri());
    Mock::given(query_param_is_missing("cursor"))
        .respond_with(page(
            datasets(&["d1", "d2"]),
            Some(format!("{list}?cursor=A")),
        ))
        .mount(&server)
        .await;
    // The server keeps answering "next: cursor=A".
    Mock::given(query_param("cursor", "A"))
        .respond_with(page(datasets(&["d3"]), Some(format!("{list}?cursor=A"))))
        .mount(&server)
        .await;
    let client = client(&server);
    let (items, err) = drain(client.list_datasets().stream()).await;
    let uids: Vec<&str> = items.iter().map(|d| d.uid.as_str()).collect();
    assert_eq!(uids, ["d1", "d2", "d3"]);
    let err = err.expect("a repeated cursor is an error");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.message().contains("twice"), "{}", err.message());
    assert_eq!(hits(&server).await, 2);
}

#[tokio::test]
async fn a_cycle_of_cursors_ends_the_stream_with_an_error() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/organizations/", server.uri());
    Mock::given(query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"next": format!("{list}?page=2"), "results": [organization("o1")]}),
        ))
        .mount(&server)
        .await;
    Mock::given(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"next": format!("{list}?page=3"), "results": [organization("o2")]}),
        ))
        .mount(&server)
        .await;
    Mock::given(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"next": format!("{list}?page=2"), "results": [organization("o3")]}),
        ))
        .mount(&server)
        .await;
    let client = client(&server);
    let (items, err) = drain(client.list_organizations().stream()).await;
    assert_eq!(items.len(), 3);
    assert!(matches!(err, Some(Error::Decode { .. })), "{err:?}");
    assert_eq!(hits(&server).await, 3);
}

#[tokio::test]
async fn an_empty_first_page_yields_nothing() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/datasets/"))
        .respond_with(page(vec![], None))
        .mount(&server)
        .await;
    let client = client(&server);
    let (items, err) = drain(client.list_datasets().limit(50).stream()).await;
    assert!(items.is_empty());
    assert!(err.is_none(), "{err:?}");
    assert_eq!(queries(&server).await, [params(&[("limit", "50")])]);
}

#[tokio::test]
async fn a_next_link_without_cursor_or_page_is_the_last_page() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/datasets/", server.uri());
    Mock::given(path("/api/v1/datasets/"))
        .respond_with(page(
            datasets(&["d1"]),
            Some(format!("{list}?limit=2&offset=2")),
        ))
        .mount(&server)
        .await;
    let client = client(&server);
    let (items, err) = drain(client.list_datasets().stream()).await;
    assert_eq!(items.len(), 1);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(hits(&server).await, 1);
}

#[tokio::test]
async fn an_error_on_a_later_page_ends_the_stream_after_the_earlier_items() {
    let server = MockServer::start().await;
    let list = format!("{}/api/v1/datasets/", server.uri());
    Mock::given(query_param_is_missing("cursor"))
        .respond_with(page(datasets(&["d1"]), Some(format!("{list}?cursor=gone"))))
        .mount(&server)
        .await;
    Mock::given(query_param("cursor", "gone"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(common::fixture("_transport.error_404.response.json")),
        )
        .mount(&server)
        .await;
    let client = client(&server);
    let (items, err) = drain(client.list_datasets().stream()).await;
    assert_eq!(items.len(), 1);
    let err = err.expect("the 404 ends the stream");
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.message(), "Not found.");
}
