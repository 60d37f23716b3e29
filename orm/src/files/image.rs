//! Image headers without an image library: PNG, JPEG, GIF and WebP are recognised by their
//! magic bytes, their structure is walked to the end (so a truncated file is an error), and
//! the width and height are read from the header (PNG IHDR, the GIF logical screen, a JPEG
//! SOFn segment, a WebP VP8, VP8L or VP8X chunk). Nothing is decoded; no input panics.

use std::fmt;

/// An image format [`inspect`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG (baseline, progressive, lossless, arithmetic).
    Jpeg,
    /// GIF87a and GIF89a.
    Gif,
    /// WebP: lossy (VP8), lossless (VP8L) and extended (VP8X).
    WebP,
}

impl ImageFormat {
    /// The usual extension, without the dot.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::files::ImageFormat::Jpeg.extension(), "jpg");
    /// ```
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Gif => "gif",
            ImageFormat::WebP => "webp",
        }
    }

    /// The MIME type.
    ///
    /// ```
    /// assert_eq!(hyperdjango_orm::files::ImageFormat::WebP.mime_type(), "image/webp");
    /// ```
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Gif => "image/gif",
            ImageFormat::WebP => "image/webp",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Png => "PNG",
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Gif => "GIF",
            ImageFormat::WebP => "WebP",
        })
    }
}

/// The extensions an image may be uploaded with (lower case, without the dot).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "jpe", "jfif", "gif", "webp"];

/// What [`inspect`] found: the format and the size in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// The format.
    pub format: ImageFormat,
    /// The width in pixels (never 0).
    pub width: u32,
    /// The height in pixels (never 0).
    pub height: u32,
}

/// Why bytes are not a valid image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError {
    /// The format, when the magic bytes were recognised.
    pub format: Option<ImageFormat>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            Some(fmt) => write!(f, "invalid {fmt} image: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for ImageError {}

type R<T> = Result<T, ImageError>;

fn bad<T>(format: ImageFormat, reason: impl Into<String>) -> R<T> {
    Err(ImageError {
        format: Some(format),
        reason: reason.into(),
    })
}

/// Recognises an image by its magic bytes, checks its structure and returns its format and
/// size. Corrupt or truncated data is an error saying what is wrong.
///
/// ```
/// use hyperdjango_orm::files::{inspect, ImageFormat};
/// // A 1x1 GIF.
/// let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";
/// let info = inspect(gif).unwrap();
/// assert_eq!((info.format, info.width, info.height), (ImageFormat::Gif, 1, 1));
/// assert!(inspect(&gif[..20]).is_err()); // truncated
/// assert!(inspect(b"<html>").is_err());
/// ```
pub fn inspect(data: &[u8]) -> R<ImageInfo> {
    let format = sniff(data).ok_or_else(|| ImageError {
        format: None,
        reason: if data.is_empty() {
            "the file is empty, not an image".into()
        } else {
            "not a PNG, JPEG, GIF or WebP image (unrecognised leading bytes)".into()
        },
    })?;
    let (width, height) = match format {
        ImageFormat::Png => png(data)?,
        ImageFormat::Jpeg => jpeg(data)?,
        ImageFormat::Gif => gif(data)?,
        ImageFormat::WebP => webp(data)?,
    };
    if width == 0 || height == 0 {
        return bad(format, format!("it declares a size of {width}x{height}"));
    }
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

/// The format the magic bytes announce, without checking anything else.
///
/// ```
/// use hyperdjango_orm::files::{sniff, ImageFormat};
/// assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some(ImageFormat::Jpeg));
/// assert_eq!(sniff(b"hello"), None);
/// ```
pub fn sniff(data: &[u8]) -> Option<ImageFormat> {
    if data.starts_with(PNG_SIGNATURE) {
        Some(ImageFormat::Png)
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Some(ImageFormat::Gif)
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A bounds-checked reader over the bytes.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    format: ImageFormat,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], pos: usize, format: ImageFormat) -> Self {
        Cursor { data, pos, format }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> R<&'a [u8]> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => bad(
                self.format,
                format!(
                    "truncated: {what} needs {n} bytes at offset {} but the file has {}",
                    self.pos,
                    self.data.len()
                ),
            ),
        }
    }

    fn u8(&mut self, what: &str) -> R<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn be16(&mut self, what: &str) -> R<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn le16(&mut self, what: &str) -> R<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn be32(&mut self, what: &str) -> R<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn le32(&mut self, what: &str) -> R<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The CRC-32 of PNG chunks (ISO 3309, reflected, polynomial 0xEDB88320).
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for part in parts {
        for &b in *part {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
        }
    }
    c ^ 0xFFFF_FFFF
}

/// PNG: the signature, IHDR first (13 bytes: width, height, bit depth, colour type,
/// compression, filter, interlace), every chunk whole with a correct CRC, at least one IDAT,
/// and IEND.
fn png(data: &[u8]) -> R<(u32, u32)> {
    const F: ImageFormat = ImageFormat::Png;
    let mut c = Cursor::new(data, PNG_SIGNATURE.len(), F);
    let mut size = None;
    let mut idat = false;
    let mut first = true;
    loop {
        let len = c.be32("a chunk length")?;
        if len > 0x7FFF_FFFF {
            return bad(F, format!("chunk length {len} exceeds 2^31-1"));
        }
        let kind = c.take(4, "a chunk type")?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return bad(F, format!("invalid chunk type {kind:02x?}"));
        }
        let name = String::from_utf8_lossy(kind).into_owned();
        let body = c.take(len as usize, &format!("the {name} chunk"))?;
        let crc = c.be32(&format!("the {name} chunk's CRC"))?;
        if crc32(&[kind, body]) != crc {
            return bad(
                F,
                format!("the {name} chunk's CRC does not match (corrupt data)"),
            );
        }
        if first {
            if kind != b"IHDR" {
                return bad(F, format!("the first chunk is {name}, not IHDR"));
            }
            if body.len() != 13 {
                return bad(F, format!("IHDR is {} bytes long, not 13", body.len()));
            }
            let w = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            let h = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            if w > 0x7FFF_FFFF || h > 0x7FFF_FFFF {
                return bad(F, format!("size {w}x{h} exceeds 2^31-1"));
            }
            let (depth, colour) = (body[8], body[9]);
            let depth_ok = match colour {
                0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
                3 => matches!(depth, 1 | 2 | 4 | 8),
                2 | 4 | 6 => matches!(depth, 8 | 16),
                _ => return bad(F, format!("unknown colour type {colour}")),
            };
            if !depth_ok {
                return bad(
                    F,
                    format!("bit depth {depth} is not allowed for colour type {colour}"),
                );
            }
            if body[10] != 0 || body[11] != 0 || body[12] > 1 {
                return bad(F, "unknown compression, filter or interlace method");
            }
            size = Some((w, h));
            first = false;
            continue;
        }
        match kind {
            b"IHDR" => return bad(F, "a second IHDR chunk"),
            b"IDAT" => idat = true,
            b"IEND" => break,
            _ => {}
        }
    }
    if !idat {
        return bad(F, "no IDAT chunk (no image data)");
    }
    size.map_or_else(|| bad(F, "no IHDR chunk"), Ok)
}

/// GIF: the header, the logical screen descriptor (width and height, little-endian), the
/// global colour table, then blocks (extensions, images with their LZW data) up to the
/// trailer `;`; at least one image.
fn gif(data: &[u8]) -> R<(u32, u32)> {
    const F: ImageFormat = ImageFormat::Gif;
    let mut c = Cursor::new(data, 6, F);
    let w = c.le16("the logical screen width")?;
    let h = c.le16("the logical screen height")?;
    let flags = c.u8("the screen flags")?;
    c.take(2, "the background colour and aspect ratio")?;
    if flags & 0x80 != 0 {
        c.take(3 << ((flags & 7) + 1), "the global colour table")?;
    }
    let mut images = 0usize;
    loop {
        match c.u8("the next block (the file has no trailer)")? {
            0x3B => break,
            0x21 => {
                c.u8("an extension label")?;
                sub_blocks(&mut c)?;
            }
            0x2C => {
                c.take(8, "an image descriptor")?;
                let f = c.u8("an image descriptor's flags")?;
                if f & 0x80 != 0 {
                    c.take(3 << ((f & 7) + 1), "a local colour table")?;
                }
                let code_size = c.u8("the LZW code size")?;
                if !(1..=11).contains(&code_size) {
                    return bad(F, format!("LZW minimum code size {code_size} is invalid"));
                }
                sub_blocks(&mut c)?;
                images += 1;
            }
            b => {
                return bad(
                    F,
                    format!(
                        "unknown block 0x{b:02x} at offset {}",
                        c.pos.saturating_sub(1)
                    ),
                );
            }
        }
    }
    if images == 0 {
        return bad(F, "no image in the file");
    }
    Ok((u32::from(w), u32::from(h)))
}

fn sub_blocks(c: &mut Cursor<'_>) -> R<()> {
    loop {
        let n = c.u8("a data sub-block size")?;
        if n == 0 {
            return Ok(());
        }
        c.take(usize::from(n), "a data sub-block")?;
    }
}

/// JPEG: segments from SOI; the size comes from the SOFn segment (C0-C3, C5-C7, C9-CB,
/// CD-CF); entropy-coded data after each SOS is skipped to the next marker; the file must
/// reach EOI.
fn jpeg(data: &[u8]) -> R<(u32, u32)> {
    const F: ImageFormat = ImageFormat::Jpeg;
    let mut c = Cursor::new(data, 2, F);
    let mut size = None;
    let mut scans = 0usize;
    loop {
        // A marker: 0xFF, any fill 0xFF bytes, then the code.
        let b = c.u8("a marker (no end-of-image marker: the file is truncated)")?;
        if b != 0xFF {
            return bad(
                F,
                format!("expected a marker at offset {}, found 0x{b:02x}", c.pos - 1),
            );
        }
        let mut code = c.u8("a marker code")?;
        while code == 0xFF {
            code = c.u8("a marker code")?;
        }
        match code {
            0xD9 => break,
            0xD8 => return bad(F, "a second start-of-image marker"),
            0x01 | 0xD0..=0xD7 => continue,
            0x00 => {
                return bad(
                    F,
                    format!("a stuffed 0x00 at offset {} outside a scan", c.pos - 1),
                );
            }
            _ => {}
        }
        let len = c.be16("a segment length")?;
        if len < 2 {
            return bad(F, format!("segment 0x{code:02x} has length {len}"));
        }
        let body = c.take(usize::from(len) - 2, &format!("segment 0x{code:02x}"))?;
        match code {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                if size.is_some() {
                    return bad(F, "more than one frame header (SOFn)");
                }
                if body.len() < 6 {
                    return bad(F, format!("the frame header is {} bytes long", body.len()));
                }
                let h = u16::from_be_bytes([body[1], body[2]]);
                let w = u16::from_be_bytes([body[3], body[4]]);
                let components = body[5];
                if components == 0 || body.len() != 6 + 3 * usize::from(components) {
                    return bad(F, "the frame header's component list is malformed");
                }
                if h == 0 {
                    return bad(
                        F,
                        "the height is defined later (DNL), which is not supported",
                    );
                }
                size = Some((u32::from(w), u32::from(h)));
            }
            0xDA => {
                if size.is_none() {
                    return bad(F, "a scan (SOS) before the frame header (SOFn)");
                }
                scans += 1;
                skip_entropy_data(&mut c)?;
            }
            _ => {}
        }
    }
    if scans == 0 {
        return bad(F, "no scan (SOS): no image data");
    }
    size.map_or_else(|| bad(F, "no frame header (SOFn)"), Ok)
}

/// Skips entropy-coded data up to the next marker that is not a stuffed 0x00 or a restart
/// marker, leaving the cursor on its 0xFF.
fn skip_entropy_data(c: &mut Cursor<'_>) -> R<()> {
    loop {
        let rest = &c.data[c.pos.min(c.data.len())..];
        let Some(i) = rest.iter().position(|&b| b == 0xFF) else {
            return bad(
                c.format,
                "truncated: the scan data ends without an end-of-image marker",
            );
        };
        match rest.get(i + 1) {
            None => {
                return bad(
                    c.format,
                    "truncated: the scan data ends without an end-of-image marker",
                );
            }
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => c.pos += i + 1,
            Some(_) => {
                c.pos += i;
                return Ok(());
            }
        }
    }
}

/// WebP: the RIFF header (its size must fit the data), then chunks; the size from VP8X
/// (canvas), VP8 (key frame header) or VP8L (the lossless header), whichever is first.
fn webp(data: &[u8]) -> R<(u32, u32)> {
    const F: ImageFormat = ImageFormat::WebP;
    let mut c = Cursor::new(data, 4, F);
    let riff = c.le32("the RIFF size")? as usize;
    let end = riff.saturating_add(8);
    if end > data.len() {
        return bad(
            F,
            format!(
                "truncated: the RIFF header declares {end} bytes but the file has {}",
                data.len()
            ),
        );
    }
    if riff < 4 {
        return bad(F, format!("the RIFF size {riff} is invalid"));
    }
    let mut c = Cursor::new(&data[..end], 12, F);
    let mut size = None;
    let mut has_image = false;
    let mut extended = false;
    while c.remaining() > 0 {
        let kind = c.take(4, "a chunk type")?;
        let len = c.le32("a chunk size")? as usize;
        let name = String::from_utf8_lossy(kind).into_owned();
        let body = c.take(len, &format!("the {name:?} chunk"))?;
        if len % 2 == 1 {
            c.take(1, "a chunk's padding byte")?;
        }
        match kind {
            b"VP8X" => {
                if size.is_some() {
                    return bad(F, "VP8X is not the first chunk");
                }
                if body.len() < 10 {
                    return bad(F, format!("the VP8X chunk is {} bytes long", body.len()));
                }
                let w = u32::from_le_bytes([body[4], body[5], body[6], 0]) + 1;
                let h = u32::from_le_bytes([body[7], body[8], body[9], 0]) + 1;
                size = Some((w, h));
                extended = true;
            }
            b"VP8 " => {
                if body.len() < 10 {
                    return bad(F, format!("the VP8 chunk is {} bytes long", body.len()));
                }
                if body[0] & 1 != 0 {
                    return bad(F, "the VP8 frame is not a key frame");
                }
                if body[3..6] != [0x9D, 0x01, 0x2A] {
                    return bad(F, "the VP8 start code is missing");
                }
                let w = u32::from(u16::from_le_bytes([body[6], body[7]]) & 0x3FFF);
                let h = u32::from(u16::from_le_bytes([body[8], body[9]]) & 0x3FFF);
                has_image = true;
                size.get_or_insert((w, h));
            }
            b"VP8L" => {
                if body.len() < 5 {
                    return bad(F, format!("the VP8L chunk is {} bytes long", body.len()));
                }
                if body[0] != 0x2F {
                    return bad(F, "the VP8L signature byte is not 0x2f");
                }
                let bits = u32::from_le_bytes([body[1], body[2], body[3], body[4]]);
                if bits >> 29 != 0 {
                    return bad(F, "the VP8L version is not 0");
                }
                let w = (bits & 0x3FFF) + 1;
                let h = ((bits >> 14) & 0x3FFF) + 1;
                has_image = true;
                size.get_or_insert((w, h));
            }
            b"ANMF" => has_image = true,
            _ => {
                if size.is_none() {
                    return bad(
                        F,
                        format!("the first chunk is {name:?}, not VP8, VP8L or VP8X"),
                    );
                }
            }
        }
    }
    if !has_image {
        return bad(
            F,
            if extended {
                "no image data (VP8, VP8L or ANMF chunk)"
            } else {
                "no chunks"
            },
        );
    }
    size.map_or_else(|| bad(F, "no size"), Ok)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a PNG chunk with its CRC.
    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v.extend_from_slice(&crc32(&[kind, body]).to_be_bytes());
        v
    }

    /// A PNG of the given size (the IDAT is not real pixel data: nothing decodes it).
    pub(crate) fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let mut v = PNG_SIGNATURE.to_vec();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        v.extend(chunk(b"IHDR", &ihdr));
        v.extend(chunk(b"IDAT", &[0x78, 0x9C, 0x63, 0, 0, 0, 1, 0, 1]));
        v.extend(chunk(b"IEND", &[]));
        v
    }

    pub(crate) fn gif_bytes(w: u16, h: u16) -> Vec<u8> {
        let mut v = b"GIF89a".to_vec();
        v.extend_from_slice(&w.to_le_bytes());
        v.extend_from_slice(&h.to_le_bytes());
        // A global colour table of 2 entries.
        v.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
        // A graphic control extension.
        v.extend_from_slice(&[0x21, 0xF9, 4, 0, 0, 0, 0, 0]);
        v.extend_from_slice(&[0x2C, 0, 0, 0, 0]);
        v.extend_from_slice(&w.to_le_bytes());
        v.extend_from_slice(&h.to_le_bytes());
        v.extend_from_slice(&[0, 2, 2, 0x44, 0x01, 0, 0x3B]);
        v
    }

    pub(crate) fn jpeg_bytes(w: u16, h: u16, progressive: bool) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        // APP0 JFIF.
        v.extend_from_slice(&[0xFF, 0xE0, 0, 16]);
        v.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        // SOF0 (or SOF2), 1 component.
        v.extend_from_slice(&[0xFF, if progressive { 0xC2 } else { 0xC0 }, 0, 11, 8]);
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&[1, 1, 0x11, 0]);
        for _ in 0..if progressive { 2 } else { 1 } {
            // SOS, then entropy data with a stuffed byte and a restart marker.
            v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0]);
            v.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        }
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn riff(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"WEBP".to_vec();
        for (k, c) in chunks {
            body.extend_from_slice(*k);
            body.extend_from_slice(&(c.len() as u32).to_le_bytes());
            body.extend_from_slice(c);
            if c.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend(body);
        v
    }

    pub(crate) fn webp_lossy(w: u16, h: u16) -> Vec<u8> {
        let mut vp8 = vec![0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A];
        vp8.extend_from_slice(&w.to_le_bytes());
        vp8.extend_from_slice(&h.to_le_bytes());
        vp8.extend_from_slice(&[0, 0, 0]);
        riff(&[(b"VP8 ", vp8)])
    }

    fn webp_lossless(w: u32, h: u32) -> Vec<u8> {
        let bits = (w - 1) | ((h - 1) << 14);
        let mut l = vec![0x2F];
        l.extend_from_slice(&bits.to_le_bytes());
        l.push(0);
        riff(&[(b"VP8L", l)])
    }

    fn webp_extended(w: u32, h: u32) -> Vec<u8> {
        let mut x = vec![0x10, 0, 0, 0];
        x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
        x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
        let l = webp_lossless(w.min(16_384), h.min(16_384))[20..].to_vec();
        riff(&[(b"VP8X", x), (b"ALPH", vec![1, 2, 3]), (b"VP8L", l)])
    }

    fn all_valid() -> Vec<(Vec<u8>, ImageFormat, u32, u32)> {
        vec![
            (png_bytes(3, 2), ImageFormat::Png, 3, 2),
            (png_bytes(1, 100_000), ImageFormat::Png, 1, 100_000),
            (gif_bytes(5, 7), ImageFormat::Gif, 5, 7),
            (jpeg_bytes(640, 480, false), ImageFormat::Jpeg, 640, 480),
            (jpeg_bytes(1, 65535, true), ImageFormat::Jpeg, 1, 65535),
            (webp_lossy(300, 200), ImageFormat::WebP, 300, 200),
            (webp_lossless(16384, 9), ImageFormat::WebP, 16384, 9),
            (webp_extended(20_000, 30), ImageFormat::WebP, 20_000, 30),
        ]
    }

    #[test]
    fn valid_images() {
        for (bytes, format, w, h) in all_valid() {
            let info = inspect(&bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!((info.format, info.width, info.height), (format, w, h));
            assert_eq!(sniff(&bytes), Some(format));
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        for (bytes, format, ..) in all_valid() {
            for n in 0..bytes.len() {
                let e = inspect(&bytes[..n]).expect_err(&format!("{format} cut at {n}"));
                assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn corrupt_images() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "empty"),
            (b"<?php system($_GET['c']); ?>".to_vec(), "unrecognised"),
            (
                {
                    let mut p = png_bytes(3, 2);
                    p[20] ^= 1; // the width, so the CRC no longer matches
                    p
                },
                "CRC",
            ),
            (
                {
                    let mut p = PNG_SIGNATURE.to_vec();
                    p.extend(chunk(b"IHDR", &[0, 0, 0, 0, 0, 0, 0, 1, 8, 6, 0, 0, 0]));
                    p.extend(chunk(b"IDAT", &[0]));
                    p.extend(chunk(b"IEND", &[]));
                    p
                },
                "0x1",
            ),
            (
                {
                    let mut p = PNG_SIGNATURE.to_vec();
                    p.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 3, 2, 0, 0, 0]));
                    p.extend(chunk(b"IEND", &[]));
                    p
                },
                "bit depth",
            ),
            (
                {
                    let mut p = PNG_SIGNATURE.to_vec();
                    p.extend(chunk(b"IDAT", &[0]));
                    p
                },
                "not IHDR",
            ),
            (
                {
                    let mut p = png_bytes(1, 1);
                    let n = p.len();
                    p.truncate(n - 12); // no IEND
                    p
                },
                "truncated",
            ),
            (
                {
                    let mut g = gif_bytes(2, 2);
                    let n = g.len();
                    g[n - 1] = 0x99;
                    g
                },
                "unknown block",
            ),
            (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(), "no image"),
            (
                {
                    let mut j = jpeg_bytes(8, 8, false);
                    let n = j.len();
                    j.truncate(n - 2); // no EOI
                    j
                },
                "truncated",
            ),
            (vec![0xFF, 0xD8, 0xFF, 0xD9], "no scan"),
            (
                vec![0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9],
                "before the frame header",
            ),
            (vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 1, 0xFF, 0xD9], "length 1"),
            ({ jpeg_bytes(0, 8, false) }, "0x8"),
            ({ jpeg_bytes(8, 0, false) }, "DNL"),
            (
                {
                    let mut w = webp_lossy(4, 4);
                    w[4] = 0xFF; // the RIFF size is larger than the file
                    w
                },
                "truncated",
            ),
            (
                {
                    let mut w = webp_lossy(4, 4);
                    w[23] = 0; // the start code
                    w
                },
                "start code",
            ),
            (riff(&[(b"VP8X", vec![0; 10])]), "no image data"),
            (riff(&[(b"JUNK", vec![0; 4])]), "not VP8"),
            (riff(&[]), "no chunks"),
        ];
        for (bytes, want) in cases {
            let e = inspect(&bytes).expect_err(want).to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    pub(crate) struct Rng(pub(crate) u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn fuzz_random_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let prefixes: [&[u8]; 6] = [
            b"",
            PNG_SIGNATURE,
            b"\xff\xd8\xff",
            b"GIF89a",
            b"RIFF\x10\0\0\0WEBP",
            b"RIFF\xff\xff\xff\xffWEBPVP8X",
        ];
        for i in 0..20_000 {
            let mut v = prefixes[i % prefixes.len()].to_vec();
            let n = rng.below(64);
            v.extend((0..n).map(|_| rng.next() as u8));
            if let Ok(info) = inspect(&v) {
                assert!(info.width > 0 && info.height > 0);
            }
        }
    }

    #[test]
    fn fuzz_mutated_images_never_panic() {
        let mut rng = Rng(42);
        let valid = all_valid();
        for i in 0..20_000 {
            let mut v = valid[i % valid.len()].0.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(v.len());
                match rng.below(3) {
                    0 => v[at] = rng.next() as u8,
                    1 => {
                        v.remove(at);
                    }
                    _ => v.insert(at, rng.next() as u8),
                }
            }
            if let Ok(info) = inspect(&v) {
                assert!(info.width > 0 && info.height > 0);
            }
        }
    }
}
