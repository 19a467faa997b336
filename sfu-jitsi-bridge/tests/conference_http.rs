//! The conference service process over HTTP(S) and its WebSocket's limits: sign-in with a
//! wallet, refresh, the Stripe webhook, room creation and its rate limit, the join page's
//! headers, TLS with an rcgen certificate, the refusal of plain HTTP off loopback, per-IP
//! WebSocket limits, message rate limits and the heartbeat. Each test starts its own
//! `phantomcall-conference` on loopback.

mod conf_support;
mod sfu_support;

use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use sfu_jitsi_bridge::sfu::RoomId;
use tokio_tungstenite::tungstenite::{self, Message};

use conf_support::{Options, Service, Wallet};

#[tokio::test]
async fn sign_in_over_http_gives_a_session_that_creates_a_room_with_its_invite_links() {
    let service = Service::start(Options::default());
    let wallet = Wallet::new(11);
    let session = service.sign_in(&wallet).await;
    assert_eq!(session["tier"], "free");
    assert_eq!(session["token_type"], "Bearer");
    let token = session["access_token"].as_str().unwrap();

    let created = service.create_room(token).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let room = created.json();
    let id = room["room"].as_str().unwrap();
    assert!(RoomId::parse(id).is_ok());
    // Plain HTTP is loopback-only, so the web link says http here (https with TLS).
    assert_eq!(
        room["invite_url"],
        format!("http://meet.phantomcall.test/join/{id}")
    );
    assert_eq!(
        room["app_url"],
        format!("phantomcall://join/meet.phantomcall.test/{id}")
    );
    assert_eq!(room["max_participants"], 2);

    // Refresh rotates; the used token is refused afterwards.
    let refresh = session["refresh_token"].as_str().unwrap();
    let body = json!({ "refresh_token": refresh });
    let renewed = service.post_json("/v1/auth/refresh", None, &body).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text());
    assert_ne!(renewed.json()["refresh_token"], session["refresh_token"]);
    let reused = service.post_json("/v1/auth/refresh", None, &body).await;
    assert_eq!(reused.status, 401);

    // No token, a forged one, a malformed body: clear refusals.
    assert_eq!(service.create_room("not-a-token").await.status, 401);
    let bad = service
        .request("POST", "/v1/auth/sign-in", &[], b"{\"message\":1}")
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "bad_request");

    // The logs name the wallet only in its short form, and no address at all.
    let log = service.log();
    assert!(log.contains("signed in"), "{log}");
    assert!(!log.contains(&wallet.address), "{log}");
    assert!(!log.contains("127.0.0.1"), "{log}");
}

#[tokio::test]
async fn oversized_chunked_and_malformed_requests_are_refused_with_clear_statuses() {
    let service = Service::start(Options {
        limits: "max_body_bytes = 1024\n".into(),
        ..Options::default()
    });
    let big = vec![b'a'; 2048];
    let refused = service.request("POST", "/v1/auth/refresh", &[], &big).await;
    assert_eq!(refused.status, 413);
    // Stripe's deliveries have a larger limit: this one is read, and refused for its signature.
    let webhook = service
        .request(
            "POST",
            "/v1/stripe/webhook",
            &[("Stripe-Signature", "t=1,v1=00")],
            &big,
        )
        .await;
    assert_eq!(webhook.status, 400);
    assert_eq!(webhook.json()["error"], "webhook_refused");
    // A chunked body is never parsed.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .unwrap();
    let raw =
        b"POST /v1/auth/refresh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert!(raw_exchange(tcp, raw).await.starts_with(b"HTTP/1.1 411 "));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .unwrap();
    assert!(raw_exchange(tcp, b"GARBAGE\x00\r\n\r\n")
        .await
        .starts_with(b"HTTP/1.1 400 "));
    let wrong = service.request("GET", "/v1/rooms", &[], b"").await;
    assert_eq!(wrong.status, 405);
    assert_eq!(
        service.request("GET", "/nothing", &[], b"").await.status,
        404
    );
    // The service is still up.
    assert_eq!(
        service.request("GET", "/healthz", &[], b"").await.text(),
        "ok"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_until_one_ends() {
    let service = Service::start(Options {
        limits: "max_connections = 3\n".into(),
        ..Options::default()
    });
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", service.port))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .unwrap();
    assert!(raw_exchange(tcp, b"GET /healthz HTTP/1.1\r\n\r\n")
        .await
        .is_empty());
    idle.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        service.request("GET", "/healthz", &[], b"").await.text(),
        "ok"
    );
}

#[tokio::test]
async fn room_creation_is_rate_limited_to_ten_per_minute_per_wallet() {
    let service = Service::start(Options::default());
    let alice = service.sign_in(&Wallet::new(12)).await;
    let bob = service.sign_in(&Wallet::new(13)).await;
    let alice = alice["access_token"].as_str().unwrap();
    for _ in 0..10 {
        assert_eq!(service.create_room(alice).await.status, 201);
    }
    let refused = service.create_room(alice).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["error"], "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=61).contains(&retry), "{retry}");
    // Another wallet is not affected.
    let bob = bob["access_token"].as_str().unwrap();
    assert_eq!(service.create_room(bob).await.status, 201);
}

#[tokio::test]
async fn the_join_page_opens_the_app_link_with_strict_security_headers() {
    let service = Service::start(Options::default());
    let id = RoomId::random().as_uuid().to_string();
    let page = service
        .request("GET", &format!("/join/{id}"), &[], b"")
        .await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let html = page.text();
    let link = format!("phantomcall://join/meet.phantomcall.test/{id}");
    assert!(html.contains(&format!("url={link}")), "{html}");
    assert!(html.contains(&format!("<code>{link}</code>")), "{html}");
    assert!(!html.contains("<script"), "{html}");
    // Not a UUIDv4: not found (a time-based UUID, garbage, a path trick).
    for bad in [
        "c232ab00-9414-11ec-b3c8-9f6bdeced846",
        "nope",
        "..%2f..%2fetc",
    ] {
        let page = service
            .request("GET", &format!("/join/{bad}"), &[], b"")
            .await;
        assert_eq!(page.status, 404, "{bad}");
        assert!(page.header("content-security-policy").is_some());
    }
}

#[tokio::test]
async fn plain_http_on_a_non_loopback_address_is_refused_at_start() {
    let options = Options {
        listen: "0.0.0.0:0".into(),
        ..Options::default()
    };
    let (dir, mut child, _) = Service::spawn(&options);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service started on 0.0.0.0 without TLS");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        stderr.contains("refusing to serve plain HTTP on a non-loopback address"),
        "{stderr}"
    );
}

#[tokio::test]
async fn https_with_an_rcgen_certificate_serves_sign_in_rooms_and_the_websocket() {
    let service = Service::start(Options {
        tls: true,
        ..Options::default()
    });
    let session = service.sign_in(&Wallet::new(14)).await;
    let token = session["access_token"].as_str().unwrap();
    let room = service.create_room(token).await.json();
    let id = room["room"].as_str().unwrap();
    assert_eq!(
        room["invite_url"],
        format!("https://meet.phantomcall.test/join/{id}")
    );
    let page = service
        .request("GET", &format!("/join/{id}"), &[], b"")
        .await;
    assert!(page.header("strict-transport-security").is_some());

    // The WebSocket over the same TLS port.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .unwrap();
    let der = service.cert_der.as_ref().unwrap();
    let tls = conf_support::tls_connector(der)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/v1/signal", tls)
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({"v": 1, "type": "lock"}).to_string().into(),
    ))
    .await
    .unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["code"], "not_joined", "{reply}");

    // A plain-text client on the TLS port gets no HTTP answer.
    let plain = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .unwrap();
    assert!(plain_get(plain).await.is_empty());
}

#[tokio::test]
async fn the_stripe_webhook_sets_the_plan_the_next_session_carries() {
    let service = Service::start(Options::default());
    let wallet = Wallet::new(15);
    assert_eq!(service.sign_in(&wallet).await["tier"], "free");
    service.buy_pro(&wallet, "evt_conf_pro_0001").await;
    assert_eq!(service.sign_in(&wallet).await["tier"], "pro");
    let refused = service
        .request(
            "POST",
            "/v1/stripe/webhook",
            &[("Stripe-Signature", "t=1,v1=00")],
            b"{}",
        )
        .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn websockets_are_limited_per_ip_and_messages_per_second_per_connection() {
    let service = Service::start(Options {
        limits: "websockets_per_ip = 2\nmessages_per_second = 5\n".into(),
        ..Options::default()
    });
    let (mut first, _) = tokio_tungstenite::connect_async(service.ws_url())
        .await
        .unwrap();
    let (mut second, _) = tokio_tungstenite::connect_async(service.ws_url())
        .await
        .unwrap();
    match tokio_tungstenite::connect_async(service.ws_url()).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a third connection from one address was accepted: {other:?}"),
    }

    // 30 messages at once: the burst (10) is answered, the rest refused as rate-limited.
    for _ in 0..30 {
        let lock = json!({"v": 1, "type": "lock"}).to_string();
        first.send(Message::Text(lock.into())).await.unwrap();
    }
    let mut codes = Vec::new();
    for _ in 0..30 {
        codes.push(
            next_json(&mut first).await["code"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let limited = codes.iter().filter(|c| *c == "rate_limited").count();
    let answered = codes.iter().filter(|c| *c == "not_joined").count();
    assert!((10..=20).contains(&limited), "{codes:?}");
    assert_eq!(limited + answered, 30);

    // Malformed input is an error reply, not a dropped connection.
    tokio::time::sleep(Duration::from_secs(1)).await;
    first
        .send(Message::Text("{\"v\":1,\"type\":\"join\"".into()))
        .await
        .unwrap();
    let reply = next_json(&mut first).await;
    assert_eq!(reply["code"], "bad_request", "{reply}");

    // A client that keeps going past the limit (binary frames count too) is disconnected.
    for _ in 0..100 {
        if second
            .send(Message::Binary(vec![0u8; 8].into()))
            .await
            .is_err()
        {
            break;
        }
    }
    assert!(closes_within(&mut second, Duration::from_secs(5)).await);

    // A message over 256 KiB ends the connection.
    let huge = format!(
        "{{\"v\":1,\"type\":\"answer\",\"sdp\":\"v=0{}\"}}",
        "a".repeat(300 * 1024)
    );
    let _ = first.send(Message::Text(huge.into())).await;
    assert!(closes_within(&mut first, Duration::from_secs(5)).await);
}

/// Whether the service closes the connection within `limit` (messages before are skipped).
async fn closes_within<S>(ws: &mut S, limit: Duration) -> bool
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let closed = tokio::time::timeout(limit, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    });
    closed.await.is_ok()
}

#[tokio::test]
async fn an_unresponsive_websocket_is_closed_after_the_heartbeat_timeout() {
    let service = Service::start(Options {
        limits: "ping_interval_secs = 1\nidle_timeout_secs = 2\n".into(),
        ..Options::default()
    });
    let (mut silent, _) = tokio_tungstenite::connect_async(service.ws_url())
        .await
        .unwrap();
    let (mut alive, _) = tokio_tungstenite::connect_async(service.ws_url())
        .await
        .unwrap();
    // `alive` reads all along, so tungstenite answers each ping; `silent` reads nothing.
    let alive_task = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(200), alive.next()).await {
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => return false,
                _ => {}
            }
        }
        true
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match silent.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert_eq!(closed, Ok(true), "the silent connection stayed open");
    assert!(
        alive_task.await.unwrap(),
        "a responsive connection was closed"
    );
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// Writes `raw` and returns everything read until the service closes the connection.
async fn raw_exchange(mut tcp: tokio::net::TcpStream, raw: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // A connection closed at once may refuse the write: the empty reply says it.
    let _ = tcp.write_all(raw).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    out
}

/// Sends a plain-text GET and returns whatever comes back before the connection closes.
async fn plain_get(mut tcp: tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let _ = tcp
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    // A TLS alert may come back; an HTTP response must not.
    if out.starts_with(b"HTTP/") {
        out
    } else {
        Vec::new()
    }
}

#[tokio::test]
async fn the_embedded_sfu_is_ready_and_its_metrics_are_counts_only() {
    let service = Service::start(Options::default());
    let ready = service.request("GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.text(), "ready");
    let wallet = Wallet::new(12);
    let session = service.sign_in(&wallet).await;
    let token = session["access_token"].as_str().unwrap();
    let room = service.create_room(token).await.json();
    let metrics = service.request("GET", "/metrics", &[], b"").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    let text = metrics.text();
    for line in [
        "phantomcall_conference_rooms 1",
        "phantomcall_media_participants 0",
        "phantomcall_media_servers_up 1",
        "phantomcall_media_backend_info{backend=\"embedded\"} 1",
        "# TYPE phantomcall_media_forwarded_bytes_total counter",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains(room["room"].as_str().unwrap()));
    assert!(!text.contains(&wallet.address));
}
