//! `avala::signup` / `ClientBuilder::signup`: the anonymous operation,
//! against the mock.

use avala::{mock::Fault, mock::MockServer, Error};

const PASSWORD: &str = "Pw-9f3k-SECRET-pass";

#[tokio::test]
async fn the_signup_is_sent_without_a_key_and_answered() {
    let mock = MockServer::start().await;
    // The mock's builder holds a key: the signup must not send it.
    let account = mock
        .client_builder()
        .signup("ada@example.com", PASSWORD)
        .first_name("Ada")
        .send()
        .await
        .unwrap();
    assert!(!account.user.uid.is_empty());
    assert!(!account.api_key.is_empty());
    let sent = mock.received_for("signup_user");
    assert_eq!(sent.len(), 1);
    assert!(sent[0].header("x-avala-api-key").is_none());
    assert!(sent[0].violations.is_empty(), "{:?}", sent[0].violations);
    let body = sent[0].json().unwrap();
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["password"], PASSWORD);
    assert_eq!(body["first_name"], "Ada");
    assert!(body.get("last_name").is_none());
}

/// A key that no redaction pattern of the SDK would catch by its shape.
const NEW_KEY: &str = "avk-new-account-Qx81-SECRET-key";

#[tokio::test]
async fn the_new_key_is_readable_but_never_in_debug() {
    let answer = serde_json::json!({
        "api_key": NEW_KEY,
        "user": {"uid": "u_1", "username": "ada", "email": "ada@example.com"},
    });
    let decoded: avala::types::SignupResponse = serde_json::from_value(answer.clone()).unwrap();
    assert_eq!(decoded.api_key, NEW_KEY, "the field stays readable");
    for shown in [format!("{decoded:?}"), format!("{decoded:#?}")] {
        assert!(!shown.contains(NEW_KEY), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("api_key") && shown.contains("u_1"),
            "{shown}"
        );
    }
    // The same JSON shape both ways, key included (it is the answer).
    let user = serde_json::to_value(&decoded.user).unwrap();
    assert_eq!(
        serde_json::to_value(&decoded).unwrap(),
        serde_json::json!({"api_key": NEW_KEY, "user": user})
    );

    // What `send` returns, from the mock's answer.
    let mock = MockServer::start().await;
    let account = mock
        .client_builder()
        .signup("ada@example.com", PASSWORD)
        .send()
        .await
        .unwrap();
    assert!(!account.api_key.is_empty());
    assert!(!format!("{account:?}").contains(&account.api_key));
}

#[tokio::test]
async fn the_password_never_shows_in_errors_or_debug() {
    let mock = MockServer::start().await;
    let echoed = format!(
        r#"{{"detail": "{PASSWORD} is too common", "hint": "{}"}}"#,
        PASSWORD.replace('-', "%2D")
    );
    mock.fault("signup_user", Fault::status(400).body(echoed))
        .times(1);
    let signup = mock.client_builder().signup("ada@example.com", PASSWORD);
    assert!(!format!("{signup:?}").contains(PASSWORD));
    let err = signup.send().await.unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    for shown in [format!("{err}"), format!("{err:?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(!shown.contains("SECRET-pass"), "{shown}");
        assert!(!shown.contains("SECRET%2Dpass"), "{shown}");
    }
}

#[tokio::test]
async fn a_password_beyond_ascii_never_shows_however_it_is_echoed() {
    // A form or URL spells each UTF-8 byte `%XX`; JSON spells a character
    // beyond U+FFFF as a surrogate pair.
    let password = "Pässwört-🔑-gehéim";
    let percent = "P%C3%A4ssw%C3%B6rt-%F0%9F%94%91-geh%C3%A9im";
    let json = r"P\u00e4ssw\u00f6rt-\ud83d\udd11-geh\u00e9im";
    let echoed = format!(r#"{{"detail": "{json} is too common", "hint": "{percent}"}}"#);
    let mock = MockServer::start().await;
    mock.fault("signup_user", Fault::status(400).body(echoed))
        .times(1);
    let err = mock
        .client_builder()
        .signup("ada@example.com", password)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    for shown in [format!("{err}"), format!("{err:?}")] {
        assert!(shown.contains("is too common"), "{shown}");
        for part in ["ssw%C3%B6rt", "F0%9F%94%91", "udd11-geh", "Pässw"] {
            assert!(!shown.contains(part), "{part} in {shown}");
        }
    }
}

#[tokio::test]
async fn an_empty_password_is_refused_before_any_request() {
    let mock = MockServer::start().await;
    let err = mock
        .client_builder()
        .signup("ada@example.com", "")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert_eq!(mock.hits("signup_user"), 0);
}
