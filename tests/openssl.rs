//! Derived keys against OpenSSL 3's own PBKDF2 (`openssl kdf`), for both hashes, through the
//! local `run` door of the real binary.

mod common;

use common::{probe_cmd, run_probe, run_probe_cmd, PROBE_LIMIT};
use serde_json::{json, Value};
use std::process::Command;

fn run_ok(payload: &Value) -> Value {
    let r = run_probe(payload, &[]);
    assert!(r.ok, "{payload}: {}\n{}", r.body, r.stderr);
    r.body
}

fn openssl_pbkdf2(digest: &str, pass: &str, salt: &str, iter: u32, keylen: usize) -> String {
    let out = Command::new("openssl")
        .args([
            "kdf",
            "-keylen",
            &keylen.to_string(),
            "-kdfopt",
            &format!("digest:{digest}"),
            "-kdfopt",
            &format!("pass:{pass}"),
            "-kdfopt",
            &format!("salt:{salt}"),
            "-kdfopt",
            &format!("iter:{iter}"),
            "PBKDF2",
        ])
        .output()
        .expect("openssl (OpenSSL 3 CLI) is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_lowercase()
}

#[test]
fn first_key_equals_openssl_for_both_hashes() {
    for (hash, digest) in [("sha256", "SHA256"), ("sha512", "SHA512")] {
        for iterations in [1u32, 2, 4097] {
            let r = run_ok(
                &json!({"workload": "pbkdf2", "hash": hash, "iterations": iterations, "passwords": 1, "threads": [1]}),
            );
            let fk = &r["summary"]["first_key"];
            let expected = openssl_pbkdf2(
                digest,
                fk["password"].as_str().unwrap(),
                fk["salt"].as_str().unwrap(),
                iterations,
                fk["key_bytes"].as_u64().unwrap() as usize,
            );
            assert_eq!(
                fk["hex"].as_str().unwrap(),
                expected,
                "{hash} × {iterations}"
            );
        }
    }
}

#[test]
fn run_prints_the_error_contract_for_bad_payloads() {
    let r = run_probe_cmd(probe_cmd(&[]), b"{not json", PROBE_LIMIT);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let v = r.body;
    assert_eq!(v["errorType"], "InvalidPayload");
    assert!(v["errorMessage"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
}
