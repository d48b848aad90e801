//! The gateway's request handling: arbitrary bytes on one connection (hyper's parser, routing,
//! admin endpoints and their token, body limits). Every answer is well-formed HTTP and comes
//! within a bound; nothing panics. The one route, `f`, has no free slot and no queue, so requests
//! to it are answered 503 without starting processes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quilt_platform::{Deployable, Platform, PlatformConfig};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Env {
    rt: tokio::runtime::Runtime,
    platform: Platform,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let platform = rt
            .block_on(Platform::start(PlatformConfig {
                deployables: vec![Deployable {
                    name: "f".into(),
                    binary: "/nonexistent/quilt-fuzz".into(),
                    entry: "f".into(),
                    memory_mb: 64,
                    cpu: 1.0,
                    min_instances: 0,
                    max_instances: 1,
                    concurrency: 1,
                    queue: 0,
                    timeout: Duration::from_millis(50),
                    pids: 64,
                    sandbox: true,
                    env: Vec::new(),
                    args: Vec::new(),
                    placements: Vec::new(),
                }],
                max_body_bytes: 4096,
                admin_token: Some("fuzz-token".into()),
                ..PlatformConfig::default()
            }))
            .expect("platform starts");
        Env { rt, platform }
    })
}

fuzz_target!(|data: &[u8]| {
    let env = env();
    let reply = env.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let serve = env.platform.serve_stream(server);
        let talk = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ = client.read_to_end(&mut out).await;
            out
        };
        let both = async { tokio::join!(serve, talk).1 };
        tokio::time::timeout(Duration::from_secs(5), both)
            .await
            .expect("the gateway answered and closed within 5 s")
    });
    if !reply.is_empty() {
        // HTTP/1.1, or 1.0 in answer to a 1.0 request.
        assert!(
            reply.starts_with(b"HTTP/1.1 ") || reply.starts_with(b"HTTP/1.0 "),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
});
