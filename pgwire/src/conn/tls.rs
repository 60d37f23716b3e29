//! TLS with rustls (feature `tls`): the client configuration for each `sslmode`, the
//! SSLRequest exchange and direct TLS, and the `tls-server-end-point` channel binding data.
//!
//! | sslmode | chain checked | host name checked |
//! |---|---|---|
//! | `allow`, `prefer` | no | no |
//! | `require` | only when a root certificate file is given (`sslrootcert`, or `~/.postgresql/root.crt` exists), as in libpq | no |
//! | `verify-ca` | yes | no |
//! | `verify-full` | yes | yes |
//!
//! Even when the certificate is not checked, the handshake signatures are: the server proves
//! it holds the certificate's key, so SCRAM channel binding still detects a man in the middle.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{Config, SslMode, SslNegotiation};
use crate::error::{Error, Result};

/// The ALPN protocol name PostgreSQL 17+ uses (and requires with direct TLS).
const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// The SSLRequest message: length 8, code 1234/5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Everything needed to start TLS to one server: kept by the connection so that a
/// CancelRequest goes over TLS too.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    connector: TlsConnector,
    server_name: ServerName<'static>,
    direct: bool,
    /// Whether a server that answers the SSLRequest with 'N' is refused (require and stronger).
    pub(crate) required: bool,
    /// The sslmode, for messages.
    mode: SslMode,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .field("direct", &self.direct)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

/// What a TLS attempt gave: the encrypted stream, or the plain socket of a server that said
/// 'N' (only when TLS was not required).
pub(crate) enum Negotiated {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

fn tls_error(message: impl Into<String>) -> Error {
    Error::Tls(message.into())
}

/// A TLS setting that cannot work (a missing or unreadable file, ...): a configuration error,
/// so that `sslmode=prefer` does not quietly fall back to no TLS because of it.
fn config_error(message: impl Into<String>) -> Error {
    Error::Config(crate::config::ConfigError::new(message))
}

impl TlsSetup {
    /// The TLS settings for `host` under `config`'s sslmode (which must not be `disable`).
    pub(crate) fn new(config: &Config, host: &str) -> Result<TlsSetup> {
        let mode = config.get_ssl_mode();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("setting up TLS: {e}")))?;

        let root_file = config
            .get_ssl_root_cert()
            .map(Path::to_path_buf)
            .or_else(|| default_file("root.crt"));
        let system = config
            .get_ssl_root_cert()
            .is_some_and(|p| p == Path::new("system"));
        if system && mode != SslMode::VerifyFull {
            // libpq 16+: the system's roots sign certificates for anyone's host names, so only
            // a host name check makes them meaningful.
            return Err(Error::Config(crate::config::ConfigError::new(format!(
                "sslrootcert=system needs sslmode=verify-full (sslmode is {})",
                mode.name()
            ))));
        }
        let verify_chain = match mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            // libpq: with a root certificate at hand, require checks the chain like verify-ca.
            SslMode::Require => root_file.as_deref().is_some_and(Path::exists),
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => false,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
            let roots = if system {
                system_roots()?
            } else {
                match &root_file {
                    Some(path) if path.exists() => load_roots(path)?,
                    Some(path) => {
                        return Err(config_error(format!(
                            "sslmode={} needs the trusted root certificates, but {} does not exist: \
                             set sslrootcert to the CA file (or sslrootcert=system)",
                            mode.name(),
                            path.display()
                        )));
                    }
                    None => {
                        return Err(config_error(format!(
                            "sslmode={} needs the trusted root certificates: set sslrootcert \
                             to the CA file (or sslrootcert=system)",
                            mode.name()
                        )));
                    }
                }
            };
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| tls_error(format!("setting up certificate verification: {e}")))?;
            Arc::new(ChainVerifier {
                inner,
                check_name: mode == SslMode::VerifyFull,
            })
        } else {
            Arc::new(NoCertificateCheck { provider })
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);

        let (cert, key) = match (config.get_ssl_cert(), config.get_ssl_key()) {
            (Some(c), Some(k)) => (Some(c.to_path_buf()), Some(k.to_path_buf())),
            (Some(_), None) | (None, Some(_)) => {
                return Err(config_error(
                    "sslcert and sslkey must be given together (the client certificate and its key)",
                ));
            }
            // libpq's defaults, used only when both files exist.
            (None, None) => match (
                default_file("postgresql.crt"),
                default_file("postgresql.key"),
            ) {
                (Some(c), Some(k)) if c.exists() && k.exists() => (Some(c), Some(k)),
                _ => (None, None),
            },
        };
        let mut tls = match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain = load_certs(&cert, "sslcert")?;
                let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                    config_error(format!(
                        "reading the client key sslkey={}: {e} (an unencrypted PEM key is \
                         needed: PKCS#8, PKCS#1 or SEC1)",
                        key.display()
                    ))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_error(format!("the client certificate and key: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        tls.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];

        let server_name = match ServerName::try_from(host.to_owned()) {
            Ok(name) => name,
            Err(_) if mode != SslMode::VerifyFull => {
                // Only SNI uses it then; an address says "no SNI".
                ServerName::IpAddress(std::net::IpAddr::from([0, 0, 0, 0]).into())
            }
            Err(e) => {
                return Err(config_error(format!(
                    "the host name {host:?} cannot be checked against a certificate: {e}"
                )));
            }
        };
        Ok(TlsSetup {
            connector: TlsConnector::from(Arc::new(tls)),
            server_name,
            direct: config.get_ssl_negotiation() == SslNegotiation::Direct,
            required: matches!(
                mode,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            ),
            mode,
        })
    }

    /// Starts TLS on a new socket: direct, or after an SSLRequest. `endpoint` names the server
    /// in errors.
    pub(crate) async fn negotiate(&self, mut tcp: TcpStream, endpoint: &str) -> Result<Negotiated> {
        if !self.direct {
            tcp.write_all(&SSL_REQUEST)
                .await
                .map_err(|e| Error::io(format!("sending SSLRequest to {endpoint}"), e))?;
            // Read what is there, not just one byte: anything after 'S' is an attack.
            let mut reply = [0u8; 64];
            let n = tcp.read(&mut reply).await.map_err(|e| {
                Error::io(format!("reading the SSLRequest reply from {endpoint}"), e)
            })?;
            match reply[..n] {
                [] => {
                    return Err(Error::Closed(format!(
                        "the server at {endpoint} closed the connection in answer to SSLRequest"
                    )));
                }
                [b'S'] => {}
                [b'S', ..] => {
                    // CVE-2021-23222: a man in the middle can queue plaintext "replies" before
                    // the handshake, which a client would later read as if they were encrypted.
                    return Err(tls_error(format!(
                        "the server at {endpoint} sent {} unexpected bytes after accepting TLS \
                         and before the handshake: refused (possible man-in-the-middle, \
                         CVE-2021-23222)",
                        n - 1
                    )));
                }
                [b'N', ..] if n > 1 => {
                    return Err(tls_error(format!(
                        "the server at {endpoint} sent {} unexpected bytes after refusing TLS",
                        n - 1
                    )));
                }
                [b'N'] if self.required => {
                    return Err(tls_error(format!(
                        "the server at {endpoint} does not support TLS, but sslmode={} requires it",
                        self.mode.name()
                    )));
                }
                [b'N'] => return Ok(Negotiated::Plain(tcp)),
                [b'E', ..] => {
                    return Err(tls_error(format!(
                        "the server at {endpoint} answered SSLRequest with an error (a server \
                         older than protocol 3?)"
                    )));
                }
                [other, ..] => {
                    return Err(Error::Protocol(crate::proto::ProtocolError::new(format!(
                        "unexpected reply {:?} to SSLRequest from {endpoint} (expected 'S' or 'N')",
                        char::from(other)
                    ))));
                }
            }
        }
        let stream = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| tls_error(format!("TLS handshake with {endpoint}: {e}")))?;
        if self.direct && stream.get_ref().1.alpn_protocol() != Some(ALPN_POSTGRESQL) {
            return Err(tls_error(format!(
                "the server at {endpoint} did not agree to ALPN \"postgresql\" in direct TLS"
            )));
        }
        Ok(Negotiated::Tls(Box::new(stream)))
    }
}

/// `~/.postgresql/<name>`, libpq's default location for the TLS files.
fn default_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".postgresql").join(name))
}

fn load_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| config_error(format!("reading {what}={}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config_error(format!(
            "{what}={} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path, "sslrootcert")? {
        roots.add(cert).map_err(|e| {
            config_error(format!(
                "a certificate in sslrootcert={} is not usable as a root: {e}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// The roots `sslrootcert=system` means: the operating system's store (feature
/// `tls-native-roots`), else Mozilla's list (feature `tls-webpki-roots`).
fn system_roots() -> Result<RootCertStore> {
    #[cfg(feature = "tls-native-roots")]
    {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added > 0 {
            return Ok(roots);
        }
    }
    #[cfg(feature = "tls-webpki-roots")]
    {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        return Ok(roots);
    }
    #[allow(unreachable_code)]
    Err(config_error(
        "sslrootcert=system needs the system's root certificates: build with the feature \
         tls-native-roots or tls-webpki-roots, or set sslrootcert to a CA file",
    ))
}

/// verify-ca and verify-full: the chain must lead to a trusted root; the host name is checked
/// only for verify-full.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // The chain is checked before the name: a name error means the chain was good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// prefer, allow, and require without a root file: any certificate is accepted, but the
/// handshake signatures are still checked against it.
#[derive(Debug)]
struct NoCertificateCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The `tls-server-end-point` channel binding data (RFC 5929) of the server certificate:
/// its hash with the hash function of its signature algorithm, SHA-256 for MD5 and SHA-1.
/// `None` when that cannot be determined (e.g. Ed25519, which has no separate hash); the
/// server cannot bind such a certificate either.
pub(crate) fn server_end_point(stream: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    let cert = stream.get_ref().1.peer_certificates()?.first()?;
    end_point_hash(cert.as_ref())
}

/// The hash of a DER certificate for `tls-server-end-point`.
pub(crate) fn end_point_hash(der: &[u8]) -> Option<Vec<u8>> {
    Some(match signature_hash(der)? {
        Hash::Sha224 => sha2::Sha224::digest(der).to_vec(),
        Hash::Sha256 => sha2::Sha256::digest(der).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(der).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(der).to_vec(),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Hash {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;

/// The hash function of the certificate's `signatureAlgorithm`, mapped as PostgreSQL maps it.
fn signature_hash(cert: &[u8]) -> Option<Hash> {
    let (SEQUENCE, body, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, _tbs, rest) = der(body)? else {
        return None;
    };
    let (SEQUENCE, alg, _) = der(rest)? else {
        return None;
    };
    let (OID, oid, params) = der(alg)? else {
        return None;
    };
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    if let Some(rest) = oid.strip_prefix(RSA) {
        return match rest {
            [4] | [5] | [11] => Some(Hash::Sha256), // md5, sha1, sha256 WithRSA
            [14] => Some(Hash::Sha224),
            [12] => Some(Hash::Sha384),
            [13] => Some(Hash::Sha512),
            [10] => pss_hash(params), // RSASSA-PSS: the hash is in the parameters
            _ => None,
        };
    }
    if oid == ECDSA_SHA1 {
        return Some(Hash::Sha256);
    }
    match oid.strip_prefix(ECDSA_SHA2)? {
        [1] => Some(Hash::Sha224),
        [2] => Some(Hash::Sha256),
        [3] => Some(Hash::Sha384),
        [4] => Some(Hash::Sha512),
        _ => None,
    }
}

/// RSASSA-PSS-params: `[0] hashAlgorithm` (default SHA-1, which maps to SHA-256).
fn pss_hash(params: &[u8]) -> Option<Hash> {
    let (SEQUENCE, fields, _) = der(params)? else {
        return None;
    };
    let Some((0xa0, hash_alg, _)) = der(fields) else {
        return Some(Hash::Sha256);
    };
    let (SEQUENCE, alg, _) = der(hash_alg)? else {
        return None;
    };
    let (OID, oid, _) = der(alg)? else {
        return None;
    };
    const SHA2: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
    const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    if oid == SHA1 {
        return Some(Hash::Sha256);
    }
    match oid.strip_prefix(SHA2)? {
        [1] => Some(Hash::Sha256),
        [2] => Some(Hash::Sha384),
        [3] => Some(Hash::Sha512),
        [4] => Some(Hash::Sha224),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal certificate shape: SEQUENCE { tbs, AlgorithmIdentifier { oid, params } }.
    fn cert_with(oid: &[u8], params: &[u8]) -> Vec<u8> {
        let mut alg = vec![OID, oid.len() as u8];
        alg.extend_from_slice(oid);
        alg.extend_from_slice(params);
        let mut body = vec![SEQUENCE, 2, 0x02, 0x00];
        body.push(SEQUENCE);
        body.push(alg.len() as u8);
        body.extend(alg);
        let mut cert = vec![SEQUENCE, body.len() as u8];
        cert.extend(body);
        cert
    }

    #[test]
    fn signature_hashes() {
        let rsa = |last: u8| {
            cert_with(
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, last],
                &[0x05, 0x00],
            )
        };
        assert_eq!(signature_hash(&rsa(11)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&rsa(5)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&rsa(12)), Some(Hash::Sha384));
        assert_eq!(signature_hash(&rsa(13)), Some(Hash::Sha512));
        let ec = |last: u8| cert_with(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, last], &[]);
        assert_eq!(signature_hash(&ec(2)), Some(Hash::Sha256));
        assert_eq!(signature_hash(&ec(3)), Some(Hash::Sha384));
        // Ed25519 has no separate hash.
        assert_eq!(signature_hash(&cert_with(&[0x2b, 0x65, 0x70], &[])), None);
        // PSS with SHA-384 in its parameters; PSS with the default (SHA-1).
        let sha384 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
        let mut inner = vec![SEQUENCE, (sha384.len() + 2) as u8, OID, sha384.len() as u8];
        inner.extend_from_slice(&sha384);
        let mut tagged = vec![0xa0, inner.len() as u8];
        tagged.extend(inner);
        let mut params = vec![SEQUENCE, tagged.len() as u8];
        params.extend(tagged);
        assert_eq!(signature_hash(&rsa_pss(&params)), Some(Hash::Sha384));
        assert_eq!(signature_hash(&rsa_pss(&[SEQUENCE, 0])), Some(Hash::Sha256));
        // Garbage never panics.
        for cut in 0..rsa(11).len() {
            let _ = signature_hash(&rsa(11)[..cut]);
        }
        assert_eq!(signature_hash(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    fn rsa_pss(params: &[u8]) -> Vec<u8> {
        cert_with(
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 10],
            params,
        )
    }
}
