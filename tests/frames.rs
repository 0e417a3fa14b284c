//! `Client::get_frame` and `get_calibration` against the mock: one GET of
//! the sequence, its frames typed.

use avala::mock::MockServer;
use serde_json::json;

/// A sequence as the API answers it (from tests/fixtures/datasets.get_sequence.2.response.json).
fn sequence() -> serde_json::Value {
    json!({
        "uid": "55555555-5555-5555-5555-555555555555",
        "key": "full-scene-569",
        "status": "completed",
        "number_of_frames": 2,
        "frames": [
            {"key": "frame-0.json", "model": "pinhole",
             "device_position": {"x": 1.0, "y": 2.0, "z": 3.0},
             "device_heading": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
             "images": [
                {"camera": "cam_01", "image_url": "s3://bucket/frame-0/cam_01.jpg",
                 "width": 1920, "height": 1080, "fx": 824.74, "fy": 834.49, "cx": 960.0, "cy": 540.0},
                {"camera": "cam_02", "image_url": "s3://bucket/frame-0/cam_02.jpg", "model": "doublesphere"}
             ]},
            {"key": "frame-1.json", "device_position": {"x": 4.0, "y": 5.0, "z": 6.0}}
        ]
    })
}

#[tokio::test]
async fn a_frame_and_the_rig_come_typed_from_one_get_of_the_sequence() {
    let mock = MockServer::start().await;
    mock.respond("get_dataset_sequence", sequence()).times(2);
    let client = mock.client();

    let frame = client.get_frame("acme", "lidar", "seq-1", 1).await.unwrap();
    assert_eq!(frame.frame_index, 1);
    assert_eq!(frame.key.as_deref(), Some("frame-1.json"));
    let p = frame.device_position.unwrap();
    assert_eq!((p.x, p.y, p.z), (4.0, 5.0, 6.0));
    let sent = mock.received_for("get_dataset_sequence");
    assert_eq!(sent[0].path, "/api/v1/datasets/acme/lidar/sequences/seq-1/");

    let rig = client
        .get_calibration("acme", "lidar", "seq-1")
        .await
        .unwrap();
    assert_eq!(rig.sequence_uid, "55555555-5555-5555-5555-555555555555");
    let ids: Vec<_> = rig.cameras.iter().map(|c| c.camera_id.as_deref()).collect();
    assert_eq!(ids, [Some("cam_01"), Some("cam_02")]);
    assert_eq!(
        (rig.cameras[0].fx, rig.cameras[0].width),
        (Some(824.74), Some(1920))
    );
    // The frame's model is the default; the camera's own wins.
    assert_eq!(rig.cameras[0].model.as_deref(), Some("pinhole"));
    assert_eq!(rig.cameras[1].model.as_deref(), Some("doublesphere"));
    assert_eq!(mock.hits("get_dataset_sequence"), 2);
}

#[tokio::test]
async fn a_frame_past_the_end_is_an_argument_error_after_the_one_get() {
    let mock = MockServer::start().await;
    mock.respond("get_dataset_sequence", sequence());
    let e = mock
        .client()
        .get_frame("acme", "lidar", "seq-1", 2)
        .await
        .unwrap_err();
    assert!(matches!(e, avala::Error::InvalidArgument { .. }), "{e:?}");
    assert!(e.to_string().contains("has 2 frames"), "{e}");
}
