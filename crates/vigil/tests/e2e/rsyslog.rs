//! A real rsyslogd as the SIEM receiver: a throwaway foreground process with its own
//! configuration on loopback ports, one input per destination (UDP, TCP with octet counting,
//! TLS with certificates made here), each writing the raw messages it receives to its own
//! file.

use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::harness::free_port;

/// The inputs: name, transport.
pub const INPUTS: &[(&str, &str)] = &[
    ("udp-rfc5424", "udp"),
    ("udp-cef", "udp"),
    ("tcp-rfc5424", "tcp"),
    ("tcp-cef", "tcp"),
    ("tls-rfc5424", "tls"),
    ("tls-cef", "tls"),
];

pub struct Rsyslog {
    pub dir: PathBuf,
    conf: PathBuf,
    pub ca_file: PathBuf,
    /// Port of each input, in `INPUTS` order.
    pub ports: Vec<u16>,
    /// A TLS input that accepts only clients with a certificate from the CA (`mtls.log`).
    pub mtls_port: u16,
    child: Option<Child>,
}

fn write_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Vigil e2e test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    server
        .distinguished_name
        .push(DnType::CommonName, "rsyslog e2e");
    let server_key = KeyPair::generate().unwrap();
    let server = server.signed_by(&server_key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("srv.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("srv.key"), server_key.serialize_pem()).unwrap();
    // A client certificate from the same CA, for the mutual-TLS input.
    let mut client = CertificateParams::new(vec!["vigil-node".to_owned()]).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "vigil-node");
    let client_key = KeyPair::generate().unwrap();
    let client = client.signed_by(&client_key, &ca).unwrap();
    std::fs::write(dir.join("client.pem"), client.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
}

impl Rsyslog {
    pub fn start(dir: &Path) -> Rsyslog {
        let dir = dir.join("rsyslog");
        std::fs::create_dir_all(dir.join("work")).unwrap();
        write_certificates(&dir);
        let ports: Vec<u16> = INPUTS.iter().map(|_| free_port()).collect();
        let d = dir.display();
        let mut conf = format!(
            "global(workDirectory=\"{d}/work\" maxMessageSize=\"64k\"\n\
             defaultNetstreamDriverCAFile=\"{d}/ca.pem\"\n\
             defaultNetstreamDriverCertFile=\"{d}/srv.pem\"\n\
             defaultNetstreamDriverKeyFile=\"{d}/srv.key\")\n\
             module(load=\"imudp\")\n\
             module(load=\"imtcp\" maxSessions=\"100\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n"
        );
        for ((name, transport), port) in INPUTS.iter().zip(&ports) {
            conf.push_str(&format!(
                "ruleset(name=\"{name}\") {{ action(type=\"omfile\" file=\"{d}/{name}.log\" template=\"raw\") }}\n"
            ));
            conf.push_str(&match *transport {
                "udp" => format!(
                    "input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"{name}\")\n"
                ),
                "tcp" => format!(
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"{name}\")\n"
                ),
                _ => format!(
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\" ruleset=\"{name}\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")\n"
                ),
            });
        }
        let mtls_port = free_port();
        conf.push_str(&format!(
            "ruleset(name=\"mtls\") {{ action(type=\"omfile\" file=\"{d}/mtls.log\" template=\"raw\") }}\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{mtls_port}\" ruleset=\"mtls\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"x509/certvalid\")\n"
        ));
        let conf_path = dir.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let check = Command::new("rsyslogd")
            .args(["-N1", "-f"])
            .arg(&conf_path)
            .output()
            .expect("rsyslogd (Debian's rsyslog package; scripts/test installs it)");
        assert!(
            check.status.success(),
            "rsyslogd -N1: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let mut r = Rsyslog {
            ca_file: dir.join("ca.pem"),
            dir,
            conf: conf_path,
            ports,
            mtls_port,
            child: None,
        };
        r.spawn();
        r
    }

    pub fn spawn(&mut self) {
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdout(std::fs::File::create(self.dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(self.dir.join("stderr")).unwrap())
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        // Ready when every TCP input accepts; UDP when a probe arrives.
        let deadline = Instant::now() + Duration::from_secs(20);
        for ((name, transport), port) in INPUTS.iter().zip(&self.ports) {
            loop {
                assert!(Instant::now() < deadline, "rsyslogd did not open {name}");
                let up = match *transport {
                    "udp" => {
                        let probe = format!("<14>1 - - probe - - - ready-{port}");
                        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                        let _ = s.send_to(probe.as_bytes(), ("127.0.0.1", *port));
                        std::thread::sleep(Duration::from_millis(100));
                        std::fs::read_to_string(self.dir.join(format!("{name}.log")))
                            .unwrap_or_default()
                            .contains(&format!("ready-{port}"))
                    }
                    _ => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
                };
                if up {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Stops rsyslogd (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Every message an input wrote, probes left out.
    pub fn lines(&self, input: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(format!("{input}.log")))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.contains(" probe - - - ready-"))
            .map(str::to_owned)
            .collect()
    }

    /// The vigil.toml tables sending to every input, in its own format.
    pub fn siem_tables(&self, extra: &str) -> String {
        let mut out = String::new();
        for ((name, transport), port) in INPUTS.iter().zip(&self.ports) {
            let format = name.rsplit('-').next().unwrap();
            out.push_str(&format!(
                "[[siem]]\nurl = \"{transport}://127.0.0.1:{port}\"\nformat = \"{format}\"\n{extra}"
            ));
            if *transport == "tls" {
                out.push_str(&format!("ca_file = \"{}\"\n", self.ca_file.display()));
            }
        }
        out
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}
