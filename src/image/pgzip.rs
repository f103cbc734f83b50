//! Parallel gzip, as pigz does it: the stream is cut into 1 MiB blocks compressed on every core,
//! each primed with the 32 KiB of input before it (so the ratio stays that of one stream) and
//! ended with a sync flush; the blocks are joined in order into one gzip member whose CRC-32 and
//! length cover the whole input.
//!
//! The bytes depend on the input, the level and the block size only, not on how many workers
//! there are, so images stay reproducible across machines.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// The unit of work: big enough that the 32 KiB dictionary costs little ratio, small enough
/// that two cores stay busy on a few-MB layer.
const BLOCK: usize = 1 << 20;
/// Deflate's window: the most of the previous block a block can refer back to.
const WINDOW: usize = 32 * 1024;

struct Job {
    index: usize,
    data: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
}

type Done = (usize, io::Result<Vec<u8>>);

/// A gzip writer that compresses on `workers` threads.
pub struct ParallelGzip<W: Write> {
    out: W,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    crc: crc32fast::Hasher,
    length: u64,
    sent: usize,
    written: usize,
    pending: BTreeMap<usize, Vec<u8>>,
    jobs: Option<mpsc::SyncSender<Job>>,
    done: mpsc::Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
}

impl<W: Write> ParallelGzip<W> {
    /// Starts a gzip member (mtime 0, no name) at `level` on `out`.
    pub fn new(mut out: W, level: u32, workers: usize) -> io::Result<ParallelGzip<W>> {
        // The header flate2's GzBuilder writes: no mtime, XFL from the level, OS unknown.
        let xfl = match level {
            9.. => 2,
            0 | 1 => 4,
            _ => 0,
        };
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        let workers = workers.max(1);
        let (jobs, inbox) = mpsc::sync_channel::<Job>(workers * 2);
        let (outbox, done) = mpsc::channel::<Done>();
        let inbox = Arc::new(Mutex::new(inbox));
        let handles = (0..workers)
            .map(|_| {
                let inbox = Arc::clone(&inbox);
                let outbox = outbox.clone();
                std::thread::spawn(move || {
                    loop {
                        // A poisoned lock means another worker panicked; stop quietly, the
                        // writer reports the missing block.
                        let job = match inbox.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let result = deflate_block(&job, level);
                        if outbox.send((job.index, result)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Ok(ParallelGzip {
            out,
            block: Vec::with_capacity(BLOCK),
            dictionary: Vec::new(),
            crc: crc32fast::Hasher::new(),
            length: 0,
            sent: 0,
            written: 0,
            pending: BTreeMap::new(),
            jobs: Some(jobs),
            done,
            workers: handles,
        })
    }

    /// Hands the current block to the workers.
    fn send(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let next_dictionary = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let job = Job {
            index: self.sent,
            dictionary: std::mem::replace(&mut self.dictionary, next_dictionary),
            data,
            last,
        };
        self.sent += 1;
        self.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))?
            .send(job)
            .map_err(|_| io::Error::other("a gzip worker stopped"))
    }

    /// Writes finished blocks in order, waiting for blocks only while more than `max_ahead`
    /// are still out: the workers always have queued blocks to go on with meanwhile.
    fn drain(&mut self, max_ahead: usize) -> io::Result<()> {
        loop {
            while let Some(bytes) = self.pending.remove(&self.written) {
                self.out.write_all(&bytes)?;
                self.written += 1;
            }
            let next = if self.sent - self.written > max_ahead {
                self.done
                    .recv()
                    .map_err(|_| io::Error::other("a gzip worker stopped"))?
            } else {
                match self.done.try_recv() {
                    Ok(next) => next,
                    Err(_) => return Ok(()),
                }
            };
            self.pending.insert(next.0, next.1?);
        }
    }

    /// Compresses what is left, writes the trailer, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.send(true)?;
        self.drain(0)?;
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        // ISIZE: the length modulo 2^32, as RFC 1952 says.
        self.out.write_all(&(self.length as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.block.len() == BLOCK {
            // Only now is it known that the full block is not the last one.
            self.send(false)?;
            // Keep memory bounded: never run more than a few blocks ahead of the output.
            self.drain(self.workers.len() * 2)?;
        }
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.length += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Raw deflate of one block, primed with its dictionary; a sync flush ends every block but the
/// last, which ends the stream.
fn deflate_block(job: &Job, level: u32) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !job.dictionary.is_empty() {
        c.set_dictionary(&job.dictionary)
            .map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 4096);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = usize::try_from(c.total_in()).unwrap_or(usize::MAX);
        let status = c
            .compress_vec(&job.data[consumed.min(job.data.len())..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == job.data.len();
        match (job.last, status) {
            (true, Status::StreamEnd) => return Ok(out),
            // A flush is complete once it leaves room unused in the output.
            (false, _) if all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        let mut state = 88172645463325252u64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Text-like with repeats, so back-references cross block boundaries.
                if i % 3 == 0 {
                    b"abcdefgh"[(state % 8) as usize]
                } else {
                    (i / 7) as u8
                }
            })
            .collect()
    }

    fn compress(data: &[u8], workers: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 6, workers).unwrap();
        for chunk in data.chunks(100_003) {
            gz.write_all(chunk).unwrap();
        }
        gz.finish().unwrap()
    }

    #[test]
    fn many_blocks_decode_to_the_input_whatever_the_worker_count() {
        let data = sample(5 * BLOCK + 12_345);
        let one = compress(&data, 1);
        let three = compress(&data, 3);
        assert_eq!(one, three, "bytes must not depend on the number of workers");
        let mut back = Vec::new();
        GzDecoder::new(one.as_slice())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn block_edges_round_trip() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK] {
            let data = sample(len);
            let mut back = Vec::new();
            GzDecoder::new(compress(&data, 2).as_slice())
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "{len} bytes");
        }
    }
}
