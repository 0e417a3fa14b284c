//! A loopback HTTP "server" that writes exactly the bytes a test scripts:
//! malformed status lines, lying lengths, broken chunking, endless or
//! trickled bodies, resets. Nothing here is valid HTTP unless the script is.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// One thing the server does on a connection, in order.
#[derive(Clone, Debug)]
pub enum Step {
    /// Writes these bytes.
    Write(Vec<u8>),
    /// Waits.
    Sleep(Duration),
    /// Writes this chunk again and again until the client goes away.
    Endless(Vec<u8>),
    /// Writes this byte every interval until the client goes away.
    Trickle(u8, Duration),
    /// Closes the connection with a TCP reset.
    Reset,
}

/// Writes `text` (a convenience for [`Step::Write`]).
pub fn write(text: impl AsRef<[u8]>) -> Step {
    Step::Write(text.as_ref().to_vec())
}

/// A complete response with `Connection: close` and a correct length.
pub fn response(status_line: &str, headers: &[(&str, &str)], body: &str) -> Step {
    let mut text = format!("HTTP/1.1 {status_line}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    write(text)
}

/// The server: connection `i` runs `scripts[i]`, or the last script once
/// they run out.
pub struct RawServer {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RawServer {
    pub async fn start(scripts: Vec<Vec<Step>>) -> Self {
        assert!(!scripts.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (count, log) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let script = scripts[n.min(scripts.len() - 1)].clone();
                tokio::spawn(serve(stream, script, log.clone()));
            }
        });
        Self {
            addr,
            connections,
            requests,
        }
    }

    /// The API root of this server.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The request heads received.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, script: Vec<Step>, log: Arc<Mutex<Vec<String>>>) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    log.lock().unwrap().push(head);
    for step in script {
        let ok = match step {
            Step::Write(bytes) => stream.write_all(&bytes).await.is_ok(),
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                true
            }
            Step::Endless(chunk) => {
                while stream.write_all(&chunk).await.is_ok() {}
                false
            }
            Step::Trickle(byte, every) => {
                while stream.write_all(&[byte]).await.is_ok() {
                    tokio::time::sleep(every).await;
                }
                false
            }
            Step::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
        };
        if !ok {
            return;
        }
    }
    let _ = stream.flush().await;
}

/// The request line and headers (the body, if any, is read and dropped).
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    let end = loop {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut have = buf.len() - end;
    while have < length {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Some(head)
}
