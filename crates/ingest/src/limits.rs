//! Size limits and the one capped decompression helper every protocol goes through.
//!
//! Parsers in this crate take bytes already in memory; this module decides how many bytes
//! may get there. Each decompressor stops one byte past the cap, so a zip bomb costs at
//! most `max_decompressed_bytes + 1` bytes of memory before [`DecodeError::TooLarge`].

use std::borrow::Cow;
use std::io::Read;

use crate::DecodeError;

/// Caps applied while turning a request body into bytes a parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted body as received (compressed), in bytes.
    pub max_body_bytes: usize,
    /// Largest accepted body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
}

impl Default for DecodeLimits {
    /// 32 MiB received, 128 MiB decompressed: Prometheus sends remote_write batches of a
    /// few MiB at most, so these leave room without letting one request exhaust memory.
    fn default() -> Self {
        DecodeLimits {
            max_body_bytes: 32 << 20,
            max_decompressed_bytes: 128 << 20,
        }
    }
}

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    /// zlib (RFC 1950) as HTTP specifies; raw deflate (RFC 1951) is accepted too, since
    /// some clients send that under this name.
    Deflate,
    /// Brotli (RFC 7932), as Python `sentry-sdk` 2.x sends when the brotli package is
    /// installed.
    Brotli,
    /// Zstandard (RFC 8878).
    Zstd,
    /// Snappy block format, as Prometheus remote_write sends it.
    Snappy,
    /// Snappy framing format (`x-snappy-framed`).
    SnappyFramed,
}

impl ContentEncoding {
    /// Parses a `Content-Encoding` header value (case-insensitive). Absent, empty and
    /// `identity` mean no compression.
    pub fn parse(header: Option<&str>) -> Result<Self, DecodeError> {
        let Some(h) = header else {
            return Ok(ContentEncoding::Identity);
        };
        let h = h.trim();
        let known = [
            ("", ContentEncoding::Identity),
            ("identity", ContentEncoding::Identity),
            ("gzip", ContentEncoding::Gzip),
            ("x-gzip", ContentEncoding::Gzip),
            ("deflate", ContentEncoding::Deflate),
            ("br", ContentEncoding::Brotli),
            ("zstd", ContentEncoding::Zstd),
            ("snappy", ContentEncoding::Snappy),
            ("x-snappy-framed", ContentEncoding::SnappyFramed),
            ("snappy-framed", ContentEncoding::SnappyFramed),
        ];
        known
            .iter()
            .find(|(name, _)| h.eq_ignore_ascii_case(name))
            .map(|(_, e)| *e)
            .ok_or_else(|| DecodeError::UnsupportedEncoding(h.to_owned()))
    }

    /// The canonical header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Identity => "identity",
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
            ContentEncoding::Brotli => "br",
            ContentEncoding::Zstd => "zstd",
            ContentEncoding::Snappy => "snappy",
            ContentEncoding::SnappyFramed => "x-snappy-framed",
        }
    }
}

/// Fails with [`DecodeError::TooLarge`] when `body` exceeds `limits.max_body_bytes`.
pub fn check_body_len(body: &[u8], limits: &DecodeLimits) -> Result<(), DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(DecodeError::TooLarge {
            limit: limits.max_body_bytes,
        });
    }
    Ok(())
}

/// Decompresses `body` with both caps of `limits` enforced. Identity borrows the input.
pub fn decompress<'a>(
    encoding: ContentEncoding,
    body: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Cow<'a, [u8]>, DecodeError> {
    check_body_len(body, limits)?;
    let cap = limits.max_decompressed_bytes;
    match encoding {
        ContentEncoding::Identity => {
            if body.len() > cap {
                return Err(DecodeError::TooLarge { limit: cap });
            }
            Ok(Cow::Borrowed(body))
        }
        ContentEncoding::Gzip => read_capped(
            flate2::read::MultiGzDecoder::new(body),
            "gzip",
            body.len(),
            cap,
        ),
        ContentEncoding::Deflate => {
            if has_zlib_header(body) {
                read_capped(
                    flate2::read::ZlibDecoder::new(body),
                    "deflate",
                    body.len(),
                    cap,
                )
            } else {
                read_capped(
                    flate2::read::DeflateDecoder::new(body),
                    "deflate",
                    body.len(),
                    cap,
                )
            }
        }
        ContentEncoding::Brotli => read_capped(
            brotli::Decompressor::new(body, BROTLI_BUFFER_BYTES),
            "br",
            body.len(),
            cap,
        ),
        ContentEncoding::Zstd => {
            let zstd_err = |e: std::io::Error| DecodeError::Decompress {
                encoding: "zstd",
                message: e.to_string(),
            };
            let mut dec = zstd::stream::read::Decoder::new(body).map_err(zstd_err)?;
            dec.window_log_max(ZSTD_WINDOW_LOG_MAX).map_err(zstd_err)?;
            read_capped(dec, "zstd", body.len(), cap)
        }
        ContentEncoding::Snappy => snappy_block(body, cap).map(Cow::Owned),
        ContentEncoding::SnappyFramed => read_capped(
            snap::read::FrameDecoder::new(body),
            "snappy",
            body.len(),
            cap,
        ),
    }
}

/// Internal buffer of the brotli reader; the decoder's window (up to 16 MiB for large-window
/// streams) is allocated by the decoder as the stream declares it, independent of this.
const BROTLI_BUFFER_BYTES: usize = 8 << 10;

/// Largest zstd window accepted (2^24 = 16 MiB, like brotli's): levels 1–19 of the zstd
/// tool use at most 8 MiB, so only `--ultra`/`--long` frames are refused, with a clear
/// error, instead of letting one request reserve the decoder's 128 MiB default.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// Snappy block format: the declared length is checked against `cap` before allocating.
pub(crate) fn snappy_block(body: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    let snappy_err = |e: snap::Error| DecodeError::Decompress {
        encoding: "snappy",
        message: e.to_string(),
    };
    let len = snap::raw::decompress_len(body).map_err(snappy_err)?;
    if len > cap {
        return Err(DecodeError::TooLarge { limit: cap });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(snappy_err)
}

/// RFC 1950 header: compression method 8 and a header checksum divisible by 31.
fn has_zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn read_capped<'a, R: Read>(
    r: R,
    encoding: &'static str,
    input_len: usize,
    cap: usize,
) -> Result<Cow<'a, [u8]>, DecodeError> {
    // Guess a typical 4x ratio for the first allocation, never beyond the cap.
    let mut out = Vec::with_capacity(input_len.saturating_mul(4).min(cap).min(1 << 20));
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    r.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Decompress {
            encoding,
            message: e.to_string(),
        })?;
    if out.len() > cap {
        return Err(DecodeError::TooLarge { limit: cap });
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn limits(body: usize, decompressed: usize) -> DecodeLimits {
        DecodeLimits {
            max_body_bytes: body,
            max_decompressed_bytes: decompressed,
        }
    }

    #[test]
    fn parse_encodings() {
        assert_eq!(ContentEncoding::parse(None), Ok(ContentEncoding::Identity));
        assert_eq!(
            ContentEncoding::parse(Some(" GZIP ")),
            Ok(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::parse(Some("snappy")),
            Ok(ContentEncoding::Snappy)
        );
        assert_eq!(
            ContentEncoding::parse(Some("x-snappy-framed")),
            Ok(ContentEncoding::SnappyFramed)
        );
        assert_eq!(
            ContentEncoding::parse(Some("br")),
            Ok(ContentEncoding::Brotli)
        );
        assert_eq!(
            ContentEncoding::parse(Some("ZSTD")),
            Ok(ContentEncoding::Zstd)
        );
        let e = ContentEncoding::parse(Some("compress")).unwrap_err();
        assert!(e.to_string().contains("\"compress\""), "{e}");
    }

    #[test]
    fn identity_borrows_and_caps() {
        let out = decompress(ContentEncoding::Identity, b"abc", &limits(10, 10)).unwrap();
        assert!(matches!(out, Cow::Borrowed(b"abc")));
        let e = decompress(ContentEncoding::Identity, b"abcdef", &limits(5, 10)).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 5 });
        let e = decompress(ContentEncoding::Identity, b"abcdef", &limits(10, 5)).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 5 });
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_round_trip_and_concatenated_members() {
        let mut body = gzip(b"hello ");
        body.extend(gzip(b"world"));
        let out = decompress(ContentEncoding::Gzip, &body, &limits(1000, 1000)).unwrap();
        assert_eq!(&*out, b"hello world");
    }

    #[test]
    fn gzip_bomb_is_too_large() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..50 {
            enc.write_all(&zeros).unwrap();
        }
        let body = enc.finish().unwrap();
        assert!(body.len() < 1 << 20, "compressed to {}", body.len());
        let e = decompress(ContentEncoding::Gzip, &body, &limits(1 << 20, 1 << 20)).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 1 << 20 });
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
    }

    #[test]
    fn exactly_at_cap_is_accepted() {
        let body = gzip(&[7u8; 100]);
        assert_eq!(
            decompress(ContentEncoding::Gzip, &body, &limits(1000, 100))
                .unwrap()
                .len(),
            100
        );
        assert_eq!(
            decompress(ContentEncoding::Gzip, &body, &limits(1000, 99)).unwrap_err(),
            DecodeError::TooLarge { limit: 99 }
        );
    }

    #[test]
    fn corrupt_gzip_names_encoding() {
        let e = decompress(ContentEncoding::Gzip, b"not gzip", &limits(100, 100)).unwrap_err();
        assert!(e.to_string().starts_with("gzip: "), "{e}");
        assert_eq!(e.class(), strix_core::ErrorClass::BadInput);
    }

    #[test]
    fn deflate_zlib_and_raw() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"zlib body").unwrap();
        let z = z.finish().unwrap();
        assert_eq!(
            &*decompress(ContentEncoding::Deflate, &z, &limits(100, 100)).unwrap(),
            b"zlib body"
        );

        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(b"raw body").unwrap();
        let r = r.finish().unwrap();
        assert_eq!(
            &*decompress(ContentEncoding::Deflate, &r, &limits(100, 100)).unwrap(),
            b"raw body"
        );
    }

    #[test]
    fn snappy_block_and_framed() {
        let block = snap::raw::Encoder::new()
            .compress_vec(b"block body")
            .unwrap();
        assert_eq!(
            &*decompress(ContentEncoding::Snappy, &block, &limits(100, 100)).unwrap(),
            b"block body"
        );

        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(b"framed body").unwrap();
        let framed = w.into_inner().unwrap();
        assert_eq!(
            &*decompress(ContentEncoding::SnappyFramed, &framed, &limits(100, 100)).unwrap(),
            b"framed body"
        );
        let big = vec![1u8; 1000];
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(&big).unwrap();
        let framed = w.into_inner().unwrap();
        assert_eq!(
            decompress(ContentEncoding::SnappyFramed, &framed, &limits(1000, 999)).unwrap_err(),
            DecodeError::TooLarge { limit: 999 }
        );
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    }

    #[test]
    fn brotli_round_trip_cap_and_corrupt() {
        let body = brotli(b"brotli body");
        assert_eq!(ContentEncoding::Brotli.as_str(), "br");
        assert_eq!(
            &*decompress(ContentEncoding::Brotli, &body, &limits(1000, 100)).unwrap(),
            b"brotli body"
        );
        let body = brotli(&[7u8; 100]);
        assert_eq!(
            decompress(ContentEncoding::Brotli, &body, &limits(1000, 100))
                .unwrap()
                .len(),
            100
        );
        assert_eq!(
            decompress(ContentEncoding::Brotli, &body, &limits(1000, 99)).unwrap_err(),
            DecodeError::TooLarge { limit: 99 }
        );
        let e = decompress(ContentEncoding::Brotli, &[0xff; 16], &limits(100, 100)).unwrap_err();
        assert!(e.to_string().starts_with("br: "), "{e}");
        assert_eq!(e.class(), strix_core::ErrorClass::BadInput);
    }

    #[test]
    fn brotli_bomb_is_too_large() {
        let body = brotli(&vec![0u8; 50 << 20]);
        assert!(body.len() < 1 << 16, "compressed to {}", body.len());
        let e = decompress(ContentEncoding::Brotli, &body, &limits(1 << 20, 1 << 20)).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 1 << 20 });
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
    }

    #[test]
    fn zstd_round_trip_cap_bomb_and_corrupt() {
        let body = zstd::encode_all(&b"zstd body"[..], 3).unwrap();
        assert_eq!(ContentEncoding::Zstd.as_str(), "zstd");
        assert_eq!(
            &*decompress(ContentEncoding::Zstd, &body, &limits(1000, 100)).unwrap(),
            b"zstd body"
        );
        // Two concatenated frames decode as one stream.
        let mut two = zstd::encode_all(&b"ab"[..], 1).unwrap();
        two.extend(zstd::encode_all(&b"cd"[..], 1).unwrap());
        assert_eq!(
            &*decompress(ContentEncoding::Zstd, &two, &limits(1000, 100)).unwrap(),
            b"abcd"
        );
        let body = zstd::encode_all(&[7u8; 100][..], 3).unwrap();
        assert_eq!(
            decompress(ContentEncoding::Zstd, &body, &limits(1000, 99)).unwrap_err(),
            DecodeError::TooLarge { limit: 99 }
        );
        let bomb = zstd::encode_all(&vec![0u8; 50 << 20][..], 3).unwrap();
        assert!(bomb.len() < 1 << 16, "compressed to {}", bomb.len());
        let e = decompress(ContentEncoding::Zstd, &bomb, &limits(1 << 20, 1 << 20)).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 1 << 20 });
        let e =
            decompress(ContentEncoding::Zstd, b"not zstd at all", &limits(100, 100)).unwrap_err();
        assert!(e.to_string().starts_with("zstd: "), "{e}");
        assert_eq!(e.class(), strix_core::ErrorClass::BadInput);
    }

    #[test]
    fn snappy_bomb_rejected_from_header() {
        // A varint header declaring 1 GiB followed by nothing: rejected before allocating.
        let body = [0x80, 0x80, 0x80, 0x80, 0x04];
        let e = decompress(ContentEncoding::Snappy, &body, &limits(100, 1 << 20)).unwrap_err();
        assert_eq!(e, DecodeError::TooLarge { limit: 1 << 20 });
    }

    #[test]
    fn bad_snappy_names_encoding() {
        let e = decompress(ContentEncoding::Snappy, &[0xff; 12], &limits(100, 100)).unwrap_err();
        assert!(e.to_string().starts_with("snappy: "), "{e}");
    }
}
