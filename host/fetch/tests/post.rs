//! `Net::post_json` against a real HTTP server on 127.0.0.1: the body and headers
//! arrive as sent, the deadline holds, and a proxy is used like for a GET.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use stackpack_fetch::{Net, NetConfig};
use stackpack_net::NetFailure;
use stackpack_testkit::http::{Reply, Server, hanging_server};
use url::Url;

#[test]
fn post_sends_json_body_and_headers() {
    let server =
        Server::start(|req| Reply::status(201, format!("{{\"got\": {}}}", req.body.len())));
    let net = Net::new(NetConfig::default()).unwrap();
    let url = Url::parse(&server.url("/v1/packs/register")).unwrap();
    let body = br#"{"packs":["a"]}"#.to_vec();
    let reply = net
        .post_json(
            &url,
            &[("St2-Api-Key".into(), "k".into())],
            body.clone(),
            1024,
        )
        .unwrap();
    assert_eq!(reply.status, 201);
    assert_eq!(reply.body, b"{\"got\": 15}");
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/packs/register");
    assert_eq!(seen[0].body, body);
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[0].header("st2-api-key"), Some("k"));
}

#[test]
fn post_goes_through_the_proxy() {
    let proxy = Server::start(|_| Reply::ok("{}"));
    let net = Net::new(NetConfig {
        http_proxy: Some(proxy.base.clone()),
        ..NetConfig::default()
    })
    .unwrap();
    let url = Url::parse("http://st2.invalid:9101/v1/packs/register").unwrap();
    net.post_json(&url, &[], b"{}".to_vec(), 1024).unwrap();
    let seen = proxy.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "http://st2.invalid:9101/v1/packs/register");
}

#[test]
fn post_keeps_the_deadline() {
    let base = hanging_server();
    let net = Net::new(NetConfig {
        timeout: Some(Duration::from_secs(1)),
        ..NetConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let e = net
        .post_json(
            &Url::parse(&format!("{base}/x")).unwrap(),
            &[],
            b"{}".to_vec(),
            1024,
        )
        .unwrap_err();
    assert!(matches!(e, NetFailure::Timeout), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
