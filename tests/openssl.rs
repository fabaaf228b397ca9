//! Derived keys against OpenSSL 3's own PBKDF2 (`openssl kdf`), for both hashes, through the
//! local `run` door of the real binary.

use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

fn run_probe(payload: &Value) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lambda-probe"))
        .args(["run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start lambda-probe");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("run prints JSON")
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
            let r = run_probe(
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
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-probe"))
        .args(["run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"{not json")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errorType"], "InvalidPayload");
    assert!(v["errorMessage"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
}
