//! A test certificate authority (rcgen) and certificates for 127.0.0.1, written as PEM
//! files for the gateway, sipp and baresip.

use std::path::PathBuf;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::tempdir::Dir;

/// PEM files: `ca.pem`, and a server certificate for 127.0.0.1 (`cert.pem`, `key.pem`,
/// and `both.pem` with certificate and key together, as baresip wants them).
pub struct TestPki {
    pub dir: Dir,
}

impl TestPki {
    /// A fresh CA and a certificate it signed for 127.0.0.1 and localhost.
    pub fn new() -> Self {
        let dir = Dir::new("pki");
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "PhantomCall test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.0.join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.0.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.0.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(dir.0.join("both.pem"), cert.pem() + &key.serialize_pem()).unwrap();
        TestPki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }

    /// The trunk keys for a TLS trunk using these files, trusting this CA.
    pub fn trunk_keys(&self) -> String {
        format!(
            "transport = \"tls\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\ntls_ca_file = \"{}\"\n",
            self.path("cert.pem").display(),
            self.path("key.pem").display(),
            self.path("ca.pem").display(),
        )
    }
}
