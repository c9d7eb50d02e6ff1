//! A real `redis-server` (and Sentinel) for the cluster's unit tests: started on a free loopback
//! port, killed on drop; a missing binary fails the test loudly.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` on a free loopback port, killed on drop. Panics when the binary is
/// missing (the test needs the real server).
pub(crate) struct RedisServer {
    child: Child,
    /// Its port.
    pub port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl RedisServer {
    /// Start a Redis server (no persistence).
    pub(crate) fn start() -> RedisServer {
        Self::spawn(&[], None)
    }

    /// Start a Sentinel monitoring `master` (on `master_port`) under the name `name`.
    pub(crate) fn sentinel(name: &str, master_port: u16) -> RedisServer {
        let conf = format!("sentinel monitor {name} 127.0.0.1 {master_port} 1\n");
        Self::spawn(&["--sentinel"], Some(conf))
    }

    fn spawn(extra: &[&str], conf: Option<String>) -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("sluice-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Self::launch(port, &dir, extra, conf);
        RedisServer { child, port, dir }
    }

    /// Kill the server (`kill -9`).
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kill the server and start an empty one on the same port.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.child = Self::launch(self.port, &self.dir, &[], None);
    }

    fn launch(port: u16, dir: &std::path::Path, extra: &[&str], conf: Option<String>) -> Child {
        let mut cmd = Command::new("redis-server");
        if let Some(text) = conf {
            // Sentinel rewrites its configuration file: it must be writable.
            let f = dir.join("sentinel.conf");
            std::fs::write(&f, text).unwrap();
            cmd.arg(&f);
        }
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        cmd.arg("--dir").arg(dir).args(extra);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (Debian package redis-server)");
        wait_port(port);
        child
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `INFO commandstats` of the server, as (command, calls).
    pub(crate) fn command_calls(&self) -> Vec<(String, u64)> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "INFO", "commandstats"])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("cmdstat_")?;
                let (name, stats) = rest.split_once(':')?;
                let calls = stats
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
