//! A fault-injecting HTTP proxy on 127.0.0.1 in front of a real local server (moto): requests it
//! does not fault are forwarded as they came, so every success is the real server's answer.
//!
//! Requests are numbered from 0 in the order the proxy has read them whole; request `n` is
//! faulted when `n % every_nth < burst`. At concurrency 1 the attempts of one call are
//! consecutive requests, so `burst` = the client's max attempts makes whole calls fail and
//! `burst` = 1 makes them succeed on a retry.
//!
//! Bounded: connections and reads time out, a connection serves at most `MAX_REQUESTS` requests,
//! a message is at most `MAX_MESSAGE` bytes, and the proxy stops accepting when dropped or after
//! `LIFETIME`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LIFETIME: Duration = Duration::from_secs(300);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REQUESTS: usize = 10_000;
const MAX_MESSAGE: usize = 8 << 20;

/// What the proxy does to the requests it faults.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Every response forwarded, its first byte held back `delay_ms`.
    Slow { delay_ms: u64 },
    /// A faulted request is read whole, then the connection is closed without an answer
    /// (`half_answer: false`, the request never reaches the server), or the request is
    /// forwarded and the connection closed halfway through the server's answer
    /// (`half_answer: true`: the item may be written though the client saw an error).
    CloseMidRequest {
        every_nth: usize,
        burst: usize,
        half_answer: bool,
    },
    /// A faulted request is answered by the proxy with DynamoDB's HTTP 400 `code`
    /// (`ProvisionedThroughputExceededException`, `ThrottlingException`), never forwarded.
    Throttle {
        every_nth: usize,
        burst: usize,
        code: &'static str,
    },
}

impl Fault {
    /// Whether the `n`-th request (from 0) is faulted: the tests model the proxy with this.
    pub fn hits(&self, n: usize) -> bool {
        match *self {
            Fault::Slow { .. } => false,
            Fault::CloseMidRequest {
                every_nth, burst, ..
            }
            | Fault::Throttle {
                every_nth, burst, ..
            } => n % every_nth.max(1) < burst,
        }
    }
}

pub struct Proxy {
    pub port: u16,
    /// Requests read whole so far.
    pub requests: Arc<AtomicUsize>,
    /// Requests faulted so far.
    pub faulted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy on a free 127.0.0.1 port forwarding to 127.0.0.1:`upstream`.
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let faulted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            upstream,
            fault,
            requests: requests.clone(),
            faulted: faulted.clone(),
            stop: stop.clone(),
        };
        let acceptor = std::thread::spawn(move || {
            let born = Instant::now();
            while !shared.stop.load(Ordering::SeqCst) && born.elapsed() < LIFETIME {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || shared.serve(conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            port,
            requests,
            faulted,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

#[derive(Clone)]
struct Shared {
    upstream: u16,
    fault: Fault,
    requests: Arc<AtomicUsize>,
    faulted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// One HTTP/1.1 message read whole: its bytes, and whether the peer may keep the connection.
struct Message {
    bytes: Vec<u8>,
    keep_alive: bool,
}

/// Reads one message (head, then `content-length` bytes, or to EOF when `to_eof_without_length`
/// and the head has no length). None on EOF, timeout or an oversized message.
fn read_message(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    to_eof_without_length: bool,
) -> Option<Message> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_MESSAGE {
            return None;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let length: Option<usize> = header("content-length:").and_then(|v| v.parse().ok());
    let close = header("connection:").is_some_and(|v| v == "close");
    let total = match length {
        Some(l) => head_end + l,
        None if to_eof_without_length => {
            // The body runs to EOF (bounded by size and the read timeout).
            while buf.len() <= MAX_MESSAGE {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let bytes = std::mem::take(buf);
            return Some(Message {
                bytes,
                keep_alive: false,
            });
        }
        None => head_end,
    };
    if total > MAX_MESSAGE {
        return None;
    }
    while buf.len() < total {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let bytes: Vec<u8> = buf.drain(..total).collect();
    Some(Message {
        bytes,
        keep_alive: !close,
    })
}

impl Shared {
    /// Serves one client connection, request after request, until either side closes.
    fn serve(&self, mut client: TcpStream) {
        let _ = client.set_nonblocking(false);
        let _ = client.set_read_timeout(Some(IO_TIMEOUT));
        let _ = client.set_write_timeout(Some(IO_TIMEOUT));
        let mut buf = Vec::new();
        for _ in 0..MAX_REQUESTS {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Some(request) = read_message(&mut client, &mut buf, false) else {
                break;
            };
            let n = self.requests.fetch_add(1, Ordering::SeqCst);
            let faulted = self.fault.hits(n);
            if faulted {
                self.faulted.fetch_add(1, Ordering::SeqCst);
            }
            let keep = match (self.fault, faulted) {
                (Fault::Throttle { code, .. }, true) => {
                    client.write_all(&throttled(code)).is_ok() && request.keep_alive
                }
                (Fault::CloseMidRequest { half_answer, .. }, true) => {
                    if half_answer {
                        if let Some(answer) = self.forward(&request.bytes) {
                            let _ = client.write_all(&answer.bytes[..answer.bytes.len() / 2]);
                            let _ = client.flush();
                        }
                    }
                    false
                }
                (Fault::Slow { delay_ms }, _) => match self.forward(&request.bytes) {
                    Some(answer) => {
                        std::thread::sleep(Duration::from_millis(delay_ms));
                        client.write_all(&answer.bytes).is_ok()
                            && answer.keep_alive
                            && request.keep_alive
                    }
                    None => false,
                },
                _ => match self.forward(&request.bytes) {
                    Some(answer) => {
                        client.write_all(&answer.bytes).is_ok()
                            && answer.keep_alive
                            && request.keep_alive
                    }
                    None => false,
                },
            };
            if !keep {
                break;
            }
        }
        let _ = client.shutdown(Shutdown::Both);
    }

    /// The request sent to the server on a connection of its own, and its answer read whole.
    fn forward(&self, request: &[u8]) -> Option<Message> {
        let mut up =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.upstream).into(), IO_TIMEOUT).ok()?;
        let _ = up.set_read_timeout(Some(IO_TIMEOUT));
        let _ = up.set_write_timeout(Some(IO_TIMEOUT));
        up.write_all(request).ok()?;
        let mut buf = Vec::new();
        read_message(&mut up, &mut buf, true)
    }
}

/// DynamoDB's answer to a throttled call: HTTP 400 with the error's type in the JSON body.
fn throttled(code: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"The level of configured provisioned throughput for the table was exceeded."}}"#
    );
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: proxy-throttled\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
