//! The project's example bodies (`openapi/examples.json`). STUB: being written.
