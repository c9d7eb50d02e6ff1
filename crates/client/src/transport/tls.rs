//! TLS for `rtmps://` and `rtmpts://` (RTMP, or the RTMPT tunnel, inside TLS; rustls with the
//! ring provider).
//!
//! Which servers are trusted is a [`TlsConfig`], built once and shared by every connection:
//! - [`TlsConfig::default`] / [`TlsConfig::webpki_roots`]: the Mozilla root programme's CAs
//!   (the `webpki-roots` bundle), so results do not depend on the machine's certificate store;
//! - [`TlsConfig::from_ca_file`]: only the certificates of one PEM file (a private CA, or a
//!   self-signed server certificate), as curl's `--cacert` and ffmpeg's `ca_file` do. A server
//!   certificate that is byte for byte one of the file's certificates is also accepted when
//!   path validation rejects it only for its form (`openssl req -x509` marks self-signed
//!   certificates as CAs, which webpki refuses as end entities), provided it names the server
//!   and is not expired;
//! - [`TlsConfig::insecure`]: no certificate check at all. **Unsafe**: anyone on the path can
//!   impersonate the server and read or change the stream. For tests and for servers whose
//!   certificate cannot be obtained; the handshake signatures are still checked, so the
//!   session is encrypted, just not authenticated.
//!
//! The server name sent (SNI) and checked is the URL's host; an IP address host is checked
//! against the certificate's IP address entries and sends no SNI (RFC 6066 §3 allows only DNS
//! names there).

use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{
    ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// Why a [`TlsConfig`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The CA file cannot be read.
    #[error("cannot read CA file {path}: {error}")]
    ReadCaFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The CA file holds no PEM `CERTIFICATE` block.
    #[error("CA file {path} holds no PEM certificate")]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A certificate in the CA file cannot be used as a trust anchor.
    #[error("CA file {path}: certificate {index} is not usable: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// 1-based position of the certificate in the file.
        index: usize,
        /// What rustls said.
        reason: String,
    },
    /// The ring provider refused the default protocol versions (cannot happen with the
    /// versions this build enables; kept so it is reported, not a panic).
    #[error("TLS configuration rejected: {0}")]
    Config(String),
}

/// How servers are authenticated over TLS; cheap to clone (the rustls configuration is shared).
#[derive(Clone, Default)]
pub struct TlsConfig {
    inner: Option<Arc<ClientConfig>>,
    mode: TlsMode,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum TlsMode {
    #[default]
    WebpkiRoots,
    CaFile(PathBuf),
    Insecure,
    Custom,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsConfig").field(&self.mode).finish()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, TlsSetupError> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))
}

fn with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsSetupError> {
    Ok(Arc::new(
        builder()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

impl TlsConfig {
    /// Trust the CAs of the Mozilla root programme (the default).
    pub fn webpki_roots() -> TlsConfig {
        TlsConfig::default()
    }

    /// Trust only the certificates in the PEM file `path` (CA certificates, or the server's own
    /// self-signed certificate).
    pub fn from_ca_file(path: &Path) -> Result<TlsConfig, TlsSetupError> {
        let file = std::fs::File::open(path).map_err(|error| TlsSetupError::ReadCaFile {
            path: path.to_owned(),
            error,
        })?;
        let mut roots = RootCertStore::empty();
        let mut pinned = Vec::new();
        for (i, cert) in rustls_pemfile::certs(&mut BufReader::new(file)).enumerate() {
            let cert = cert.map_err(|error| TlsSetupError::ReadCaFile {
                path: path.to_owned(),
                error,
            })?;
            roots
                .add(cert.clone())
                .map_err(|e| TlsSetupError::BadCertificate {
                    path: path.to_owned(),
                    index: i + 1,
                    reason: e.to_string(),
                })?;
            pinned.push(cert);
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoCertificates {
                path: path.to_owned(),
            });
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsSetupError::Config(e.to_string()))?;
        let verifier = Arc::new(PinningVerifier { inner, pinned });
        let config = builder()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsConfig {
            inner: Some(Arc::new(config)),
            mode: TlsMode::CaFile(path.to_owned()),
        })
    }

    /// Accept any server certificate. **Unsafe**: see the [module docs](self).
    pub fn insecure() -> TlsConfig {
        let verifier = Arc::new(AcceptAnyCertificate(provider()));
        let inner = builder().map(|b| {
            Arc::new(
                b.dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth(),
            )
        });
        TlsConfig {
            // The builder cannot fail for the default versions; fall back to the (safe)
            // default roots if it ever did rather than panic.
            inner: inner.ok(),
            mode: TlsMode::Insecure,
        }
    }

    /// Use a rustls configuration built elsewhere (client certificates, ALPN, other roots).
    pub fn from_rustls(config: Arc<ClientConfig>) -> TlsConfig {
        TlsConfig {
            inner: Some(config),
            mode: TlsMode::Custom,
        }
    }

    /// Whether certificates are not verified ([`TlsConfig::insecure`]).
    pub fn is_insecure(&self) -> bool {
        self.mode == TlsMode::Insecure
    }

    /// The rustls configuration to connect with.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsSetupError> {
        if let Some(c) = &self.inner {
            return Ok(c.clone());
        }
        // The webpki roots are parsed once per process.
        static DEFAULT: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                let roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                with_roots(roots).map_err(|e| e.to_string())
            })
            .clone()
            .map_err(TlsSetupError::Config)
    }
}

/// The TLS server name for a URL host (DNS name or IP address).
pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// [`TlsConfig::from_ca_file`]'s verifier: webpki path validation against the file's
/// certificates, plus the exact-match exception described in the [module docs](self).
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let err = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        // Errors about the certificate's content stand even for a pinned certificate.
        let content_error = matches!(
            &err,
            rustls::Error::InvalidCertificate(
                CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. }
                    | CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. }
                    | CertificateError::Revoked
                    | CertificateError::BadEncoding
                    | CertificateError::BadSignature
            )
        );
        let is_pinned = self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref());
        if content_error || !is_pinned {
            return Err(err);
        }
        let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| err.clone())?;
        cert.verify_is_valid_for_subject_name(server_name)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::NotValidForName))?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// [`TlsConfig::insecure`]'s verifier: every certificate passes; handshake signatures are
/// still verified with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors() {
        let dir = std::env::temp_dir().join(format!("sluice-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = TlsConfig::from_ca_file(&missing).unwrap_err();
        assert!(matches!(e, TlsSetupError::ReadCaFile { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = TlsConfig::from_ca_file(&junk).unwrap_err();
        assert!(matches!(e, TlsSetupError::NoCertificates { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("CA file {} holds no PEM certificate", junk.display())
        );

        // A PEM block whose DER is garbage.
        let bad = dir.join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = TlsConfig::from_ca_file(&bad).unwrap_err();
        assert!(
            matches!(e, TlsSetupError::BadCertificate { index: 1, .. }),
            "{e}"
        );

        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let good = dir.join("good.pem");
        std::fs::write(&good, ck.cert.pem()).unwrap();
        let c = TlsConfig::from_ca_file(&good).unwrap();
        assert!(!c.is_insecure());
        assert!(c.client_config().is_ok());
        assert!(format!("{c:?}").contains("CaFile"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn modes() {
        let d = TlsConfig::default();
        assert!(!d.is_insecure());
        let a = d.client_config().unwrap();
        let b = TlsConfig::webpki_roots().client_config().unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the default roots are built once");
        let i = TlsConfig::insecure();
        assert!(i.is_insecure());
        assert!(i.client_config().is_ok());
        let c = TlsConfig::from_rustls(a);
        assert!(format!("{c:?}").contains("Custom"));
        assert_eq!(
            TlsSetupError::Config("x".into()).to_string(),
            "TLS configuration rejected: x"
        );
    }

    #[test]
    fn server_names() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Some(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("example.com"),
            Some(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name!").is_none());
    }
}
