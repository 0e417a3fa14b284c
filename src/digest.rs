//! SHA-256 of local files and its hex spelling: one implementation for the
//! resolver's verified downloads, the upload state's file names and the
//! Fleet uploads' manifests.

use std::{io::Read, path::Path};

use sha2::{Digest, Sha256};

/// Bytes read per `read` call while hashing: large enough that the hash,
/// not the system calls, sets the pace; small enough to stay in cache.
const BLOCK: usize = 1 << 20;

/// Lowercase hex of `bytes` (how the API spells a SHA-256).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// The SHA-256 of a file and the number of bytes hashed, read as a stream
/// (memory does not grow with the file). Blocking: call it from a blocking
/// thread.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    sha256_read(std::fs::File::open(path)?)
}

/// The SHA-256 of everything `reader` yields, and its length, read in
/// blocks. Blocking.
pub(crate) fn sha256_read(reader: impl Read) -> std::io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let len = update_from(&mut hasher, reader)?;
    Ok((hasher.finalize().into(), len))
}

/// Feeds everything `reader` yields to `hasher` (any RustCrypto digest: the
/// SHA-256 above, an export download's MD5), in blocks; returns the length.
/// Blocking.
pub(crate) fn update_from(hasher: &mut impl Digest, mut reader: impl Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BLOCK];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }

    #[test]
    fn files_hash_as_sha256_across_block_boundaries() {
        let dir = std::env::temp_dir().join(format!("avala-digest-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let sizes = [0usize, 3, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17];
        for (i, size) in sizes.iter().enumerate() {
            let bytes: Vec<u8> = (0..*size).map(|j| (j * 31 + i) as u8).collect();
            let path = dir.join(format!("f{i}"));
            std::fs::write(&path, &bytes).unwrap();
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(sha256_file(&path).unwrap(), (expected, *size as u64));
            assert_eq!(sha256_read(&bytes[..]).unwrap(), (expected, *size as u64));
        }
        // A known vector, so the test does not only compare sha2 with itself.
        let abc = dir.join("abc");
        std::fs::write(&abc, b"abc").unwrap();
        assert_eq!(
            hex(&sha256_file(&abc).unwrap().0),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
