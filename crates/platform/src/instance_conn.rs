//! The gateway's connections to instances: a kept-alive TCP connection on which the request's own
//! task writes an HTTP/1.1 request and reads the answer — no connection task and no channel in
//! between, so a forwarded request wakes no other task of the gateway.
//!
//! Instances run the project's runtime (`quilt_runtime::server`), which answers every request
//! with `Content-Length`; an answer without one, longer than [`MAX_ANSWER`], or followed by bytes
//! nobody asked for fails the exchange or retires the connection, so that a function writing
//! garbage on its socket cannot pass an answer off as another request's.

use bytes::{Bytes, BytesMut};
use quilt_runtime::client::{parse_response_head, write_request_head};
use std::net::IpAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer body the gateway reads from an instance.
pub(crate) const MAX_ANSWER: usize = 256 * 1024 * 1024;

/// Bodies up to this size are copied behind the request head and sent with it in one write.
const COPY_BODY: usize = 64 * 1024;

/// A kept-alive connection to one instance.
pub(crate) struct InstanceConn {
    stream: TcpStream,
    /// Bytes read and not yet consumed; the request head is built here too.
    buf: BytesMut,
}

/// An instance's answer to one request.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// The `quilt-spans` header, when the request was traced.
    pub spans: Option<Bytes>,
    /// Whether the connection can carry another request.
    pub reusable: bool,
}

impl InstanceConn {
    /// Opens a connection to the instance listening at `addr:port`.
    pub async fn connect(addr: IpAddr, port: u16) -> Result<InstanceConn, String> {
        let stream = TcpStream::connect((addr, port))
            .await
            .map_err(|e| format!("cannot connect to instance at {addr}:{port}: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(InstanceConn {
            stream,
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }

    /// Whether the connection is still fit for a request: the instance has neither closed it nor
    /// written anything while it was idle.
    pub fn is_idle(&self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty()
            && matches!(self.stream.try_read(&mut probe),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Sends `POST /<entry>` with `body` (and the trace headers, if any) and reads the answer.
    pub async fn exchange(
        &mut self,
        entry: &str,
        body: &[u8],
        trace: Option<(&[u8], &[u8])>,
    ) -> Result<Answer, String> {
        let mut head = Vec::with_capacity(192 + body.len().min(COPY_BODY));
        write_request_head(&mut head, entry, body.len(), trace);
        let written = if body.len() <= COPY_BODY {
            head.extend_from_slice(body);
            self.stream.write_all(&head).await
        } else {
            match self.stream.write_all(&head).await {
                Ok(()) => self.stream.write_all(body).await,
                Err(e) => Err(e),
            }
        };
        written.map_err(|e| format!("cannot send the request to the instance: {e}"))?;
        self.read_answer().await
    }

    async fn read_answer(&mut self) -> Result<Answer, String> {
        let head = loop {
            if let Some(head) = parse_response_head(&self.buf)
                .map_err(|e| format!("the instance's answer is malformed: {e}"))?
            {
                break head;
            }
            self.fill().await?;
        };
        let Some(length) = head.length else {
            return Err("the instance's answer has no Content-Length".into());
        };
        if length > MAX_ANSWER {
            return Err(format!(
                "the instance's answer of {length} bytes is larger than {MAX_ANSWER} bytes"
            ));
        }
        let spans = head
            .spans
            .clone()
            .map(|range| Bytes::copy_from_slice(&self.buf[range]));
        let _ = self.buf.split_to(head.head_len);
        if self.buf.capacity() < length {
            self.buf.reserve(length - self.buf.len());
        }
        while self.buf.len() < length {
            self.fill().await?;
        }
        let body = self.buf.split_to(length).freeze();
        Ok(Answer {
            status: head.code,
            body,
            spans,
            // Bytes beyond the answer were never asked for: the connection is not trusted again.
            reusable: head.keep_alive && self.buf.is_empty(),
        })
    }

    /// Reads more bytes into the buffer; an error when the instance closed the connection.
    async fn fill(&mut self) -> Result<(), String> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err("the instance closed the connection before answering".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("cannot read the instance's answer: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection server that reads one request, then writes `answer` in the given pieces
    /// (each flushed on its own), keeps the connection open for `hold`, and returns what it read.
    async fn server(
        pieces: Vec<Vec<u8>>,
        hold: std::time::Duration,
    ) -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).await.unwrap();
                request.extend_from_slice(&chunk[..n]);
            }
            for piece in pieces {
                s.write_all(&piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            tokio::time::sleep(hold).await;
            request
        });
        (port, task)
    }

    async fn exchange(pieces: Vec<Vec<u8>>) -> (Result<Answer, String>, Vec<u8>) {
        let (port, task) = server(pieces, std::time::Duration::from_millis(100)).await;
        let mut conn = InstanceConn::connect([127, 0, 0, 1].into(), port)
            .await
            .unwrap();
        let answer = conn
            .exchange(
                "f",
                b"{}",
                Some((b"00-trace".as_slice(), b"async".as_slice())),
            )
            .await;
        (answer, task.await.unwrap())
    }

    #[tokio::test]
    async fn an_answer_split_over_several_writes_is_read_whole() {
        let (answer, request) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nContent-Le".to_vec(),
            b"ngth: 11\r\nquilt-spans: s1\r\n\r\nhello".to_vec(),
            b" world".to_vec(),
        ])
        .await;
        let answer = answer.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], b"hello world");
        assert_eq!(answer.spans.as_deref(), Some(b"s1".as_slice()));
        assert!(answer.reusable);
        let request = String::from_utf8(request).unwrap();
        assert!(request.starts_with("POST /f HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Content-Length: 2\r\n"), "{request}");
        assert!(request.contains("traceparent: 00-trace\r\n"), "{request}");
        assert!(request.contains("quilt-kind: async\r\n"), "{request}");
    }

    #[tokio::test]
    async fn bytes_beyond_the_answer_retire_the_connection() {
        let (answer, _) = exchange(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n".to_vec(),
        ])
        .await;
        let answer = answer.unwrap();
        assert_eq!(&answer.body[..], b"{}");
        assert!(!answer.reusable);
    }

    #[tokio::test]
    async fn connection_close_retires_the_connection() {
        let (answer, _) = exchange(vec![
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                .to_vec(),
        ])
        .await;
        let answer = answer.unwrap();
        assert_eq!(answer.status, 400);
        assert!(!answer.reusable);
    }

    #[tokio::test]
    async fn malformed_missing_length_oversized_and_cut_answers_fail_with_the_reason() {
        let cases: [(&[u8], &str); 4] = [
            (b"HTTP/1.1 2x0 OK\r\n\r\n", "malformed"),
            (b"HTTP/1.1 200 OK\r\n\r\n{}", "no Content-Length"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n",
                "larger than",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
                "closed the connection",
            ),
        ];
        for (answer, reason) in cases {
            // The server closes right after its answer.
            let (port, _task) = server(vec![answer.to_vec()], std::time::Duration::ZERO).await;
            let mut conn = InstanceConn::connect([127, 0, 0, 1].into(), port)
                .await
                .unwrap();
            let result = conn.exchange("f", b"{}", None).await.map(|_| ());
            let error = result.expect_err(reason);
            assert!(error.contains(reason), "{error:?} should say {reason:?}");
        }
    }

    #[tokio::test]
    async fn a_closed_connection_is_not_idle() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
        let (port, task) = server(vec![answer], std::time::Duration::from_millis(300)).await;
        let mut conn = InstanceConn::connect([127, 0, 0, 1].into(), port)
            .await
            .unwrap();
        let answer = conn.exchange("f", b"", None).await.unwrap();
        assert!(answer.reusable);
        assert!(conn.is_idle());
        task.await.unwrap(); // the server closes its end
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!conn.is_idle());
    }
}
