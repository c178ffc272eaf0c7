//! Connection handling (issue 11, item 13): a header-read timeout that also closes idle
//! keep-alive connections, and a cap on connections served at once. Raw TCP on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::start;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (EOF or an error such as a reset); `None`
/// when it is still open at `deadline`. Returns what was read.
async fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn stalled_and_idle_connections_are_closed_after_the_header_timeout() {
    let (emu, client, _dir) = start(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let started = Instant::now();

    // 50 connections stuck in the request head: half a request line, or the line and part of
    // the headers.
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(emu.addr).await.unwrap();
        let partial: &[u8] = if i % 2 == 0 {
            b"GET /v2/auth/cha"
        } else {
            b"GET /v2/auth/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
        };
        s.write_all(partial).await.unwrap();
        stalled.push(s);
    }
    // One that sends nothing at all, and one that finishes a request and then idles.
    let mut silent = TcpStream::connect(emu.addr).await.unwrap();
    let mut idle = TcpStream::connect(emu.addr).await.unwrap();
    idle.write_all(b"GET /v2/nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();

    // Normal requests are served meanwhile.
    let (challenge, _) = client.challenge().await;
    assert_eq!(challenge.len(), 36);

    let deadline = started + Duration::from_secs(8);
    for (i, s) in stalled.iter_mut().enumerate() {
        assert!(
            read_until_closed(s, deadline).await.is_some(),
            "stalled connection {i} still open after {:?}",
            started.elapsed()
        );
    }
    assert!(
        read_until_closed(&mut silent, deadline).await.is_some(),
        "silent connection still open"
    );
    let answer = read_until_closed(&mut idle, deadline)
        .await
        .expect("idle keep-alive connection still open");
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // And the server still works (on a new connection: the client's pooled one was idle for
    // longer than the timeout, so the server has closed it).
    let (challenge, _) = ksef_testkit::RawClient::new(&emu.base_url())
        .challenge()
        .await;
    assert_eq!(challenge.len(), 36);
    emu.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let (emu, _client, _dir) = start(|c| {
        c.max_connections = 2;
        c.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    // Two connections take both slots (sending nothing).
    let first = TcpStream::connect(emu.addr).await.unwrap();
    let _second = TcpStream::connect(emu.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A third connects (the kernel queues it) but gets no answer while both slots are taken.
    let mut third = TcpStream::connect(emu.addr).await.unwrap();
    third
        .write_all(b"GET /v2/nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(1000), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "answered over the cap: {:?}",
        early.map(|r| r.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()))
    );

    // Once one closes, the third is served.
    drop(first);
    let answer = read_until_closed(&mut third, Instant::now() + Duration::from_secs(10))
        .await
        .expect("third connection not served after a slot freed");
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    emu.shutdown().await;
}
