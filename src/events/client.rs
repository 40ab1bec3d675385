//! A blocking client for the event endpoint, keeping its connection open between posts: what
//! the simulator, the motion detector, the bench and the tests send events with.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A connection to `vigie events`.
pub struct EventClient {
    addr: SocketAddr,
    token: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

impl EventClient {
    pub fn new(addr: SocketAddr, token: Option<String>) -> EventClient {
        EventClient {
            addr,
            token,
            conn: None,
        }
    }

    fn connect(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// POSTs `body` (JSON) to `path`; returns the status and the answer's body. Reconnects once
    /// when the server had closed the kept connection.
    pub fn post(&mut self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        match self.post_once(path, body) {
            Ok(x) => Ok(x),
            Err(_) => {
                self.conn = None;
                self.post_once(path, body)
            }
        }
    }

    fn post_once(&mut self, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let conn = self.connect()?;
        let mut msg = head.into_bytes();
        msg.extend_from_slice(body.as_bytes());
        conn.get_mut().write_all(&msg)?;
        let answer = read_response(conn);
        if answer.as_ref().map(|a| a.2).unwrap_or(true) {
            self.conn = None;
        }
        answer.map(|(status, body, _)| (status, body))
    }
}

/// Reads a response: (status, body, server closes).
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, String, bool)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(bad("connection closed"));
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("malformed status line"))?;
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            let v = v.trim();
            if n.eq_ignore_ascii_case("content-length") {
                length = v.parse().map_err(|_| bad("malformed Content-Length"))?;
            } else if n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    r.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned(), close))
}
