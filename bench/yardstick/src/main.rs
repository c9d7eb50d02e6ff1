//! The capacity yardstick (issue 16, docs/CAPACITY.md): the least CPU a fan-out write pattern
//! can cost on this machine.
//!
//! It does what a fan-out server's writing does and nothing else: N loopback TCP connections,
//! and W times a second one vectored write of B bytes (in K pieces, from one shared buffer) to
//! each of them, from one thread pinned to one CPU; a second thread on another CPU reads and
//! discards everything. The sender thread's CPU time (`RUSAGE_THREAD`) is then the kernel's part
//! of that pattern plus a loop that does nothing else: what a server spends beyond it, for the
//! same writes, is its own overhead.
//!
//! ```text
//! yardstick --sockets 1000 --writes-per-sec 25 --bytes 10150 --iovecs 4 --duration 10
//! ```
//! prints one JSON object: sender CPU % of one core, writes, bytes, short writes.
//!
//! `--mode uring` makes the same writes through io_uring (the `io-uring` crate): each tick
//! queues one `IORING_OP_WRITEV` per socket and submits them with one `io_uring_enter` per
//! ring-full, instead of one `writev` system call per socket. Work the kernel hands to its
//! io-wq threads would not show in the sender thread's time, so `process_cpu_percent` (all
//! threads but the reader's) is printed too.

use std::io::{IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

struct Args {
    sockets: usize,
    writes_per_sec: f64,
    bytes: usize,
    iovecs: usize,
    duration: f64,
    sender_cpu: usize,
    reader_cpu: usize,
    sndbuf: Option<usize>,
    uring: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        sockets: 1000,
        writes_per_sec: 25.0,
        bytes: 10_000,
        iovecs: 4,
        duration: 10.0,
        sender_cpu: 0,
        reader_cpu: 1,
        sndbuf: None,
        uring: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--sockets" => a.sockets = v.parse().map_err(bad)?,
            "--bytes" => a.bytes = v.parse().map_err(bad)?,
            "--iovecs" => a.iovecs = v.parse::<usize>().map_err(bad)?.max(1),
            "--sender-cpu" => a.sender_cpu = v.parse().map_err(bad)?,
            "--reader-cpu" => a.reader_cpu = v.parse().map_err(bad)?,
            "--sndbuf" => a.sndbuf = Some(v.parse().map_err(bad)?),
            "--mode" => {
                a.uring = match v.as_str() {
                    "writev" => false,
                    "uring" => true,
                    _ => return Err(format!("--mode {v}: writev or uring")),
                }
            }
            "--writes-per-sec" => {
                a.writes_per_sec = v.parse().map_err(|e| format!("{flag}: {e}"))?
            }
            "--duration" => a.duration = v.parse().map_err(|e| format!("{flag}: {e}"))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.writes_per_sec <= 0.0 || a.duration <= 0.0 || a.sockets == 0 {
        return Err("--sockets, --writes-per-sec and --duration must be positive".into());
    }
    Ok(a)
}

/// Pin the calling thread to one CPU.
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity only read
    // and write that local set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// CPU time of this process's threads (`/proc/self/task/*/stat`, user + system), and of the
/// thread `except` alone, in clock ticks.
fn task_ticks(except: Option<i32>) -> (u64, u64) {
    let (mut all, mut that) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for e in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let t = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        all += t;
        if e.file_name().to_str().and_then(|n| n.parse().ok()) == except {
            that += t;
        }
    }
    (all, that)
}

/// The reader: drain every socket with epoll until the sender closes them all.
fn read_all(
    mut socks: Vec<TcpStream>,
    cpu: usize,
    tid: std::sync::mpsc::Sender<i32>,
) -> std::io::Result<u64> {
    pin(cpu);
    // SAFETY: gettid has no arguments and cannot fail.
    let _ = tid.send(unsafe { libc::gettid() });
    // SAFETY: plain epoll calls on descriptors owned by `socks`, which outlive the loop.
    let ep = unsafe { libc::epoll_create1(0) };
    for (i, s) in socks.iter().enumerate() {
        s.set_nonblocking(true)?;
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let (mut open, mut total) = (socks.len(), 0u64);
    while open > 0 {
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 1000) };
        for ev in &events[..n.max(0) as usize] {
            let s = &mut socks[ev.u64 as usize];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => {
                        open -= 1;
                        unsafe {
                            libc::epoll_ctl(
                                ep,
                                libc::EPOLL_CTL_DEL,
                                s.as_raw_fd(),
                                std::ptr::null_mut(),
                            )
                        };
                        break;
                    }
                    Ok(k) => total += k as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    unsafe { libc::close(ep) };
    Ok(total)
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("yardstick: {e}");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (mut senders, mut readers) = (Vec::new(), Vec::new());
    for _ in 0..a.sockets {
        readers.push(TcpStream::connect(addr).expect("connect"));
        let (s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        if let Some(n) = a.sndbuf {
            let v = n as libc::c_int;
            // SAFETY: setsockopt reads `v` for its size.
            unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&v as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
        }
        s.set_nonblocking(true).expect("nonblocking");
        senders.push(s);
    }
    let cpu = a.reader_cpu;
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || read_all(readers, cpu, tid_tx));
    let reader_tid = tid_rx.recv().ok();
    pin(a.sender_cpu);
    let mut ring = a
        .uring
        .then(|| io_uring::IoUring::new(4096).expect("io_uring_setup"));
    let mut submits = 0u64;

    let payload = vec![0x5Au8; a.bytes];
    let piece = a.bytes.div_ceil(a.iovecs).max(1);
    let iov: Vec<IoSlice<'_>> = payload.chunks(piece).map(IoSlice::new).collect();
    // The same array as raw iovecs for io_uring; it outlives every queued write.
    let raw_iov: Vec<libc::iovec> = payload
        .chunks(piece)
        .map(|c| libc::iovec {
            iov_base: c.as_ptr() as *mut libc::c_void,
            iov_len: c.len(),
        })
        .collect();
    let tick = Duration::from_secs_f64(1.0 / a.writes_per_sec);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.duration);
    // Measure the middle third, as bench/lib.sh does for servers.
    let (m0, m1) = (start + (end - start) / 3, start + (end - start) * 2 / 3);
    let (mut c0, mut c1, mut t0, mut t1) = (None, None, start, start);
    let (mut p0, mut p1) = ((0, 0), (0, 0));
    let (mut writes, mut bytes, mut short) = (0u64, 0u64, 0u64);
    let mut next = start;
    while next < end {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        let now = Instant::now();
        if c0.is_none() && now >= m0 {
            (c0, t0, p0) = (Some(thread_cpu()), now, task_ticks(reader_tid));
        }
        if c1.is_none() && now >= m1 {
            (c1, t1, p1) = (Some(thread_cpu()), now, task_ticks(reader_tid));
        }
        if let Some(ring) = ring.as_mut() {
            let cap = ring.params().sq_entries() as usize;
            for batch in senders.chunks(cap) {
                for (i, s) in batch.iter().enumerate() {
                    let e = io_uring::opcode::Writev::new(
                        io_uring::types::Fd(s.as_raw_fd()),
                        raw_iov.as_ptr(),
                        raw_iov.len() as u32,
                    )
                    .build()
                    .user_data(i as u64);
                    // SAFETY: the descriptor and the iovec array (and the payload it points
                    // into) stay alive until every completion of this batch is reaped below.
                    unsafe { ring.submission().push(&e).expect("room in the ring") };
                }
                ring.submit_and_wait(batch.len()).expect("io_uring_enter");
                submits += 1;
                for cqe in ring.completion() {
                    match cqe.result() {
                        n if n >= 0 => {
                            writes += 1;
                            bytes += n as u64;
                            if (n as usize) < a.bytes {
                                short += 1;
                            }
                        }
                        e if e == -libc::EAGAIN => short += 1,
                        e => panic!("write: errno {}", -e),
                    }
                }
            }
            next += tick;
            continue;
        }
        for s in senders.iter_mut() {
            match s.write_vectored(&iov) {
                Ok(n) => {
                    writes += 1;
                    bytes += n as u64;
                    if n < a.bytes {
                        short += 1;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => short += 1,
                Err(e) => panic!("write: {e}"),
            }
        }
        next += tick;
    }
    let cpu = match (c0, c1) {
        (Some(c0), Some(c1)) if t1 > t0 => {
            (c1 - c0).as_secs_f64() / (t1 - t0).as_secs_f64() * 100.0
        }
        _ => f64::NAN,
    };
    // SAFETY: sysconf has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let secs = (t1 - t0).as_secs_f64().max(1e-9);
    let process_cpu = ((p1.0 - p0.0) - (p1.1 - p0.1)) as f64 / hz / secs * 100.0;
    drop(senders);
    let read = reader.join().expect("reader").expect("read");
    println!(
        "{{\"mode\":\"{}\",\"sockets\":{},\"writes_per_sec\":{},\"bytes_per_write\":{},\"iovecs\":{},\"sender_cpu_percent\":{:.2},\"process_cpu_percent\":{:.2},\"submits\":{},\"writes\":{},\"bytes\":{},\"short_writes\":{},\"read\":{}}}",
        if a.uring { "uring" } else { "writev" },
        a.sockets, a.writes_per_sec, a.bytes, a.iovecs, cpu, process_cpu, submits, writes, bytes, short, read
    );
}
