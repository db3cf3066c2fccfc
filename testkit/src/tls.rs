//! Stores that require TLS, for tests of the services' TLS to them: a test
//! CA and a server certificate made here (rcgen), a PostgreSQL cluster of its
//! own that accepts TCP connections over TLS alone (set up by
//! `deploy/local/stores.sh`), and [`RedisServer::start_tls`].
//!
//! [`RedisServer::start_tls`]: crate::RedisServer::start_tls

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A private folder of ours under the system's temporary folder.
pub(crate) fn temp_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "totilove-{kind}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

/// A test CA and one server certificate it signed, as PEM files: the
/// certificate names the IP address `127.0.0.1` alone (so `localhost` is a
/// name it does not match). The folder is removed when dropped.
#[derive(Debug)]
pub struct TestCerts {
    dir: PathBuf,
}

impl TestCerts {
    pub fn generate() -> Self {
        let dir = temp_dir("certs");
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Totilove test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let ca = Issuer::new(ca_params, ca_key);

        // A string that parses as an IP address becomes an IP address SAN.
        let mut server_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server parameters");
        server_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let server_key = KeyPair::generate().expect("a server key");
        let server_cert = server_params
            .signed_by(&server_key, &ca)
            .expect("the server certificate");

        let certs = Self { dir };
        std::fs::write(certs.ca_file(), ca_cert.pem()).expect("write the CA");
        std::fs::write(certs.cert_file(), server_cert.pem()).expect("write the certificate");
        std::fs::write(certs.key_file(), server_key.serialize_pem()).expect("write the key");
        certs
    }

    /// The CA certificate (PEM): what clients trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The server's certificate (PEM).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    /// The server's private key (PEM).
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The CA file's path as a string, as settings and URLs take it.
    pub fn ca(&self) -> String {
        self.ca_file().display().to_string()
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of its own (superuser `totilove`, trusted, on
/// 127.0.0.1) that accepts TCP connections over TLS alone: `hostssl` lines
/// and no `host` line in its pg_hba.conf. Stopped and removed when dropped.
#[derive(Debug)]
pub struct TlsPostgres {
    dir: PathBuf,
    port: u16,
}

impl TlsPostgres {
    /// Initialises and starts it with the server certificate of `certs`.
    pub fn start(certs: &TestCerts) -> Self {
        let dir = temp_dir("pg-tls");
        let data = dir.join("data");
        let mut last_error = String::new();
        // The port may be taken again between choosing and binding it.
        for _ in 0..5 {
            let port = crate::redis_server::free_port();
            let started = stores(
                r#"start_postgres "$1" "$2" fast && stop_postgres "$1" &&
                   postgres_require_tls "$1" "$3" "$4" && start_postgres "$1" "$2" fast"#,
                &[
                    data.as_os_str(),
                    port.to_string().as_ref(),
                    certs.cert_file().as_os_str(),
                    certs.key_file().as_os_str(),
                ],
            );
            match started {
                Ok(()) => return Self { dir, port },
                Err(e) => {
                    last_error = e;
                    let _ = stores(r#"stop_postgres "$1""#, &[data.as_os_str()]);
                }
            }
        }
        panic!("could not start a PostgreSQL that requires TLS: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://totilove@127.0.0.1:PORT/DATABASE` followed by `query`
    /// (e.g. `?sslmode=verify-full&sslrootcert=...`).
    pub fn url(&self, database: &str, query: &str) -> String {
        format!(
            "postgres://totilove@127.0.0.1:{}/{database}{query}",
            self.port
        )
    }

    /// The admin URL (database `postgres`), TLS checked against `certs`' CA.
    pub fn admin_url(&self, certs: &TestCerts) -> String {
        self.url("postgres", &verify_full(certs))
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = stores(
            r#"stop_postgres "$1""#,
            &[self.dir.join("data").as_os_str()],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `?sslmode=verify-full&sslrootcert=CA`: TLS, the chain checked against the
/// test CA and the host name against the certificate.
pub fn verify_full(certs: &TestCerts) -> String {
    format!("?sslmode=verify-full&sslrootcert={}", certs.ca())
}

/// Runs `script` in bash with `deploy/local/stores.sh` sourced and `args` as
/// `$1`, `$2`...; its stderr on failure.
fn stores(script: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let stores_sh = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/local/stores.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(". \"$0\"\n{script}"))
        .arg(&stores_sh)
        .args(args)
        .output()
        .map_err(|e| format!("bash runs: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
