//! The gateway's serving threads: one per core, each running a single-threaded runtime of its own.
//!
//! The accept loop hands every client connection to the thread with the fewest open connections;
//! the connection's requests, their exchanges with instances, and the instance connections they
//! open then all stay on that thread (instance connections are kept per thread, see
//! [`current`]). Nothing migrates between cores, and an instance's answer wakes only the thread
//! whose request waits for it — as nginx's worker processes do, where tokio's work-stealing
//! scheduler would move tasks and wake other threads.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most serving threads, whatever the number of cores.
const MAX_WORKERS: usize = 16;

thread_local! {
    /// 1 + the index of the serving thread running here; 0 on any other thread.
    static WORKER: Cell<usize> = const { Cell::new(0) };
}

/// Which serving thread this is: `1..=count` on a serving thread, 0 elsewhere (a slot for every
/// other thread, such as the caller's runtime serving [`crate::Platform::serve_stream`]).
pub(crate) fn current() -> usize {
    WORKER.with(Cell::get)
}

/// How many serving threads a platform starts: one per core.
pub(crate) fn count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WORKERS)
}

struct Worker {
    handle: tokio::runtime::Handle,
    /// Client connections it serves now.
    connections: Arc<AtomicUsize>,
    /// Tells it to end once its connections have closed.
    finish: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// The serving threads of one platform.
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

impl Workers {
    /// Starts [`count`] serving threads.
    pub fn start() -> std::io::Result<Workers> {
        let mut workers = Vec::new();
        for index in 0..count() {
            let (handle_tx, handle_rx) = std::sync::mpsc::channel();
            let (finish, finishing) = tokio::sync::oneshot::channel::<()>();
            let connections = Arc::new(AtomicUsize::new(0));
            let open = Arc::clone(&connections);
            std::thread::Builder::new()
                .name(format!("quilt-gateway-{index}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            let _ = handle_tx.send(Err(e));
                            return;
                        }
                    };
                    WORKER.with(|w| w.set(index + 1));
                    let _ = handle_tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        let _ = finishing.await;
                        // Connections kept alive across a shutdown still get their answers (503
                        // and close); idle ones close by the header timeout.
                        while open.load(Ordering::Acquire) > 0 {
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    });
                })?;
            let handle = handle_rx
                .recv()
                .map_err(|_| std::io::Error::other("a serving thread ended at its start"))??;
            workers.push(Worker {
                handle,
                connections,
                finish: std::sync::Mutex::new(Some(finish)),
            });
        }
        Ok(Workers { workers })
    }

    /// Runs `serve` on the serving thread with the fewest connections, for an accepted client
    /// connection (moved to that thread's runtime).
    pub fn serve<F, Fut>(&self, stream: tokio::net::TcpStream, serve: F)
    where
        F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.connections.load(Ordering::Relaxed))
            .expect("at least one serving thread");
        // Out of this runtime's reactor, into the serving thread's.
        let Ok(stream) = stream.into_std() else {
            return;
        };
        let connections = Arc::clone(&worker.connections);
        connections.fetch_add(1, Ordering::AcqRel);
        // Detached: the connection ends by itself (closed, timed out, or refused at shutdown).
        drop(worker.handle.spawn(async move {
            let _open = Open(connections);
            if let Ok(stream) = tokio::net::TcpStream::from_std(stream) {
                serve(stream).await;
            }
        }));
    }

    /// Lets every serving thread end once its client connections have closed (its runtime, and
    /// what still runs on it, ends then).
    pub fn finish(&self) {
        for w in &self.workers {
            if let Some(finish) = w.finish.lock().unwrap().take() {
                let _ = finish.send(());
            }
        }
    }
}

/// A connection counted among its serving thread's until dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
