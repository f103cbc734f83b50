//! The floor for packaging a file as a layer on this machine: one streaming pass that does only
//! what a layer must (read, gzip at static-image's level with the same backend, sha256 of the
//! uncompressed and the compressed bytes, write). `bench/run.py` measures it beside the tool.
//!
//! Usage: `cargo run --release --example floor -- INPUT OUTPUT`

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use static_image::image::layer::LayerCompression;

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: floor INPUT OUTPUT");
        std::process::exit(2);
    };
    let mut input = File::open(input)?;
    let out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, File::create(output)?),
        hash: Sha256::new(),
    };
    let mut gzip = GzBuilder::new()
        .mtime(0)
        .write(out, Compression::new(LayerCompression::GZIP_DEFAULT));
    let mut raw = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.update(&buf[..n]);
        gzip.write_all(&buf[..n])?;
    }
    let mut out = gzip.finish()?;
    out.flush()?;
    let compressed = out.hash.finalize();
    let uncompressed = raw.finalize();
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    println!("{} {}", hex(&uncompressed), hex(&compressed));
    Ok(())
}
