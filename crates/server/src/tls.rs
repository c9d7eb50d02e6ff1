//! TLS for RTMPS and RTMPT over TLS: the server certificate and key loaded from PEM files into a
//! rustls configuration (ring crypto provider, TLS 1.2 and 1.3, no client authentication).
//!
//! RTMPS is plain RTMP inside a TLS session (the RTMP specification §1 leaves the transport
//! open; Adobe's RTMPS runs the unchanged handshake and chunk stream over TLS on port 443), so the
//! listener only has to wrap the accepted socket before handing it to the connection driver.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors loading the certificate or key. Each names the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be opened or read.
    #[error("cannot read TLS file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid PEM.
    #[error("TLS file {path} is not valid PEM: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("TLS certificate file {0} holds no PEM CERTIFICATE block")]
    NoCertificate(PathBuf),
    /// The key file holds no PKCS#8, RSA (PKCS#1) or EC (SEC1) private key.
    #[error("TLS key file {0} holds no PEM private key (PKCS#8, RSA or EC)")]
    NoPrivateKey(PathBuf),
    /// rustls refused the certificate/key pair (unsupported key type, key not matching the
    /// certificate, ...).
    #[error("TLS certificate {cert} with key {key} rejected: {source}")]
    Rejected {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        source: rustls::Error,
    },
}

/// Load a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, RSA or EC) into a
/// rustls server configuration using the ring provider explicitly.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = load_certs(cert)?;
    let private_key = load_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let rejected = |source| TlsError::Rejected {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    };
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(rejected)?;
    Ok(Arc::new(config))
}

fn open(path: &Path) -> Result<BufReader<std::fs::File>, TlsError> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
}

fn pem_error(path: &Path) -> impl Fn(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Pem {
        path: path.to_owned(),
        source,
    }
}

/// Every `CERTIFICATE` block of a PEM file, in order.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut reader = open(path)?;
    let certs = rustls_pemfile::certs(&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, RSA or EC) of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut reader = open(path)?;
    rustls_pemfile::private_key(&mut reader)
        .map_err(pem_error(path))?
        .ok_or_else(|| TlsError::NoPrivateKey(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn self_signed() -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (ck.cert.pem(), ck.key_pair.serialize_pem())
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sluice-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn loads_a_self_signed_pair() {
        let d = tmpdir("ok");
        let (c, k) = self_signed();
        let cert = write(&d, "c.pem", &c);
        let key = write(&d, "k.pem", &k);
        let cfg = load_server_config(&cert, &key).unwrap();
        assert!(cfg.alpn_protocols.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn every_error_names_the_file() {
        let d = tmpdir("err");
        let (c, k) = self_signed();
        let cert = write(&d, "c.pem", &c);
        let key = write(&d, "k.pem", &k);
        let missing = d.join("missing.pem");
        let e = load_server_config(&missing, &key).unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"));

        let junk = write(&d, "junk.pem", "hello, not pem\n");
        let e = load_server_config(&junk, &key).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate(_)), "{e}");
        let e = load_server_config(&cert, &junk).unwrap_err();
        assert!(matches!(e, TlsError::NoPrivateKey(_)), "{e}");
        // A key file given as the certificate: no CERTIFICATE block either.
        let e = load_server_config(&key, &key).unwrap_err();
        assert!(matches!(e, TlsError::NoCertificate(_)), "{e}");

        let bad = write(
            &d,
            "bad.pem",
            "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n",
        );
        let e = load_server_config(&bad, &key).unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }), "{e}");
        assert!(e.to_string().contains("bad.pem"));

        // A key that does not belong to the certificate.
        let (_, other_key) = self_signed();
        let other = write(&d, "other.pem", &other_key);
        let e = load_server_config(&cert, &other).unwrap_err();
        assert!(matches!(e, TlsError::Rejected { .. }), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
