//! Outbound connections: HTTP/1.1 keep-alive connections kept per `scheme://host:port` and
//! reused by every later request there, so that a sync pays a TCP (and TLS) handshake per
//! connection, not per API call. TLS sessions are resumed through one shared rustls config.
//!
//! A request takes an idle connection or opens one, and gives it back when its response has
//! been read to the end, so the connections to one address never outnumber the requests
//! that were in flight there at once. Requests reach this module only through the HTTP
//! policy, after its checks; nothing here decides what may be sent.
//!
//! Hand-written on hyper's connection API rather than hyper-util's pooled client: that
//! client races a new connection against a connection coming back, so it may open more
//! connections than there are requests in flight, and it has no bound on them.

use bytes::Bytes;
use http::uri::Scheme;
use http_body::{Body, Frame};
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions};

/// Idle connections kept per address; more are closed when they come back.
const MAX_IDLE_PER_ADDRESS: usize = 128;

/// The connections of this process, shared by every runtime, account and plugin call: a
/// connection carries no credential (each request is signed on its own).
static CONNECTIONS: LazyLock<Connections> = LazyLock::new(Connections::new);

/// Sends `request` over a kept connection to its address, or a new one, within the
/// (already clamped) timeouts of `options`.
pub(crate) async fn send(
    request: http::Request<Full<Bytes>>,
    options: RequestOptions,
) -> Result<http::Response<ResponseBody>, HttpError> {
    CONNECTIONS.send(request, options).await
}

type Idle = Arc<Mutex<HashMap<String, Vec<SendRequest<Full<Bytes>>>>>>;

struct Connections {
    idle: Idle,
    tls: tokio_rustls::TlsConnector,
}

impl Connections {
    fn new() -> Self {
        Self::with_roots(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        })
    }

    /// Connections that trust `roots`: the Mozilla roots in use, a test CA in the tests.
    fn with_roots(roots: rustls::RootCertStore) -> Self {
        // The client config's default resumption keeps 256 sessions in memory; one config
        // for every connection is what lets a new connection resume an earlier session.
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Connections {
            idle: Arc::default(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    async fn send(
        &self,
        mut request: http::Request<Full<Bytes>>,
        options: RequestOptions,
    ) -> Result<http::Response<ResponseBody>, HttpError> {
        let uri = request.uri();
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
        let address = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if tls { 443 } else { 80 }),
        };
        let key = format!("{}://{address}", if tls { "https" } else { "http" });
        let mut sender = loop {
            match self.take_idle(&key) {
                // A connection given back may still be finishing its last response.
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        break sender;
                    }
                }
                None => break self.connect(&address, tls, &options).await?,
            }
        };
        // On a direct connection the request line carries the path only.
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(path)
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        let first_byte = options.first_byte_timeout.unwrap_or(Duration::MAX);
        let response = tokio::time::timeout(first_byte, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)?
            .map_err(HttpError::from)?;
        let between_bytes = options
            .between_bytes_timeout
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_nanos(1));
        let mut timeout = tokio::time::interval(between_bytes);
        timeout.reset();
        Ok(response.map(|incoming| ResponseBody {
            incoming,
            timeout,
            giving_back: Some((sender, key, self.idle.clone())),
        }))
    }

    /// An idle connection to `key` that the server has not closed.
    fn take_idle(&self, key: &str) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let senders = idle.get_mut(key)?;
        std::iter::from_fn(|| senders.pop()).find(|sender| !sender.is_closed())
    }

    async fn connect(
        &self,
        address: &str,
        tls: bool,
        options: &RequestOptions,
    ) -> Result<SendRequest<Full<Bytes>>, HttpError> {
        let connect = options.connect_timeout.unwrap_or(Duration::MAX);
        let stream = tokio::time::timeout(connect, TcpStream::connect(address))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Connect)?;
        let _ = stream.set_nodelay(true);
        let handshake = async {
            if tls {
                let name = server_name(address).map_err(|_| HttpError::TlsProtocolError)?;
                let stream = self
                    .tls
                    .connect(name, stream)
                    .await
                    .map_err(HttpError::Tls)?;
                hand_over(stream).await
            } else {
                hand_over(stream).await
            }
        };
        tokio::time::timeout(connect, handshake)
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
    }
}

/// Starts HTTP/1.1 on a connected stream; the connection is driven by a task of its own,
/// which ends when the connection closes (its sender dropped, or the server closing it).
async fn hand_over<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(HttpError::from)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The TLS server name of a `host:port` (an IP address, or a DNS name).
fn server_name(
    address: &str,
) -> Result<rustls::pki_types::ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
    if let Ok(socket) = address.parse::<std::net::SocketAddr>() {
        return Ok(rustls::pki_types::ServerName::from(socket.ip()));
    }
    let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
    Ok(rustls::pki_types::ServerName::try_from(host)?.to_owned())
}

/// A response body that fails when the server pauses longer than the between-bytes
/// timeout, and gives its connection back for reuse once it has been read to the end.
pub(crate) struct ResponseBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
    giving_back: Option<(SendRequest<Full<Bytes>>, String, Idle)>,
}

impl ResponseBody {
    fn give_back(&mut self) {
        let Some((sender, key, idle)) = self.giving_back.take() else {
            return;
        };
        let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
        let senders = idle.entry(key).or_default();
        if senders.len() < MAX_IDLE_PER_ADDRESS {
            senders.push(sender);
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                // Read to the end: the connection may carry the next request.
                self.give_back();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                // A connection whose response failed is never reused.
                self.giving_back = None;
                Poll::Ready(Some(Err(if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                self.giving_back = None;
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::{Connections, server_name};
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use rustls::HandshakeKind;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wasmtime_wasi_http::RequestOptions;

    /// A TLS server on localhost (a certificate from a test CA) that answers one request per
    /// connection and closes it, recording how each handshake went.
    async fn tls_server() -> (u16, Arc<Mutex<Vec<HandshakeKind>>>) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
        let chain = vec![CertificateDer::from_pem_file(format!("{dir}/localhost.pem")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(format!("{dir}/localhost.key")).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let kinds = Arc::new(Mutex::new(Vec::new()));
        let seen = kinds.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    continue;
                };
                let kind = tls.get_ref().1.handshake_kind().unwrap();
                seen.lock().unwrap().push(kind);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        });
        (port, kinds)
    }

    #[tokio::test]
    async fn a_new_connection_resumes_the_tls_session_of_an_earlier_one() {
        let (port, kinds) = tls_server().await;
        let mut roots = rustls::RootCertStore::empty();
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/ca.pem");
        roots
            .add(CertificateDer::from_pem_file(ca).unwrap())
            .unwrap();
        let connections = Connections::with_roots(roots);
        for _ in 0..3 {
            let request = http::Request::post(format!("https://localhost:{port}/"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = connections
                .send(request, RequestOptions::default())
                .await
                .unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
        // The server closed each connection, so each request took a new one: the first
        // with a full handshake, the others resuming its session.
        assert_eq!(
            *kinds.lock().unwrap(),
            [
                HandshakeKind::Full,
                HandshakeKind::Resumed,
                HandshakeKind::Resumed
            ]
        );
    }

    #[test]
    fn server_names_drop_the_port() {
        assert_eq!(
            format!("{:?}", server_name("ram.aliyuncs.com:443").unwrap()),
            format!(
                "{:?}",
                rustls::pki_types::ServerName::try_from("ram.aliyuncs.com").unwrap()
            )
        );
        assert!(matches!(
            server_name("127.0.0.1:8080").unwrap(),
            rustls::pki_types::ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:443").unwrap(),
            rustls::pki_types::ServerName::IpAddress(_)
        ));
    }
}
