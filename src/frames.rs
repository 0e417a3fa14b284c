//! Typed views of a sequence's frames: one frame's pose and cameras
//! ([`Client::get_frame`]) and the camera rig of a sequence
//! ([`Client::get_calibration`]), built from the untyped frame objects that
//! `get_dataset_sequence` returns in `DatasetSequence::frames`.
//!
//! ```no_run
//! # async fn demo(client: avala::Client) -> avala::Result<()> {
//! let frame = client.get_frame("acme", "warehouse", "seq-uid", 0).await?;
//! println!("{:?} at {:?}", frame.key, frame.device_position);
//! let rig = client.get_calibration("acme", "warehouse", "seq-uid").await?;
//! for camera in &rig.cameras {
//!     println!("{:?}: fx {:?}", camera.camera_id, camera.fx);
//! }
//! # Ok(()) }
//! ```
//!
//! The frame objects are the server's own JSON, so each field is checked:
//! an absent or `null` field is `None`; a field of the wrong shape (a
//! position that is not `{x, y, z}` numbers, a width that is not an integer)
//! is [`Error::Decode`] naming the frame and the field, never a panic or a
//! silent zero. The rig is read from the first frame, which carries every
//! camera's pose and intrinsics (as the official SDKs do); a camera's
//! `model`, `xi` and `alpha` default to the frame's.

use serde_json::{Map, Value};

use crate::{types, Client, Error, Result};

type Object = Map<String, Value>;

impl Client {
    /// The frame at `index` (from 0) of a sequence of the dataset
    /// `owner/slug`, typed; one `GET` of the sequence. An index past the
    /// last frame is [`Error::InvalidArgument`].
    pub async fn get_frame(
        &self,
        owner: &str,
        slug: &str,
        sequence_uid: &str,
        index: usize,
    ) -> Result<types::DatasetFrame> {
        frame_of(&self.sequence(owner, slug, sequence_uid).await?, index)
    }

    /// The camera rig of a sequence of the dataset `owner/slug`, read from
    /// its first frame (no cameras when it has no frame); one `GET` of the
    /// sequence.
    pub async fn get_calibration(
        &self,
        owner: &str,
        slug: &str,
        sequence_uid: &str,
    ) -> Result<types::DatasetCalibration> {
        calibration_of(&self.sequence(owner, slug, sequence_uid).await?)
    }

    /// [`get_frame`](Self::get_frame), blocking the thread until the answer
    /// (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn get_frame_blocking(
        &self,
        owner: &str,
        slug: &str,
        sequence_uid: &str,
        index: usize,
    ) -> Result<types::DatasetFrame> {
        let frame = self.get_frame(owner, slug, sequence_uid, index);
        crate::blocking::engine(self).run(frame)
    }

    /// [`get_calibration`](Self::get_calibration), blocking the thread
    /// until the answer (see [`crate::blocking`]).
    #[cfg(feature = "blocking")]
    pub fn get_calibration_blocking(
        &self,
        owner: &str,
        slug: &str,
        sequence_uid: &str,
    ) -> Result<types::DatasetCalibration> {
        let rig = self.get_calibration(owner, slug, sequence_uid);
        crate::blocking::engine(self).run(rig)
    }

    async fn sequence(&self, owner: &str, slug: &str, uid: &str) -> Result<types::DatasetSequence> {
        Ok(self
            .get_dataset_sequence()
            .owner(owner)
            .slug(slug)
            .sequence_uid(uid)
            .send()
            .await?
            .into_inner())
    }
}

/// The frame at `index` of `sequence`, typed.
pub fn frame_of(sequence: &types::DatasetSequence, index: usize) -> Result<types::DatasetFrame> {
    let frames = sequence.frames.as_deref().unwrap_or_default();
    let raw = frames.get(index).ok_or_else(|| Error::InvalidArgument {
        message: format!(
            "frame {index} is out of range: sequence {} has {} frames",
            sequence.uid,
            frames.len()
        ),
    })?;
    let at = Field {
        frame: index,
        object: raw,
        image: None,
    };
    let images = at
        .images()?
        .iter()
        .enumerate()
        .map(|(i, image)| at.image(i, image).and_then(|f| f.frame_image()))
        .collect::<Result<_>>()?;
    let model = at.string("model")?;
    let camera_model = at.string("camera_model")?;
    Ok(types::DatasetFrame {
        frame_index: index as i64,
        key: at.string("key")?,
        model: model.clone().or_else(|| camera_model.clone()),
        camera_model: camera_model.or(model),
        xi: at.number("xi")?,
        alpha: at.number("alpha")?,
        device_position: at.vec3("device_position")?,
        device_heading: at.quat("device_heading")?,
        images: Some(images),
        raw: raw.clone(),
    })
}

/// The camera rig of `sequence`, from its first frame.
pub fn calibration_of(sequence: &types::DatasetSequence) -> Result<types::DatasetCalibration> {
    let mut cameras = Vec::new();
    if let Some(first) = sequence.frames.as_deref().unwrap_or_default().first() {
        let frame = Field {
            frame: 0,
            object: first,
            image: None,
        };
        for (i, image) in frame.images()?.iter().enumerate() {
            cameras.push(frame.image(i, image)?.camera(&frame)?);
        }
    }
    Ok(types::DatasetCalibration {
        sequence_uid: sequence.uid.clone(),
        cameras,
        dataset_level_camera_calibration: None,
    })
}

/// One object of a frame (the frame itself or one of its images) and
/// where it is, for the error that names a wrong field.
struct Field<'a> {
    frame: usize,
    object: &'a Object,
    image: Option<usize>,
}

impl<'a> Field<'a> {
    /// The frame's `images`: none when absent or `null`.
    fn images(&self) -> Result<&'a [Value]> {
        match self.get("images") {
            None => Ok(&[]),
            Some(Value::Array(images)) => Ok(images),
            Some(_) => Err(self.wrong("images", "a list")),
        }
    }

    fn image(&self, index: usize, value: &'a Value) -> Result<Field<'a>> {
        let place = Field {
            frame: self.frame,
            object: self.object,
            image: Some(index),
        };
        match value {
            Value::Object(object) => Ok(Field { object, ..place }),
            _ => Err(place.wrong("", "an object")),
        }
    }

    fn frame_image(&self) -> Result<types::FrameImage> {
        Ok(types::FrameImage {
            image_url: self.string("image_url")?,
            position: self.vec3("position")?,
            heading: self.quat("heading")?,
            width: self.integer("width")?,
            height: self.integer("height")?,
            fx: self.number("fx")?,
            fy: self.number("fy")?,
            cx: self.number("cx")?,
            cy: self.number("cy")?,
            model: self.string("model")?,
            camera_model: self.string("camera_model")?,
            xi: self.number("xi")?,
            alpha: self.number("alpha")?,
        })
    }

    /// One camera of the rig: the image's own fields, with the frame's
    /// model, `xi` and `alpha` where the image has none.
    fn camera(&self, frame: &Field<'_>) -> Result<types::CameraCalibration> {
        let first_string = |keys: &[&str]| -> Result<Option<String>> {
            for key in keys {
                if let Some(s) = self.string(key)? {
                    return Ok(Some(s));
                }
            }
            Ok(None)
        };
        Ok(types::CameraCalibration {
            camera_id: first_string(&["camera", "camera_id", "sensor_id"])?,
            position: self.vec3("position")?,
            heading: self.quat("heading")?,
            width: self.integer("width")?,
            height: self.integer("height")?,
            fx: self.number("fx")?,
            fy: self.number("fy")?,
            cx: self.number("cx")?,
            cy: self.number("cy")?,
            model: match first_string(&["model", "camera_model"])? {
                Some(model) => Some(model),
                None => frame.string("model")?,
            },
            xi: self
                .number("xi")?
                .map_or_else(|| frame.number("xi"), |v| Ok(Some(v)))?,
            alpha: self
                .number("alpha")?
                .map_or_else(|| frame.number("alpha"), |v| Ok(Some(v)))?,
        })
    }

    /// `key`'s value, `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        self.get(key)
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.wrong(key, "a string"))
            })
            .transpose()
    }

    fn number(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|v| v.as_f64().ok_or_else(|| self.wrong(key, "a number")))
            .transpose()
    }

    fn integer(&self, key: &str) -> Result<Option<i64>> {
        self.get(key)
            .map(|v| v.as_i64().ok_or_else(|| self.wrong(key, "an integer")))
            .transpose()
    }

    /// `{x, y, z}` (and `w` when asked) as numbers.
    fn coordinates<const N: usize>(&self, key: &str, names: [&str; N]) -> Result<Option<[f64; N]>> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let shape = || self.wrong(key, &format!("{{{}}} numbers", names.join(", ")));
        let object = value.as_object().ok_or_else(shape)?;
        let mut out = [0.0; N];
        for (slot, name) in out.iter_mut().zip(names) {
            *slot = object.get(name).and_then(Value::as_f64).ok_or_else(shape)?;
        }
        Ok(Some(out))
    }

    fn vec3(&self, key: &str) -> Result<Option<types::Vec3>> {
        Ok(self
            .coordinates(key, ["x", "y", "z"])?
            .map(|[x, y, z]| types::Vec3 { x, y, z }))
    }

    fn quat(&self, key: &str) -> Result<Option<types::Quat>> {
        Ok(self
            .coordinates(key, ["x", "y", "z", "w"])?
            .map(|[x, y, z, w]| types::Quat { x, y, z, w }))
    }

    /// The error for a field that is not `expected`.
    fn wrong(&self, key: &str, expected: &str) -> Error {
        let mut place = format!("frame {}", self.frame);
        if let Some(image) = self.image {
            place.push_str(&format!(", image {image}"));
        }
        if !key.is_empty() {
            place.push_str(&format!(": `{key}`"));
        }
        Error::Decode {
            message: format!("{place} is not {expected}"),
            body: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sequence(frames: Value) -> types::DatasetSequence {
        serde_json::from_value(json!({"uid": "seq-1", "frames": frames})).unwrap()
    }

    #[test]
    fn a_frame_is_typed_with_its_pose_and_images() {
        let seq = sequence(json!([{}, {
            "key": "f1.json", "camera_model": "doublesphere", "xi": -0.2, "alpha": 0.6,
            "device_position": {"x": 1, "y": 2.5, "z": -3},
            "device_heading": {"x": 0, "y": 0, "z": 0, "w": 1},
            "images": [{"image_url": "s3://b/c.jpg", "width": 1920, "fx": 800.5, "extra": true}],
            "lidar": "kept in raw"
        }]));
        let frame = frame_of(&seq, 1).unwrap();
        assert_eq!(frame.frame_index, 1);
        assert_eq!(frame.key.as_deref(), Some("f1.json"));
        // `model` falls back to `camera_model` and back.
        assert_eq!(frame.model.as_deref(), Some("doublesphere"));
        assert_eq!(frame.camera_model.as_deref(), Some("doublesphere"));
        assert_eq!((frame.xi, frame.alpha), (Some(-0.2), Some(0.6)));
        let p = frame.device_position.unwrap();
        assert_eq!((p.x, p.y, p.z), (1.0, 2.5, -3.0));
        assert_eq!(frame.device_heading.unwrap().w, 1.0);
        let images = frame.images.unwrap();
        assert_eq!(images[0].image_url.as_deref(), Some("s3://b/c.jpg"));
        assert_eq!(
            (images[0].width, images[0].fx, images[0].height),
            (Some(1920), Some(800.5), None)
        );
        assert_eq!(frame.raw["lidar"], "kept in raw");
    }

    #[test]
    fn an_index_past_the_end_is_an_argument_error() {
        let e = frame_of(&sequence(json!([{}])), 1).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
        assert!(e.to_string().contains("seq-1 has 1 frames"), "{e}");
        let none: types::DatasetSequence = serde_json::from_value(json!({"uid": "s"})).unwrap();
        assert!(frame_of(&none, 0).is_err());
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_a_decode_error_naming_it() {
        for (frame, expected) in [
            (
                json!({"device_position": {"x": 1, "y": 2}}),
                "frame 0: `device_position` is not {x, y, z} numbers",
            ),
            (
                json!({"device_heading": [0, 0, 0, 1]}),
                "frame 0: `device_heading` is not {x, y, z, w} numbers",
            ),
            (json!({"key": 7}), "frame 0: `key` is not a string"),
            (
                json!({"images": {"a": 1}}),
                "frame 0: `images` is not a list",
            ),
            (
                json!({"images": [{}, "cam"]}),
                "frame 0, image 1 is not an object",
            ),
            (
                json!({"images": [{"width": 1.5}]}),
                "frame 0, image 0: `width` is not an integer",
            ),
            (
                json!({"images": [{"fx": "800"}]}),
                "frame 0, image 0: `fx` is not a number",
            ),
        ] {
            let e = frame_of(&sequence(json!([frame.clone()])), 0).unwrap_err();
            assert!(matches!(e, Error::Decode { .. }), "{frame}: {e:?}");
            assert!(e.to_string().contains(expected), "{frame}: {e}");
        }
    }

    #[test]
    fn the_rig_comes_from_the_first_frame_with_its_defaults() {
        let seq = sequence(json!([
            {"model": "doublesphere", "xi": -0.2, "alpha": 0.6, "images": [
                {"camera": "front", "fx": 824.74, "position": {"x": 0.1, "y": 0.2, "z": 0.3}},
                {"sensor_id": "rear", "model": "pinhole", "xi": 0.1},
            ]},
            {"images": [{"camera": "ignored"}]}
        ]));
        let rig = calibration_of(&seq).unwrap();
        assert_eq!(rig.sequence_uid, "seq-1");
        assert_eq!(rig.cameras.len(), 2);
        let (front, rear) = (&rig.cameras[0], &rig.cameras[1]);
        assert_eq!(front.camera_id.as_deref(), Some("front"));
        assert_eq!(
            (front.model.as_deref(), front.xi, front.alpha),
            (Some("doublesphere"), Some(-0.2), Some(0.6))
        );
        assert_eq!(front.position.as_ref().map(|p| p.z), Some(0.3));
        assert_eq!(rear.camera_id.as_deref(), Some("rear"));
        assert_eq!(
            (rear.model.as_deref(), rear.xi, rear.alpha),
            (Some("pinhole"), Some(0.1), Some(0.6))
        );
        assert!(calibration_of(&sequence(json!([])))
            .unwrap()
            .cameras
            .is_empty());
        let bad = sequence(json!([{"images": [{"camera": ["x"]}]}]));
        assert!(calibration_of(&bad)
            .unwrap_err()
            .to_string()
            .contains("`camera` is not a string"));
    }
}
