//! The signaling WebSocket to the conference service: `ws://` on loopback, `wss://`
//! (rustls on ring, the web's root certificates, or roots the caller adds) elsewhere.

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::link::ConferenceLink;
use super::wire::MAX_MESSAGE_BYTES;

/// A byte stream a WebSocket runs over (TCP, or TLS over TCP).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Stream>>;

/// Why the service could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach the conference service: {0}")]
    Network(std::io::Error),
    #[error("the conference service's TLS certificate is not valid for its name")]
    Tls,
    #[error("the conference service refused the WebSocket: {0}")]
    Handshake(String),
}

/// Opens the signaling socket for `link`; `extra_roots` are trusted besides the web's roots
/// (a self-hosted service with its own CA, tests).
pub(crate) async fn connect(
    link: &ConferenceLink,
    extra_roots: &[Vec<u8>],
) -> Result<Socket, ConnectError> {
    let tcp = TcpStream::connect(&link.host)
        .await
        .map_err(ConnectError::Network)?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if link.tls {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra_roots {
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .map_err(|_| ConnectError::Tls)?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|_| ConnectError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(link.host_name().to_owned())
            .map_err(|_| ConnectError::Tls)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|_| ConnectError::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (socket, _) =
        tokio_tungstenite::client_async_with_config(link.signal_url(), stream, Some(config))
            .await
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
    Ok(socket)
}

/// Sends one text message.
pub(crate) async fn send(socket: &mut Socket, text: String) -> Result<(), ()> {
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| ())
}

/// What arrived on the socket.
pub(crate) enum Frame {
    Text(String),
    /// A ping, a pong or another frame: the connection is alive.
    Other,
    /// Closed, or failed.
    Closed,
}

/// The next frame. Cancel-safe (a frame is never lost when another branch of a `select!`
/// wins).
pub(crate) async fn next_frame(socket: &mut Socket) -> Frame {
    match socket.next().await {
        Some(Ok(Message::Text(text))) => Frame::Text(text.to_string()),
        Some(Ok(Message::Close(_)) | Err(_)) | None => Frame::Closed,
        // tungstenite answers pings itself.
        Some(Ok(_)) => Frame::Other,
    }
}

/// The next text message; `None` once the socket is closed.
pub(crate) async fn next_text(socket: &mut Socket) -> Option<String> {
    loop {
        match next_frame(socket).await {
            Frame::Text(text) => return Some(text),
            Frame::Closed => return None,
            Frame::Other => continue,
        }
    }
}

/// Sends a ping: the service's WebSocket answers with a pong, which shows the connection
/// is alive even when the room is quiet.
pub(crate) async fn ping(socket: &mut Socket) -> Result<(), ()> {
    socket
        .send(Message::Ping(Vec::new().into()))
        .await
        .map_err(|_| ())
}
