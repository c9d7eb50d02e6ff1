//! The one socket option Sluice sets that no dependency wraps safely: `SO_RCVLOWAT`, the receive
//! low watermark (socket(7)). This is the only `unsafe` code in the workspace: every other crate
//! forbids it, and this crate denies it everywhere but here.
//!
//! Why it is needed: tokio registers every socket with epoll edge-triggered, so each TCP segment a
//! publisher sends wakes the reactor, even while the connection's task has decided not to read
//! yet (see `unwatched_read_ms` in [`crate::config`]). With a low watermark the kernel signals the
//! socket readable only once that many bytes are waiting (or the peer closed), so a publisher
//! that nobody watches costs no wake-ups between its reads. Measured in `docs/PERFORMANCE.md`
//! (200 publishers: reactor wake-ups ~7 800/s -> ~70/s).
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

/// Set `SO_RCVLOWAT` on a socket: it reads as readable (poll/epoll) only once `bytes` are
/// buffered, or at end of stream. 1 is the default (readable as soon as anything arrived). The
/// kernel caps the value at half the receive buffer. A non-blocking read still returns whatever is
/// there, whatever the watermark.
pub(crate) fn set_recv_low_watermark(sock: &impl AsRawFd, bytes: u32) -> std::io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .unwrap_or(libc::socklen_t::MAX);
    // SAFETY: `sock` is an open socket borrowed for the duration of the call; `value` lives on the
    // stack for the whole call and `len` is exactly its size, as setsockopt(2) requires.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    async fn pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    /// Stream `n` bytes through so the receiver's TCP window opens: while the window is within one
    /// MSS of full (loopback's MSS is ~64 KiB, and a fresh connection starts there) Linux signals
    /// readable whatever the watermark, so that a sender cannot stall.
    async fn warm_up(tx: &mut tokio::net::TcpStream, rx: &tokio::net::TcpStream, n: usize) {
        let chunk = vec![0u8; 64 * 1024];
        let mut buf = vec![0u8; 256 * 1024];
        let (mut sent, mut got) = (0, 0);
        while got < n {
            if sent < n {
                sent += tx.write(&chunk).await.unwrap();
            }
            if let Ok(k) = rx.try_read(&mut buf) {
                got += k;
            } else {
                rx.readable().await.unwrap();
            }
        }
        // Read until the socket says it is empty, which also clears tokio's readiness.
        while rx.try_read(&mut buf).is_ok() {}
    }

    #[tokio::test]
    async fn watermark_holds_readiness_until_enough_bytes_or_lowered() {
        let (mut tx, rx) = pair().await;
        warm_up(&mut tx, &rx, 8 << 20).await;
        set_recv_low_watermark(&rx, 64 * 1024).unwrap();
        tx.write_all(&[7u8; 100]).await.unwrap();
        // 100 bytes are buffered but below the watermark: not readable.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), rx.readable())
                .await
                .is_err()
        );
        // Lowering it signals what is already buffered at once (Linux: tcp_set_rcvlowat), with
        // nothing more arriving: a publisher that went quiet is still read.
        set_recv_low_watermark(&rx, 1).unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.readable())
            .await
            .expect("readable once the watermark is back to 1")
            .unwrap();
        let mut buf = [0u8; 256];
        assert_eq!(rx.try_read(&mut buf).ok(), Some(100));
        assert_eq!(buf[..100], [7u8; 100]);
    }

    #[tokio::test]
    async fn watermark_does_not_hide_end_of_stream() {
        let (tx, rx) = pair().await;
        set_recv_low_watermark(&rx, 64 * 1024).unwrap();
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), rx.readable())
            .await
            .expect("a closed peer reads as readable")
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(rx.try_read(&mut buf).ok(), Some(0));
    }
}
