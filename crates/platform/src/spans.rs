//! The embedded span store: spans returned by instances (header `quilt-spans`), kept in memory up
//! to a bound and, when given a folder, appended to size-bounded JSON-lines segments there (the
//! oldest segment is dropped first).

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Spans kept in memory.
const MEMORY_SPANS: usize = 200_000;
/// Bytes per segment file.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Segment files kept.
const SEGMENTS: usize = 4;

/// One execution of a function, as an instance recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Trace id (32 hex digits).
    pub trace: String,
    /// This span's id (16 hex digits).
    pub span: String,
    /// The parent span's id (the gateway's root id for a workflow's entry).
    pub parent: String,
    /// The function that ran.
    pub function: String,
    /// Start, Unix microseconds.
    pub start_us: u64,
    /// Duration in microseconds.
    pub dur_us: u64,
    /// ABI status (0: success).
    pub status: i32,
    /// `sync` or `async`.
    pub kind: String,
    /// Whether it ran inside its caller's process (a merged call).
    pub local: bool,
    /// `<deployable>/<pid>` of the instance it ran in.
    pub instance: String,
    /// CPU time of the thread that ran it, microseconds (when the instance could read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_us: Option<u64>,
    /// Time that thread was runnable but waiting for a CPU, microseconds (likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_us: Option<u64>,
}

struct Inner {
    spans: VecDeque<Span>,
    /// Sequence number of `spans[0]`.
    first_seq: u64,
    segment: Option<(std::fs::File, u64, u64)>,
}

/// The store.
pub struct SpanStore {
    dir: Option<PathBuf>,
    exporter: Option<crate::otlp::OtlpExporter>,
    inner: Mutex<Inner>,
}

impl SpanStore {
    /// A store, persisting under `dir` and exporting through `exporter` when given.
    pub fn new(dir: Option<PathBuf>, exporter: Option<crate::otlp::OtlpExporter>) -> SpanStore {
        SpanStore {
            dir,
            exporter,
            inner: Mutex::new(Inner {
                spans: VecDeque::new(),
                first_seq: 0,
                segment: None,
            }),
        }
    }

    /// Adds the spans of a `quilt-spans` header; malformed input is ignored (and logged).
    pub fn add_header(&self, value: &[u8]) {
        match serde_json::from_slice::<Vec<Span>>(value) {
            Ok(spans) => self.add(spans),
            Err(e) => tracing::warn!("dropping malformed spans from an instance: {e}"),
        }
    }

    /// Adds spans.
    pub fn add(&self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        if let Some(exporter) = &self.exporter {
            exporter.export(&spans);
        }
        let mut inner = self.inner.lock().unwrap();
        if let Some(dir) = &self.dir {
            if let Err(e) = persist(dir, &mut inner, &spans) {
                tracing::warn!("cannot persist spans under {}: {e}", dir.display());
            }
        }
        inner.spans.extend(spans);
        while inner.spans.len() > MEMORY_SPANS {
            inner.spans.pop_front();
            inner.first_seq += 1;
        }
    }

    /// Spans from sequence number `after` on, and the sequence number to ask from next.
    pub fn since(&self, after: u64) -> (Vec<Span>, u64) {
        let inner = self.inner.lock().unwrap();
        let skip = after.saturating_sub(inner.first_seq) as usize;
        let spans: Vec<Span> = inner.spans.iter().skip(skip).cloned().collect();
        (spans, inner.first_seq + inner.spans.len() as u64)
    }
}

fn persist(dir: &std::path::Path, inner: &mut Inner, spans: &[Span]) -> std::io::Result<()> {
    let mut text = Vec::new();
    for s in spans {
        serde_json::to_writer(&mut text, s)?;
        text.push(b'\n');
    }
    let full = inner
        .segment
        .as_ref()
        .is_none_or(|(_, bytes, _)| *bytes + text.len() as u64 > SEGMENT_BYTES);
    if full {
        std::fs::create_dir_all(dir)?;
        let next = inner
            .segment
            .as_ref()
            .map_or_else(|| newest_segment(dir) + 1, |s| s.2 + 1);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("spans-{next:06}.jsonl")))?;
        inner.segment = Some((file, 0, next));
        if next >= SEGMENTS as u64 {
            let _ = std::fs::remove_file(
                dir.join(format!("spans-{:06}.jsonl", next - SEGMENTS as u64)),
            );
        }
    }
    let (file, bytes, _) = inner.segment.as_mut().unwrap();
    file.write_all(&text)?;
    *bytes += text.len() as u64;
    Ok(())
}

fn newest_segment(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("spans-")?
                .strip_suffix(".jsonl")?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(i: u64) -> Span {
        Span {
            cpu_us: None,
            wait_us: None,
            trace: format!("{i:032x}"),
            span: format!("{i:016x}"),
            parent: "0".into(),
            function: "f".into(),
            start_us: i,
            dur_us: 1,
            status: 0,
            kind: "sync".into(),
            local: false,
            instance: "f/1".into(),
        }
    }

    #[test]
    fn since_pages_through_spans() {
        let store = SpanStore::new(None, None);
        store.add((0..5).map(span).collect());
        let (all, next) = store.since(0);
        assert_eq!((all.len(), next), (5, 5));
        store.add(vec![span(5)]);
        let (new, next) = store.since(next);
        assert_eq!(new, vec![span(5)]);
        assert_eq!(next, 6);
    }

    #[test]
    fn segments_are_bounded_and_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SpanStore::new(Some(dir.path().to_path_buf()), None);
        let big: Vec<Span> = (0..1000).map(span).collect();
        let per_batch = serde_json::to_vec(&big).unwrap().len() as u64;
        let batches = (SEGMENT_BYTES / per_batch + 1) * (SEGMENTS as u64 + 2);
        for _ in 0..batches {
            store.add(big.clone());
        }
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(files.len(), SEGMENTS, "old segments dropped");
        let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
        assert!(total <= SEGMENT_BYTES * SEGMENTS as u64);
        assert!(!dir.path().join("spans-000001.jsonl").exists());
        let (kept, _) = store.since(0);
        assert_eq!(kept.len(), MEMORY_SPANS, "memory bounded");
    }
}
