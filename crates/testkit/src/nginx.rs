//! A throw-away nginx-rtmp server, the reference RTMP peer for relay tests.
//!
//! Uses Debian's `nginx` with the dynamic module from `libnginx-mod-rtmp`
//! (nginx-rtmp-module 1.2.2). Each instance gets a temporary prefix directory
//! holding its config, pid file and error log, listens on a free loopback
//! port, runs in the foreground as a single process (`daemon off;
//! master_process off;`) owned by a [`ChildGuard`], and is killed on drop.
//! The config has one application, `live` (`live on; record off;`), plus
//! whatever server directives the caller adds.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::net::{free_port, wait_for_port};
use crate::process::{spawn, ChildGuard, LOG_TAIL_ON_PANIC};
use crate::tools::tool;

/// Where Debian's `libnginx-mod-rtmp` installs the module.
pub const NGINX_RTMP_MODULE: &str = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/// How long nginx may take to start listening.
pub const NGINX_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many free ports to try if another process takes the chosen one.
const START_ATTEMPTS: usize = 3;

/// A running nginx-rtmp server on `127.0.0.1:port()`.
#[derive(Debug)]
pub struct NginxRtmp {
    // Field order matters: the process dies before its directory goes.
    guard: ChildGuard,
    port: u16,
    dir: tempfile::TempDir,
}

impl NginxRtmp {
    /// Starts nginx-rtmp with the `live` application and chunk size 4096.
    ///
    /// # Panics
    /// If nginx or the rtmp module is missing, or nginx does not start
    /// listening within [`NGINX_START_TIMEOUT`] (message holds its error log).
    pub fn start() -> NginxRtmp {
        NginxRtmp::start_with("")
    }

    /// Like [`NginxRtmp::start`], with `server_directives` added inside the
    /// `rtmp { server { ... } }` block (e.g. another `application` block).
    ///
    /// # Panics
    /// As [`NginxRtmp::start`].
    pub fn start_with(server_directives: &str) -> NginxRtmp {
        let nginx = tool("nginx");
        if !Path::new(NGINX_RTMP_MODULE).is_file() {
            panic!("peer tool nginx-rtmp module {NGINX_RTMP_MODULE} is missing (libnginx-mod-rtmp): run scripts/install-deps.sh");
        }
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("sluice-nginx-")
                .tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temp dir for nginx: {e}"));
            let port = free_port();
            let conf = config(dir.path(), port, server_directives);
            let conf_path = dir.path().join("nginx.conf");
            fs::write(&conf_path, conf)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", conf_path.display()));
            let mut cmd = Command::new(&nginx);
            cmd.arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(dir.path().join("error.log"));
            let mut guard = spawn(cmd);
            if wait_for_port(port, NGINX_START_TIMEOUT) && guard.is_running() {
                return NginxRtmp { guard, port, dir };
            }
            guard.kill();
            last_log = format!(
                "{}\n{}",
                guard.log_tail(LOG_TAIL_ON_PANIC),
                fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
        }
        panic!(
            "nginx-rtmp did not start listening after {START_ATTEMPTS} attempts; log:\n{last_log}"
        )
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtmp://127.0.0.1:PORT/app/stream`.
    pub fn url(&self, app: &str, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{app}/{stream}", self.port)
    }

    /// The instance's prefix directory (config, pid file, error log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of nginx's error log (level `info`: one line per RTMP connect,
    /// publish and play).
    pub fn error_log_path(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.error_log_path()).unwrap_or_default()
    }

    /// The process guard (e.g. to check it is still running).
    pub fn guard_mut(&mut self) -> &mut ChildGuard {
        &mut self.guard
    }
}

impl Drop for NginxRtmp {
    fn drop(&mut self) {
        self.guard.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- nginx-rtmp error log (port {}) ----\n{}\n---- end of nginx log ----",
                self.port,
                self.error_log()
            );
        }
    }
}

fn config(dir: &Path, port: u16, server_directives: &str) -> String {
    let d = dir.display();
    let mut c = String::new();
    // `write!` into a String cannot fail.
    let _ = write!(
        c,
        "load_module {NGINX_RTMP_MODULE};\n\
         daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         error_log {d}/error.log info;\n\
         pid {d}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         rtmp {{\n\
         \x20   server {{\n\
         \x20       listen 127.0.0.1:{port};\n\
         \x20       chunk_size 4096;\n\
         \x20       application live {{\n\
         \x20           live on;\n\
         \x20           record off;\n\
         \x20       }}\n\
         {server_directives}\n\
         \x20   }}\n\
         }}\n"
    );
    c
}
